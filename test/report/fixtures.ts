/**
 * Realistic report inputs, shaped like a small evaluation of stories260K-size models: 3 methods × 3 budgets
 * × 2 tasks plus the full cache, an EvolKV search over 2 layer groups, a 5-layer profile with 4 KV heads,
 * and a needle grid. Memory figures follow from the model: 5 layers × 4 KV heads, head_dim 8, fp32, so one
 * entry (K and V of one token of one head) is 2 × 8 × 4 = 64 bytes.
 */
import type { BudgetProfileInput, EvalResultRow, NeedleCell, ReportData, RunSummary, SearchGenerationRow } from '../../src/report/types.ts';

export const BYTES_PER_ENTRY = 64;
const LAYERS = 5;
const KV_HEADS = 4;
const CONTEXT = 384; // tokens per sample

export const TASKS = ['continuation', 'needle_qa'];
export const METHODS = ['snapkv', 'adakv_snapkv', 'streaming'];
export const BUDGETS = [32, 64, 128];

const FULL_SCORE: Record<string, number> = { continuation: 0.82, needle_qa: 0.64 };
// Fraction of the full score kept by each method at each budget (plausible: more budget, less loss).
const KEPT: Record<string, number[]> = { snapkv: [0.78, 0.9, 0.97], adakv_snapkv: [0.83, 0.93, 0.985], streaming: [0.55, 0.7, 0.86] };

function entries(budget: number): number {
  return budget * LAYERS * KV_HEADS;
}

export function evalRows(): EvalResultRow[] {
  const rows: EvalResultRow[] = [];
  const fullBytes = entries(CONTEXT) * BYTES_PER_ENTRY;
  for (const task of TASKS) {
    const fullScore = FULL_SCORE[task];
    rows.push({
      task,
      method: 'full',
      budget: CONTEXT,
      budgetLabel: 'full',
      score: fullScore,
      fullScore,
      qualityLoss: 0,
      n: 20,
      kvEntries: entries(CONTEXT),
      kvBytes: fullBytes,
      kvBytesFull: fullBytes,
    });
    for (const method of METHODS) {
      BUDGETS.forEach((budget, i) => {
        const score = fullScore * KEPT[method][i] * (task === 'needle_qa' ? 0.97 : 1);
        // AdaKV pads every head to the layer's longest head: ~30% more physical bytes than logical.
        const padding = method === 'adakv_snapkv' ? 1.3 : 1;
        rows.push({
          task,
          method,
          budget,
          budgetLabel: String(budget),
          score,
          fullScore,
          qualityLoss: 1 - score / fullScore,
          n: 20,
          kvEntries: entries(budget),
          kvBytes: entries(budget) * BYTES_PER_ENTRY * padding,
          kvBytesFull: fullBytes,
        });
      });
    }
  }
  return rows;
}

export function searchRows(): SearchGenerationRow[] {
  const rows: SearchGenerationRow[] = [];
  for (const group of [0, 1]) {
    for (let generation = 0; generation < 6; generation++) {
      const best = 0.6 + 0.05 * group + 0.04 * Math.log1p(generation);
      rows.push({ group, generation, best, median: best - 0.06 + 0.005 * generation, heldoutBest: generation % 3 === 2 ? null : best - 0.07 });
    }
  }
  return rows;
}

export function profile(): BudgetProfileInput {
  return {
    layerBudgets: [52, 41, 30, 22, 15],
    target: 32,
    pyramid: [48, 40, 32, 24, 16],
    headBudgets: [
      [70, 52, 46, 40],
      [50, 44, 40, 30],
      [40, 32, 28, 20],
      [30, 24, 20, 14],
      [22, 16, 12, 10],
    ],
    label: 'evolkv',
  };
}

export function needleCells(): NeedleCell[] {
  const cells: NeedleCell[] = [];
  for (const method of ['full', 'snapkv', 'streaming']) {
    for (const contextLength of [128, 256, 384, 512]) {
      for (const depth of [0, 0.25, 0.5, 0.75, 1]) {
        const score =
          method === 'full' ? 1 : method === 'snapkv' ? (contextLength > 256 && depth === 0.5 ? 0.6 : 1) : depth >= 0.75 ? 1 : contextLength <= 128 ? 1 : 0;
        cells.push({ method, contextLength, depth, score });
      }
    }
  }
  return cells;
}

export function runSummary(): RunSummary {
  return {
    id: 12,
    kind: 'search',
    name: 'needle_snapkv <search>',
    status: 'complete',
    configHash: '9f2c4e71ab03d5e6f7a8',
    bestFitness: 0.6717,
    startedAt: '2026-11-29T10:02:03.000Z',
    finishedAt: '2026-11-29T11:15:40.000Z',
    durationS: 4417,
  };
}

export function reportData(): ReportData {
  return {
    title: 'stories260K: snapkv search & eval',
    run: runSummary(),
    meta: { model: 'stories260K', setting: 'question-agnostic', budget: 'tokens per KV head per layer, window included' },
    evalRows: evalRows(),
    searchGenerations: searchRows(),
    profile: profile(),
    needle: needleCells(),
    lossBudgetLabel: '32',
    bytesPerEntry: BYTES_PER_ENTRY,
  };
}
