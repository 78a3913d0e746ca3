/**
 * Engine benchmarks (run on purpose, not in tests). Prints a table and writes JSON.
 *
 *   node --import tsx scripts/bench-engine.ts [--quick] [--out results/bench-engine.json]
 *
 * 1. prefill-cache: stories260K, one sample × many (method, budget) items: evaluations per second when the
 *    PrefillRecord is reused (kvopt's design) against re-prefilling for every item (what a naive loop does).
 * 2. batched-decode: the candidates of one search generation scored on one sample, decoded together in one
 *    batched run (batch = population) against one candidate at a time; random Llamas of 5, 16 and 32 layers
 *    and populations 4, 10, 16. Per-candidate time and the split prefill / compress / decode.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { loadModel } from '../src/model/load.ts';
import { randomWeights, tinySpec } from '../src/model/random.ts';
import { weightsHash } from '../src/model/hash.ts';
import type { LoadedModel } from '../src/model/spec.ts';
import { ModelRuntime } from '../src/runtime/runtime.ts';
import { evaluateItems, type EvalItem, type SamplePrompt } from '../src/engine/evaluate.ts';
import { mulberry32 } from '../src/util/mulberry32.ts';
import type { Sample, TaskDefinition } from '../src/tasks/types.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const out = args.includes('--out') ? args[args.indexOf('--out') + 1]! : 'results/bench-engine.json';
const root = resolve(import.meta.dirname, '..');
const shared = process.env.KVOPT_SHARED_DATA ?? resolve(root, '../shared/data');
const now = () => performance.now();

// The continuation path of evaluateItems needs no task, tokenizer or sample text.
const NO_TASK = null as unknown as TaskDefinition;
const NO_SAMPLE = { id: 'bench' } as Sample;
const NO_TOKENIZER = null as never;

function randomTokens(n: number, V: number, seed: number): number[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => 3 + Math.floor(r() * (V - 3)));
}

async function prefillCacheBench() {
  const model = await loadModel(join(shared, 'stories260K/stories260K.bin'), { tokenizer: join(shared, 'stories260K/tok512.bin') });
  const rt = await ModelRuntime.create(model, { intraOpNumThreads: availableParallelism() });
  const ids = randomTokens(448, model.spec.vocabSize, 1);
  const prompt: SamplePrompt = { contextIds: [1, ...ids.slice(0, 383)], questionIds: [], answerIds: ids.slice(383, 447), isContinuation: true };
  const methods = ['streaming', 'h2o', 'snapkv', 'pyramidkv', 'adakv', 'criticalkv', 'defensivekv', 'layer-defensivekv'];
  const budgets = [0.1, 0.2, 0.5];
  const items: EvalItem[] = methods.flatMap((m) => budgets.map((b) => ({ key: `${m}|${b}`, method: m, budget: { keep: b } })));
  const opts = { setting: 'question-agnostic' as const, fitness: 'task' as const, batch: 8, chunkSize: 128 };
  await rt.prefill(prompt.contextIds, { window: 32 }); // warm-up

  let t = now();
  const rec = await rt.prefill(prompt.contextIds, { window: 32 });
  const prefillMs = now() - t;
  const cached = await evaluateItems(rt, NO_TOKENIZER, NO_TASK, NO_SAMPLE, prompt, rec, items, opts);
  const cachedMs = now() - t;

  t = now();
  for (const item of items) {
    const r = await rt.prefill(prompt.contextIds, { window: 32 });
    await evaluateItems(rt, NO_TOKENIZER, NO_TASK, NO_SAMPLE, prompt, r, [item], { ...opts, batch: 1 });
  }
  const reprefillMs = now() - t;
  const perItem = cached.reduce((n, r) => n + r.compressMs + r.decodeMs, 0) / cached.length;
  await rt.release();
  return {
    model: 'stories260K (5 layers, 8/4 heads, d 64)',
    contextTokens: prompt.contextIds.length,
    continuationTokens: 64,
    evaluations: items.length,
    prefillMs: +prefillMs.toFixed(1),
    msPerEvaluationAfterPrefill: +perItem.toFixed(1),
    evalsPerSecondWithPrefillCache: +((1000 * items.length) / cachedMs).toFixed(2),
    evalsPerSecondReprefilling: +((1000 * items.length) / reprefillMs).toFixed(2),
    speedup: +(reprefillMs / cachedMs).toFixed(2),
  };
}

function randomModel(layers: number): LoadedModel {
  const spec = tinySpec({ vocabSize: 512, hiddenSize: 256, intermediateSize: 688, numLayers: layers, numHeads: 8, numKvHeads: 4, headDim: 32, maxPositionEmbeddings: 1024 });
  const weights = randomWeights(spec, layers);
  return { spec, weights, tokenizer: null, source: { kind: 'hf', path: `random:${layers}` }, weightsHash: weightsHash(spec, weights) };
}

async function batchedDecodeBench() {
  const rows = [];
  const layerCounts = quick ? [5] : [5, 16, 32];
  const populations = quick ? [4] : [4, 10, 16];
  for (const L of layerCounts) {
    const model = randomModel(L);
    const rt = await ModelRuntime.create(model, { intraOpNumThreads: availableParallelism() });
    const ids = randomTokens(448, 512, L);
    const prompt: SamplePrompt = { contextIds: ids.slice(0, 384), questionIds: [], answerIds: ids.slice(384, 416), isContinuation: true };
    let t = now();
    const rec = await rt.prefill(prompt.contextIds, { window: 32 });
    const prefillMs = now() - t;
    for (const P of populations) {
      const r = mulberry32(P * 100 + L);
      // A generation's candidates: per-layer budgets around 64 (±30 %), as EvolKV's CMA-ES would ask.
      const items: EvalItem[] = Array.from({ length: P }, (_, i) => ({
        key: `c${i}`,
        method: 'snapkv',
        budget: { layers: Array.from({ length: L }, () => Math.round(64 * (0.7 + 0.6 * r()))) },
      }));
      const opts = { setting: 'question-agnostic' as const, fitness: 'task' as const, chunkSize: 128 };
      await evaluateItems(rt, NO_TOKENIZER, NO_TASK, NO_SAMPLE, prompt, rec, items.slice(0, 1), { ...opts, batch: 1 }); // warm-up
      t = now();
      const batched = await evaluateItems(rt, NO_TOKENIZER, NO_TASK, NO_SAMPLE, prompt, rec, items, { ...opts, batch: P });
      const batchedMs = now() - t;
      t = now();
      await evaluateItems(rt, NO_TOKENIZER, NO_TASK, NO_SAMPLE, prompt, rec, items, { ...opts, batch: 1 });
      const singleMs = now() - t;
      const compressMs = batched.reduce((n, x) => n + x.compressMs, 0);
      const decodeMs = batched.reduce((n, x) => n + x.decodeMs, 0);
      rows.push({
        layers: L,
        population: P,
        prefillMs: +prefillMs.toFixed(1),
        generationMsBatched: +batchedMs.toFixed(1),
        generationMsOneAtATime: +singleMs.toFixed(1),
        msPerCandidateBatched: +(batchedMs / P).toFixed(1),
        msPerCandidateOneAtATime: +(singleMs / P).toFixed(1),
        batchSpeedup: +(singleMs / batchedMs).toFixed(2),
        shareCompress: +(compressMs / batchedMs).toFixed(3),
        shareDecode: +(decodeMs / batchedMs).toFixed(3),
        shareOverhead: +(1 - (compressMs + decodeMs) / batchedMs).toFixed(3),
      });
      process.stderr.write(`layers ${L} population ${P}: ${JSON.stringify(rows.at(-1))}\n`);
    }
    await rt.release();
  }
  return rows;
}

const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), memoryGiB: +(totalmem() / 2 ** 30).toFixed(1), node: process.version };
const prefillCache = await prefillCacheBench();
process.stderr.write(`prefill cache: ${JSON.stringify(prefillCache)}\n`);
const batchedDecode = await batchedDecodeBench();
const result = { date: new Date().toISOString(), machine, prefillCache, batchedDecode };
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result, null, 2));
