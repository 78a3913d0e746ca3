/**
 * The piscina worker: owns one model and one onnxruntime session (loaded on its first task and kept),
 * loads task samples (some tasks need the tokenizer) and evaluates samples.
 *
 * Prefill once: a sample's PrefillRecord is looked up in the disk cache (engine/prefill-cache.ts) before
 * it is computed; a computed one is written there, so a killed and resumed run does not prefill again.
 * Each finished item is posted on `port` at once, so the main thread can store it while the rest run.
 */
import type { MessagePort } from 'node:worker_threads';
import { openModel } from '../runtime/model-ref.ts';
import type { LoadedModel, TextTokenizer } from '../model/spec.ts';
import { ModelRuntime } from '../runtime/runtime.ts';
import { graphOptionsFor, type Precision } from '../graph/llama.ts';
import type { Device, PrefillRecord } from '../runtime/types.ts';
import { createTask } from '../tasks/registry.ts';
import type { Sample, TaskDefinition } from '../tasks/types.ts';
import { KvoptError } from '../util/errors.ts';
import { withSelfExtend, type SelfExtendOptions } from '../model/self-extend.ts';
import { hasHostCache } from '../runtime/device-record.ts';
import { evaluateItems, prefillTokens, tokenizeSample, type EvalItem, type EvaluateOptions, type ItemResult } from './evaluate.ts';
import { releaseHostWeights } from '../model/release.ts';
import { PrefillDiskCache, prefillKey, type PrefillCacheUsage } from './prefill-cache.ts';
import { packWorkerError } from './worker-error.ts';

export interface ModelRef {
  path: string;
  tokenizer?: string | null;
  device: Device;
  /** An unavailable GPU is an error instead of a CPU fallback. */
  requireDevice?: boolean;
  /** Graph precision: weights and KV cache (default fp32). */
  dtype?: Precision;
  threads: number;
  /** SelfExtend on (model.self_extend variant); absent = off. */
  selfExtend?: SelfExtendOptions;
}

export interface TaskRef {
  name: string;
  data: string;
  options?: Record<string, unknown>;
}

export interface LoadSamplesTask {
  kind: 'load-samples';
  model: ModelRef;
  task: TaskRef;
  samples?: number;
  seed?: number;
}

export interface LoadSamplesResult {
  samples: Sample[];
  modelHash: string;
  numLayers: number;
  numKvHeads: number;
  contextLength: number;
}

/** The weights hash of a model (`kvopt worker` checks it against a queued run's before taking its jobs). */
export interface ModelInfoTask {
  kind: 'model-info';
  model: ModelRef;
}

export interface ModelInfoResult {
  modelHash: string;
}

export interface EvaluateSampleTask {
  kind: 'evaluate';
  model: ModelRef;
  task: TaskRef;
  sample: Sample;
  items: EvalItem[];
  options: EvaluateOptions & { window: number };
  /** Folder of the prefill disk cache; null: keep nothing on disk. */
  prefillCacheDir: string | null;
  /** Disk budget of that folder in bytes (least recently used records deleted first); null: unlimited. */
  prefillCacheLimit?: number | null;
  /** 1 for the first try of these items, 2 for the retry. */
  attempt: number;
}

export type WorkerMessage =
  | { kind: 'item'; result: ItemResult }
  /** `rejected`: the disk record failed its integrity check and was recomputed. */
  | { kind: 'prefill'; computed: boolean; ms: number; tokens: number; disk?: PrefillCacheUsage; rejected?: string };

export interface EvaluateSampleResult {
  results: ItemResult[];
  prefill: { computed: boolean; ms: number; tokens: number; key: string };
}

interface Loaded {
  key: string;
  model: LoadedModel;
  /** The weights hash without SelfExtend (the run's model identity). */
  baseHash: string;
  tokenizer: TextTokenizer;
  runtime: ModelRuntime | null;
}
let loaded: Loaded | null = null;
const tasks = new Map<string, TaskDefinition>();

