/**
 * `kvopt bench engine`: the candidate loop measured side by side in one run, as ratios (figures from a shared
 * machine are only comparable within a run):
 * - prefill of the context (and the budget-independent work done once per prefill: value-output norms);
 * - per method: items (one per budget) evaluated from that one record, per item split into compress / decode /
 *   metrics / overhead, and the prefill-once ratio (prefill + item) / item: how much cheaper an item is when
 *   the prefill is reused than when it is redone;
 * - the candidate loop of a search generation (EvolKV-like per-layer budgets, SnapKV): continuation scoring and
 *   greedy generation, batch 1 against batch B, per candidate;
 * - prefill throughput at 1,024 tokens against the machine's fp32 GEMM rate measured by onnxruntime in the same
 *   run (a [1024, D] × [D, I] MatMul on the same threads).
 * Timed prefills and every method's items alternate in `repeats` rounds and the medians are reported, so a drift
 * of the machine's speed does not favour one of them. Every phase is measured warm: run once untimed at its shapes
 * first, as a search's worker runs it after its first sample. The continuation path of evaluateItems is used: it
 * needs no task, tokenizer or sample text.
 */
import * as ort from 'onnxruntime-node';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { GraphBuilder } from '../graph/builder.ts';
import { DataType } from '../graph/onnx-proto.ts';
import { IR_VERSION, OPSET } from '../graph/llama.ts';
import { parameterCount, type LoadedModel, type ModelSpec } from '../model/spec.ts';
import { ModelRuntime } from '../runtime/runtime.ts';
import type { PrefillRecord } from '../runtime/types.ts';
import type { Sample, TaskDefinition } from '../tasks/types.ts';
import { mulberry32 } from '../util/mulberry32.ts';
import { compressPrefill, methodNeedsValueNorms, parseMethod, type MethodSpec, type UniformBudget } from '../compress/index.ts';
import {
  continuationReference,
  ensureValueNormsFor,
  evaluateItems,
  resolveLayerBudgets,
  type EvalItem,
  type ItemResult,
  type SamplePrompt,
} from './evaluate.ts';

export interface EngineBenchOptions {
  context: number;
  answer: number;
  /** As written (the report's label) and resolved once. */
  methods: { written: string; spec: MethodSpec }[];
  budgets: UniformBudget[];
  /** Candidates of the search-generation measurement (batch B against batch 1). */
  candidates: number;
  threads?: number;
  chunkSize: number;
  /** Timed prefills and runs of each method's items (after an untimed one); the medians are reported. */
  repeats: number;
  /** Skip the 1,024-token prefill and GEMM measurement. */
  skipGemm?: boolean;
}

/**
 * Wall time and CPU time (all threads of this process, from process.cpuUsage) of a phase. On a shared machine the
 * wall-time ratios move with the load of other processes; CPU-time ratios measure this process's own work.
 */
export interface Cost {
  wallMs: number;
  cpuMs: number;
}

export interface ItemSplit {
  compressMs: number;
  decodeMs: number;
  metricsMs: number;
  overheadMs: number;
  totalMs: number;
}

export interface MethodBench {
  method: string;
  items: number;
  /** Timed runs of the items; perItem and cpuMsPerItem are the median run's. */
  repeats: number;
  perItem: ItemSplit;
  /**
   * Work done once per prefill for this method, ms: value norms (when read), the full cache's reference
   * distributions over the continuation, and the scorer's budget-independent part (scores, DefensiveKV's
   * prepared statistics; measured as the first compression, whose gather is per-item work counted here too).
   */
  oncePerPrefillMs: number;
  oncePerPrefillCpuMs: number;
  /** (prefill + once-per-prefill work + item) / item, wall time. */
  prefillOnceRatio: number;
  /** CPU time of the method's items, per item. */
  cpuMsPerItem: number;
  /** The same ratio in CPU time (prefill, once-per-prefill work and items), robust to other processes' load. */
  prefillOnceRatioCpu: number;
  compressShareOfItem: number;
}

export interface EngineBenchResult {
  date: string;
  machine: { cpu: string; cores: number; memoryGiB: number; node: string; loadAverageStart: number; loadAverageEnd: number };
  model: string;
  parameters: number;
  threads: number | null;
  contextTokens: number;
  answerTokens: number;
  prefill: { ms: number; tokensPerSec: number; valueNormsMs: number; cpuMs: number; valueNormsCpuMs: number };
  methods: MethodBench[];
  candidateLoop: {
    candidates: number;
    scoring: { msPerCandidateBatch1: number; msPerCandidateBatchB: number; speedup: number; speedupCpu: number };
    generation: { tokens: number; msPerCandidateBatch1: number; msPerCandidateBatchB: number; speedup: number; speedupCpu: number };
  };
  /** Rates per wall second, and per CPU second (ratioCpu: robust to load). */
  prefillVsGemm: { tokens: number; prefillGflops: number; gemmGflops: number; ratio: number; ratioCpu: number } | null;
}

