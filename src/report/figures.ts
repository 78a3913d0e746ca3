/** Which figures a report holds: every chart whose data is present, in reading order. */
import type { TopLevelSpec } from 'vega-lite';
import { KvoptError } from '../util/errors.ts';
import type { ReportData } from './types.ts';
import { renderSvg } from './render.ts';
import { checkEvalRows, checkNeedleCells, checkSearchRows } from './validate.ts';
import { searchProgressSpec } from './charts/search.ts';
import { budgetProfileSpec, headAllocationSpec } from './charts/budget.ts';
import { qualityLossSpec, qualityVsBudgetSpec } from './charts/eval.ts';
import { needleHeatmapSpec } from './charts/needle.ts';
import { memorySpec } from './charts/memory.ts';

export type FigureId = 'search-progress' | 'budget-profile' | 'head-allocation' | 'eval-quality' | 'eval-loss' | 'needle' | 'memory';

export interface FigureSpec {
  id: FigureId; // also the file name: <id>.svg, <id>.png
  title: string;
  caption: string;
  spec: TopLevelSpec;
}

export interface RenderedFigure extends FigureSpec {
  svg: string;
}

export interface FigurePlan {
  figures: FigureSpec[];
  /** The data's own notes, then why a figure the data suggests was left out (shown in the report, never silently dropped). */
  notes: string[];
}

export function planFigures(data: ReportData): FigurePlan {
  const figures: FigureSpec[] = [];
  const notes: string[] = [...(data.notes ?? [])];
  const fullMethod = data.fullMethod ?? 'full';
  // Bad data fails the whole report; only a figure the data cannot make (no full cache, ...) becomes a note.
  if (data.evalRows) checkEvalRows(data.evalRows);
  if (data.searchGenerations) checkSearchRows(data.searchGenerations);
  if (data.needle) checkNeedleCells(data.needle);
  const add = (id: FigureId, title: string, caption: string, make: () => TopLevelSpec) => {
    try {
      figures.push({ id, title, caption, spec: make() });
    } catch (e) {
      if (!(e instanceof KvoptError)) throw e;
      notes.push(`${title}: ${e.message.replace(/^report: /, '')}`);
    }
  };
  // The budget profile follows the search that found it; without a search it comes with the allocation detail.
  const addBudgetProfile = () => {
    const p = data.profile;
    if (!p) return;
    add(
      'budget-profile',
      'Budget profile',
      `Per-layer budgets (tokens per KV head, window included) against the uniform schedule${p.pyramid ? ' and the PyramidKV schedule' : ''} at the same mean.`,
      () => budgetProfileSpec(p),
    );
  };
  // One colour per method for the whole report: every method of the results, in table order.
  const methodOrder = [...new Set((data.evalRows ?? []).map((r) => r.method).filter((m) => m !== fullMethod))];
  // Reading order: what was searched, then results (quality, loss), the needle grid, then memory and allocation detail.
  if (data.searchGenerations?.length) {
    add(
      'search-progress',
      'Search progress',
      "Top: best and median fitness of each generation on the calibration set (the fitness includes the cache bonus). Bottom, on its own axis: the held-out task score of each generation's best. Dotted rules mark where the next layer group starts.",
      () => searchProgressSpec(data.searchGenerations!),
    );
  }
  if (data.searchGenerations?.length) addBudgetProfile();
  if (data.evalRows?.length) {
    const rows = data.evalRows;
    const bars = rows.some((r) => r.scoreLo !== undefined && r.scoreLo !== null) ? ' Bars: 95% bootstrap intervals over samples.' : '';
    add(
      'eval-quality',
      'Quality vs budget',
      `Score of each method against the budget (log scale when budgets span a factor of 4 or more); the dashed rule is the full cache. Methods are offset slightly along x so identical results stay visible.${bars}`,
      () => qualityVsBudgetSpec(rows, { fullMethod, methodOrder }),
    );
    add(
      'eval-loss',
      'Quality loss',
      `Quality loss 1 − score/score(full cache) per method (colour) and task (shade, in legend order) at one budget, with the average over tasks.${bars}`,
      () => qualityLossSpec(rows, data.lossBudgetLabel, { fullMethod, methodOrder }),
    );
  }
  if (data.needle?.length) {
    add('needle', 'Needle in a haystack', 'Retrieval score by context length and needle depth (0% = start of the context), one panel per method.', () =>
      needleHeatmapSpec(data.needle!),
    );
  }
  if (data.evalRows?.length) {
    const rows = data.evalRows;
    add(
      'memory',
      'KV cache memory',
      'Logical bytes (entries kept × bytes per entry at full precision; light) and physical bytes held (padding and quantisation included; solid) per method in its colour, mean over tasks; the dashed rule is the full cache.',
      () => memorySpec(rows, { bytesPerEntry: data.bytesPerEntry, fullMethod, methodOrder }),
    );
  }
  if (!data.searchGenerations?.length) addBudgetProfile();
  if (data.profile?.headBudgets) {
    const heads = data.profile.headBudgets;
    add('head-allocation', 'Per-head allocation', 'Tokens kept per KV head and layer by the head-wise allocator.', () => headAllocationSpec(heads));
  }
  return { figures, notes };
}

/** Renders the planned figures to SVG one after another (vega is single-threaded; parallel buys nothing). */
export async function renderFigures(data: ReportData): Promise<{ figures: RenderedFigure[]; notes: string[] }> {
  const plan = planFigures(data);
  const figures: RenderedFigure[] = [];
  for (const f of plan.figures) figures.push({ ...f, svg: await renderSvg(f.spec) });
  return { figures, notes: plan.notes };
}