/**
 * Prefill records kept in this worker's memory (least recently used dropped first), so a search reuses a
 * sample's record every generation without reading it from disk.
 */
const MEMORY_LIMIT_BYTES = Number(process.env.KVOPT_PREFILL_MEMORY_MB ?? 1024) * 2 ** 20;
const inMemory = new Map<string, { record: PrefillRecord; bytes: number }>();
let inMemoryBytes = 0;

/** Bytes a record holds: on the host, plus its device-resident cache (GPU memory is bounded by the same limit). */
function recordBytes(r: PrefillRecord): number {
  let n = r.lastLogits.byteLength + (r.device?.deviceBytes() ?? 0);
  if (hasHostCache(r)) for (const l of r.cache.layers) n += l.keys.byteLength + l.values.byteLength + l.bias.byteLength;
  for (const a of [...r.windowAttention, ...r.attentionColumnSums]) n += a.byteLength;
  return n;
}

/** Keeps the record unless it is kept already or too large; returns false when it is not kept. */
function remember(key: string, record: PrefillRecord): boolean {
  if (inMemory.has(key)) return true;
  const bytes = recordBytes(record);
  if (bytes > MEMORY_LIMIT_BYTES) return false;
  inMemory.set(key, { record, bytes });
  inMemoryBytes += bytes;
  for (const k of inMemory.keys()) {
    if (inMemoryBytes <= MEMORY_LIMIT_BYTES) break;
    forget(k);
  }
  return true;
}

/** Drops a kept record; its device-resident cache is released at once (GPU tensors are not garbage collected). */
function forget(key: string): void {
  const hit = inMemory.get(key);
  if (!hit) return;
  inMemory.delete(key);
  inMemoryBytes -= hit.bytes;
  hit.record.device?.dispose();
}

function recall(key: string): PrefillRecord | null {
  const hit = inMemory.get(key);
  if (!hit) return null;
  inMemory.delete(key); // re-insert: most recently used last
  inMemory.set(key, hit);
  return hit.record;
}

async function getModel(ref: ModelRef): Promise<Loaded> {
  const key = JSON.stringify(ref);
  if (loaded?.key === key) return loaded;
  if (loaded?.runtime) {
    // device-resident records belong to the session released here
    for (const [k, v] of inMemory) if (v.record.device) forget(k);
    await loaded.runtime.release();
  }
  const base = await openModel(ref.path, { tokenizer: ref.tokenizer ?? undefined });
  if (!base.tokenizer) throw new KvoptError(`${ref.path}: the model has no tokenizer; give model.tokenizer`);
  // SelfExtend: extended context and an identity of its own (graphs, prefill records); the run keeps the base hash
  const model = withSelfExtend(base, ref.selfExtend, 'model.self_extend (--self-extend)');
  loaded = { key, model, baseHash: base.weightsHash, tokenizer: base.tokenizer, runtime: null };
  tasks.clear();
  return loaded;
}

async function getRuntime(l: Loaded, ref: ModelRef): Promise<ModelRuntime> {
  if (l.runtime) return l.runtime;
  l.runtime = await ModelRuntime.create(l.model, {
    device: ref.device,
    requireDevice: ref.requireDevice,
    intraOpNumThreads: ref.threads,
    graphOptions: graphOptionsFor(ref.dtype ?? 'fp32', ref.selfExtend),
  });
  // The session holds the weights now; of the host copy only W_o is read again (value-output norms of
  // CriticalKV/DefensiveKV). Streamed models hold no copy to release.
  if (!l.model.streamed) releaseHostWeights(l.model.weights, new Set(['wo']));
  return l.runtime;
}

function getTask(l: Loaded, ref: TaskRef): TaskDefinition {
  const key = JSON.stringify(ref);
  let t = tasks.get(key);
  if (!t) {
    t = createTask(ref.name, { data: ref.data, tokenizer: l.tokenizer, options: ref.options });
    tasks.set(key, t);
  }
  return t;
}