// The continuation path of evaluateItems reads no task, tokenizer or sample text.
const NO_TASK = null as unknown as TaskDefinition;
const NO_TOKENIZER = null as never;
const SAMPLE = { id: 'bench' } as Sample;

const now = () => performance.now();
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Runs `f` and returns its result with its wall and CPU time. */
async function measured<T>(f: () => Promise<T>): Promise<{ value: T; cost: Cost }> {
  const w0 = now();
  const c0 = cpuNow();
  const value = await f();
  return { value, cost: { wallMs: now() - w0, cpuMs: cpuNow() - c0 } };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function randomTokens(n: number, V: number, seed: number): number[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => 3 + Math.floor(r() * (V - 3)));
}

/** Matmul FLOPs of a chunked prefill of T tokens (projections, MLP, attention over the keys each chunk sees). */
export function prefillFlops(spec: ModelSpec, T: number, chunkSize: number): number {
  const { hiddenSize: D, numHeads: H, numKvHeads: Hkv, headDim: hd, intermediateSize: I, numLayers: L, vocabSize: V } = spec;
  let f = 0;
  for (let s = 0; s < T; s += chunkSize) {
    const q = Math.min(chunkSize, T - s);
    const perLayer = 2 * q * (D * (H + 2 * Hkv) * hd + H * hd * D + 3 * D * I) + 2 * 2 * H * hd * q * (s + q);
    f += L * perLayer;
  }
  return f + 2 * D * V; // logits of the last position
}

/** fp32 GEMM rate of onnxruntime on this machine: a [m, k] × [k, n] MatMul, best of a few runs, GFLOP/s. */
export async function gemmRate(m: number, k: number, n: number, threads?: number): Promise<{ gflops: number; gflopsPerCpuSecond: number }> {
  const g = new GraphBuilder('unused');
  g.input('a', DataType.FLOAT, [m, k]);
  g.input('b', DataType.FLOAT, [k, n]);
  g.opTo('c', 'MatMul', ['a', 'b']);
  g.output('c', DataType.FLOAT, [m, n]);
  const opts: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
  if (threads) opts.intraOpNumThreads = threads;
  const session = await ort.InferenceSession.create(g.encodeModel({ opset: OPSET, irVersion: IR_VERSION, metadata: {} }), opts);
  const r = mulberry32(3);
  const a = new ort.Tensor(
    'float32',
    Float32Array.from({ length: m * k }, () => r() - 0.5),
    [m, k],
  );
  const b = new ort.Tensor(
    'float32',
    Float32Array.from({ length: k * n }, () => r() - 0.5),
    [k, n],
  );
  let best = Infinity;
  let bestCpu = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    const { cost } = await measured(() => session.run({ a, b }));
    best = Math.min(best, cost.wallMs);
    bestCpu = Math.min(bestCpu, cost.cpuMs);
  }
  await session.release();
  const flops = 2 * m * k * n;
  return { gflops: flops / (best / 1000) / 1e9, gflopsPerCpuSecond: flops / (bestCpu / 1000) / 1e9 };
}

function split(results: ItemResult[], wallMs: number): ItemSplit {
  const n = results.length;
  const sum = (f: (r: ItemResult) => number) => results.reduce((a, r) => a + f(r), 0) / n;
  const compressMs = sum((r) => r.compressMs);
  const decodeMs = sum((r) => r.decodeMs);
  const metricsMs = sum((r) => r.metricsMs);
  const totalMs = wallMs / n;
  return { compressMs, decodeMs, metricsMs, overheadMs: totalMs - compressMs - decodeMs - metricsMs, totalMs };
}

function failures(results: ItemResult[]): void {
  const bad = results.find((r) => r.status !== 'ok');
  if (bad) throw new Error(`bench item ${bad.key} failed: ${bad.error}`);
}