async function loadSamples(t: LoadSamplesTask): Promise<LoadSamplesResult> {
  const l = await getModel(t.model);
  const task = getTask(l, t.task);
  const samples = task.load(t.task.data, { samples: t.samples, seed: t.seed });
  const s = l.model.spec;
  return { samples, modelHash: l.baseHash, numLayers: s.numLayers, numKvHeads: s.numKvHeads, contextLength: s.maxPositionEmbeddings };
}

/**
 * Fault injection for the engine's own tests: KVOPT_FAULT_INJECT="<sample id>:first" makes that sample's
 * first attempt throw in the worker, "<sample id>:always" every attempt.
 */
function injectedFault(t: EvaluateSampleTask): void {
  for (const spec of (process.env.KVOPT_FAULT_INJECT ?? '').split(',').filter(Boolean)) {
    const [id, when] = spec.split(':');
    if (id === t.sample.id && (when === 'always' || t.attempt === 1))
      throw new Error(`injected fault (KVOPT_FAULT_INJECT) on sample ${id}, attempt ${t.attempt}`);
  }
}

async function evaluateSample(t: EvaluateSampleTask, port: MessagePort | undefined): Promise<EvaluateSampleResult> {
  injectedFault(t);
  const l = await getModel(t.model);
  const runtime = await getRuntime(l, t.model);
  const task = getTask(l, t.task);
  const prompt = tokenizeSample(task, t.sample, l.tokenizer, l.model.spec);
  const tokens = prefillTokens(prompt, t.options.setting);
  const key = prefillKey({ graphKey: runtime.graph.key, device: runtime.device, chunkSize: t.options.chunkSize }, tokens, t.options.window);
  const disk = t.prefillCacheDir ? new PrefillDiskCache(t.prefillCacheDir, t.prefillCacheLimit ?? null) : null;
  const rejectedBefore = PrefillDiskCache.rejected.length;
  let record: PrefillRecord | null = recall(key) ?? disk?.get(key) ?? null;
  const rejected = PrefillDiskCache.rejected.length > rejectedBefore ? PrefillDiskCache.rejected.at(-1) : undefined;
  const computed = record === null;
  let usage: PrefillCacheUsage | undefined;
  if (!record) {
    record = await runtime.prefill(tokens, { chunkSize: t.options.chunkSize, window: t.options.window });
    // the disk cache holds host arrays: a WebGPU prefill's K/V are downloaded for it (counted in runtime.io)
    if (disk) usage = disk.put(key, { ...record, cache: await runtime.hostCache(record) }, runtime.graphOptions.precision === 'fp16' ? 'float16' : 'float32');
  }
  const kept = remember(key, record);
  const prefill = { computed, ms: computed ? record.ms : 0, tokens: tokens.length, key };
  port?.postMessage({ kind: 'prefill', computed, ms: prefill.ms, tokens: tokens.length, disk: usage, rejected } satisfies WorkerMessage);
  try {
    const results = await evaluateItems(runtime, l.tokenizer, task, t.sample, prompt, record, t.items, t.options, (result) =>
      port?.postMessage({ kind: 'item', result } satisfies WorkerMessage),
    );
    return { results, prefill };
  } finally {
    if (!kept) record.device?.dispose();
  }
}

/** Errors cross the thread boundary as plain Errors: packed so that their kind survives (worker-error.ts). */
export default async function run(task: (LoadSamplesTask | EvaluateSampleTask | ModelInfoTask) & { port?: MessagePort }): Promise<unknown> {
  try {
    if (task.kind === 'load-samples') return await loadSamples(task);
    if (task.kind === 'model-info') return { modelHash: (await getModel(task.model)).model.weightsHash } satisfies ModelInfoResult;
    return await evaluateSample(task, task.port);
  } catch (e) {
    throw packWorkerError(e);
  }
}