export async function benchEngine(model: LoadedModel, o: EngineBenchOptions): Promise<EngineBenchResult> {
  const loadStart = loadavg()[0];
  const { spec } = model;
  const V = spec.vocabSize;
  const rt = await ModelRuntime.create(model, { intraOpNumThreads: o.threads });
  const T = Math.min(o.context, spec.maxPositionEmbeddings - o.answer);
  const ids = randomTokens(T + o.answer, V, 1);
  const prompt: SamplePrompt = { contextIds: ids.slice(0, T), questionIds: [], answerIds: ids.slice(T), isContinuation: true };
  const opts = { setting: 'question-agnostic' as const, fitness: 'task' as const, chunkSize: o.chunkSize };

  // Every figure is of warm runs: each shape is run once untimed first. The first run at a shape grows
  // onnxruntime's memory arenas (page faults: measured at 2-9× a warm run's time for the first two methods' items),
  // which a search or eval pays once per worker, not per prefill or per item.
  const prefill = () => rt.prefill(prompt.contextIds, { window: 32, chunkSize: o.chunkSize });
  const rec = await prefill();
  const norms = await measured(() =>
    ensureValueNormsFor(
      rt,
      rec,
      o.methods.map((m) => m.spec),
    ),
  );
  const valueNormsMs = norms.cost.wallMs;

  // Per method, a fresh record (no scores memoised by another method) and its once-per-prefill work: the
  // continuation reference and the scorer's budget-independent part (with the first compression).
  const methodItems = o.methods.map(({ written, spec: m }) => o.budgets.map((b, i): EvalItem => ({ key: `${written}|${i}`, method: m, budget: b })));
  const records = o.methods.map((): PrefillRecord => ({ ...rec }));
  await continuationReference(rt, { ...rec }, [], prompt.answerIds!); // warm-up at the reference's shapes
  const onceCosts: Cost[] = [];
  for (const [i, { spec: m }] of o.methods.entries()) {
    const once = await measured(async () => {
      await continuationReference(rt, records[i], [], prompt.answerIds!);
      compressPrefill(records[i], spec, model.weights, m, resolveLayerBudgets(methodItems[i][0].budget, T, spec.numLayers));
    });
    onceCosts.push(once.cost);
  }
  const runItems = async (i: number) => {
    const run = await measured(() =>
      evaluateItems(rt, NO_TOKENIZER, NO_TASK, SAMPLE, prompt, records[i], methodItems[i], { ...opts, batch: methodItems[i].length }),
    );
    failures(run.value);
    return { results: run.value, cost: run.cost };
  };
  for (let i = 0; i < o.methods.length; i++) await runItems(i); // warm-up at every method's shapes

  // `repeats` rounds, each a prefill then every method's items: the medians compare figures taken across the same
  // stretch of time, so a drift of the machine's speed does not favour the prefill or the methods measured first.
  const prefillCosts: Cost[] = [];
  const runs: { results: ItemResult[]; cost: Cost }[][] = o.methods.map(() => []);
  for (let rep = 0; rep < o.repeats; rep++) {
    prefillCosts.push((await measured(prefill)).cost);
    for (let i = 0; i < o.methods.length; i++) runs[i].push(await runItems(i));
  }
  const prefillMs = median(prefillCosts.map((c) => c.wallMs));
  const prefillCpuMs = median(prefillCosts.map((c) => c.cpuMs));

  const methods: MethodBench[] = o.methods.map(({ written: method, spec: m }, i) => {
    const items = methodItems[i];
    // The median run's per-item cost: robust to a run disturbed by another process.
    const perRun = runs[i].map((r) => ({ ...r, split: split(r.results, r.cost.wallMs) })).sort((a, b) => a.split.totalMs - b.split.totalMs);
    const perItem = perRun[Math.floor(perRun.length / 2)].split;
    const cpuMsPerItem = median(runs[i].map((r) => r.cost.cpuMs / items.length));
    const needsNorms = methodNeedsValueNorms(m);
    const once = (needsNorms ? valueNormsMs : 0) + onceCosts[i].wallMs;
    const onceCpu = (needsNorms ? norms.cost.cpuMs : 0) + onceCosts[i].cpuMs;
    return {
      method,
      items: items.length,
      repeats: runs[i].length,
      perItem,
      oncePerPrefillMs: once,
      oncePerPrefillCpuMs: onceCpu,
      prefillOnceRatio: (prefillMs + once + perItem.totalMs) / perItem.totalMs,
      cpuMsPerItem,
      prefillOnceRatioCpu: (prefillCpuMs + onceCpu + cpuMsPerItem) / cpuMsPerItem,
      compressShareOfItem: perItem.compressMs / perItem.totalMs,
    };
  });

  // A search generation: B candidates with per-layer budgets around 20 % of the context (±30 %), SnapKV.
  const B = o.candidates;
  const r = mulberry32(11);
  const mean = Math.max(40, Math.round(0.2 * T));
  const snapkv = parseMethod('snapkv');
  const candidates: EvalItem[] = Array.from({ length: B }, (_, i) => ({
    key: `c${i}`,
    method: snapkv,
    budget: { kind: 'profile', layers: Array.from({ length: spec.numLayers }, () => Math.round(mean * (0.7 + 0.6 * r()))) },
  }));
  const timeScoring = async (batch: number): Promise<Cost> => {
    const { value, cost } = await measured(() => evaluateItems(rt, NO_TOKENIZER, NO_TASK, SAMPLE, prompt, rec, candidates, { ...opts, batch }));
    failures(value);
    return { wallMs: cost.wallMs / B, cpuMs: cost.cpuMs / B };
  };
  await timeScoring(B); // warm-up at these shapes (and scores memoised for both runs)
  await timeScoring(1);
  const scoringB = await timeScoring(B);
  const scoring1 = await timeScoring(1);

  const caches = candidates.map((c) => compressPrefill(rec, spec, model.weights, c.method, resolveLayerBudgets(c.budget, T, spec.numLayers)));
  const gen = { maxNewTokens: o.answer, stopTokens: [] as number[], chunkSize: o.chunkSize };
  const timeGeneration = async (batch: number): Promise<Cost> => {
    const { cost } = await measured(async () => {
      for (let s = 0; s < B; s += batch) {
        const group = caches.slice(s, s + batch);
        await rt.generateBatch(
          group,
          group.map(() => []),
          { ...gen, lastLogits: group.map(() => rec.lastLogits) },
        );
      }
    });
    return { wallMs: cost.wallMs / B, cpuMs: cost.cpuMs / B };
  };
  for (const batch of [B, 1]) {
    const group = caches.slice(0, batch);
    await rt.generateBatch(
      group,
      group.map(() => []),
      { ...gen, maxNewTokens: 2, lastLogits: group.map(() => rec.lastLogits) },
    );
  }
  const generationB = await timeGeneration(B);
  const generation1 = await timeGeneration(1);

  let prefillVsGemm: EngineBenchResult['prefillVsGemm'] = null;
  if (!o.skipGemm) {
    const T1 = Math.min(1024, spec.maxPositionEmbeddings);
    const gemm = await gemmRate(T1, spec.hiddenSize, spec.intermediateSize, o.threads);
    const chunk = Math.max(o.chunkSize, T1);
    const prefill1k = () => rt.prefill(ids.slice(0, T1), { window: 32, chunkSize: chunk });
    await prefill1k();
    const { cost } = await measured(prefill1k);
    const flops = prefillFlops(spec, T1, chunk);
    const prefillGflops = flops / (cost.wallMs / 1000) / 1e9;
    const perCpu = flops / (cost.cpuMs / 1000) / 1e9;
    prefillVsGemm = { tokens: T1, prefillGflops, gemmGflops: gemm.gflops, ratio: prefillGflops / gemm.gflops, ratioCpu: perCpu / gemm.gflopsPerCpuSecond };
  }
  await rt.release();

  return {
    date: new Date().toISOString(),
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: availableParallelism(),
      memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
      node: process.version,
      loadAverageStart: loadStart,
      loadAverageEnd: loadavg()[0],
    },
    model: model.source.path,
    parameters: parameterCount(model.weights),
    threads: o.threads ?? null,
    contextTokens: T,
    answerTokens: o.answer,
    prefill: { ms: prefillMs, tokensPerSec: T / (prefillMs / 1000), valueNormsMs, cpuMs: prefillCpuMs, valueNormsCpuMs: norms.cost.cpuMs },
    methods,
    candidateLoop: {
      candidates: B,
      scoring: {
        msPerCandidateBatch1: scoring1.wallMs,
        msPerCandidateBatchB: scoringB.wallMs,
        speedup: scoring1.wallMs / scoringB.wallMs,
        speedupCpu: scoring1.cpuMs / scoringB.cpuMs,
      },
      generation: {
        tokens: o.answer,
        msPerCandidateBatch1: generation1.wallMs,
        msPerCandidateBatchB: generationB.wallMs,
        speedup: generation1.wallMs / generationB.wallMs,
        speedupCpu: generation1.cpuMs / generationB.cpuMs,
      },
    },
    prefillVsGemm,
  };
}
