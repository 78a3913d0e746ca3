/**
 * Evaluating one sample: prefill once, then every (method, budget) item from that one PrefillRecord,
 * decoding the items of a sample together in batches (the graph's batch dimension).
 *
 * Settings (design.md §4.4):
 * - question-aware: context + question are prefilled together (the question sits in the observation
 *   window); the first answer token comes from the prefill's own logits, as in SnapKV, where compression
 *   happens after the full-attention prefill;
 * - question-agnostic: the context alone is prefilled and compressed; the question is then decoded
 *   through the compressed cache (kvpress / DefensiveKV protocol).
 *
 * Scores (all in [0, 1], higher is better, so quality loss = 1 − score / score_full is meaningful):
 * - 'task': the task's metric on generated text;
 * - 'likelihood': exp(mean log p(answer tokens)), the geometric-mean probability of the gold answer;
 * - continuation task: exp(mean log p(continuation)); top-1 agreement and KL vs the full cache are extra
 *   metrics ('fidelity' uses top-1 agreement as the score).
 */
import type { FitnessSource, Setting } from '../config/schema.ts';
import type { ModelSpec, TextTokenizer } from '../model/spec.ts';
import type { GatheredBatch, ModelRuntime } from '../runtime/runtime.ts';
import { HostDecodeBatch } from '../runtime/batch.ts';
import { referenceDistribution, type ReferenceDistribution } from '../runtime/scoring.ts';
import type { KvCache, PrefillRecord } from '../runtime/types.ts';
import { compressPrefill, methodNeedsValueNorms, methodWindow, resolveBudget, selectKept, type Budget } from '../compress/index.ts';
import type { CompressedCache, KeptSelection, MethodSpec } from '../compress/types.ts';
import type { Sample, TaskDefinition } from '../tasks/types.ts';
import type { ContinuationMeta } from '../tasks/continuation.ts';
import { middleTruncateIds } from '../tasks/truncate.ts';
import { logSoftmaxRow } from '../tasks/metrics/logits.ts';
import { argmax } from '../runtime/sampling.ts';
import { KvoptError } from '../util/errors.ts';

export interface EvalItem {
  /** Unique within a sample (the engine uses `${method}|${budget}`). */
  key: string;
  /**
   * Resolved once, when the config was read: plain data, so it crosses to a worker thread (structured
   * clone) or a queue worker (JSON) as it is and is never parsed again there.
   */
  method: MethodSpec;
  budget: Budget;
}

export interface ItemResult {
  key: string;
  status: 'ok' | 'failed';
  error?: string;
  score: number;
  /** Extra figures: loglik (mean nats/token), top1, kl (continuation), likelihood. */
  metrics: Record<string, number>;
  prediction: string | null;
  generatedTokens: number;
  layerBudgets: number[];
  /** Entries kept per layer and KV head, [L][Hkv] (head-wise allocators give heads different counts). */
  headBudgets: number[][];
  kvEntries: number;
  kvBytes: number;
  compressMs: number;
  decodeMs: number;
  /** Time spent turning the decoder's output into metrics (per item; batched work divided evenly). */
  metricsMs: number;
}

/** Token ids of one sample's prompt parts. */
export interface SamplePrompt {
  contextIds: number[];
  questionIds: number[];
  /** Gold answer (likelihood scoring) or the continuation (continuation task). */
  answerIds: number[] | null;
  isContinuation: boolean;
}

export interface EvaluateOptions {
  setting: Setting;
  fitness: FitnessSource;
  /** Items decoded together in one batched run. */
  batch: number;
  chunkSize: number;
}

/** Tokenizes a sample's prompt parts, truncating the context in the middle so that prompt + answer fit the model. */
export function tokenizeSample(task: TaskDefinition, sample: Sample, tok: TextTokenizer, spec: ModelSpec): SamplePrompt {
  const meta = sample.meta as unknown as Partial<ContinuationMeta> | undefined;
  if (sample.task === 'continuation' && meta?.contextIds && meta.continuationIds) {
    // A window longer than the model's context keeps its most recent context tokens (the continuation is scored
    // after as much context as fits; e.g. the plain model beside SelfExtend's extended one).
    const questionIds = meta.questionIds ?? [];
    const room = Math.max(1, spec.maxPositionEmbeddings - questionIds.length - meta.continuationIds.length - (tok.bosId !== null ? 1 : 0));
    const kept = meta.contextIds.length > room ? meta.contextIds.slice(-room) : meta.contextIds;
    const contextIds = tok.bosId !== null ? [tok.bosId, ...kept] : [...kept];
    return { contextIds, questionIds, answerIds: meta.continuationIds, isContinuation: true };
  }
  const room = Math.max(16, spec.maxPositionEmbeddings - sample.maxNewTokens - 1); // prompt tokens that fit
  const parts = task.buildPrompt(sample, { tokenizer: tok, maxPromptTokens: room, chatTemplate: task.chatTemplate ? tok.chatTemplate : null });
  let contextIds = tok.encode(parts.contextText, { addBos: parts.addBos });
  let questionIds = parts.questionText ? tok.encode(parts.questionText, { addBos: false }) : [];
  const answerIds = parts.answerText ? tok.encode(parts.answerText, { addBos: false }) : null;
  // Text-level truncation can come back longer once re-encoded (e.g. a multi-byte character cut in two);
  // the same middle cut on the ids guarantees prompt + answer fit the context.
  if (questionIds.length > room / 2) questionIds = middleTruncateIds(questionIds, Math.floor(room / 2));
  if (contextIds.length + questionIds.length > room) contextIds = middleTruncateIds(contextIds, room - questionIds.length);
  return { contextIds, questionIds, answerIds, isContinuation: false };
}

/** The tokens a setting prefills. */
export function prefillTokens(p: SamplePrompt, setting: Setting): number[] {
  return setting === 'question-aware' ? [...p.contextIds, ...p.questionIds] : p.contextIds;
}

/** The largest observation window any of the methods needs (the prefill records that many rows). */
export function windowFor(methods: MethodSpec[], fallback = 32): number {
  let w = 0;
  for (const m of methods) w = Math.max(w, methodWindow(m));
  return w || fallback;
}

/**
 * Computes the record's value-output norms (once, kept in the record) when one of `methods` reads them;
 * returns the ms spent (0 when none needed or already there). Where they are computed (on the device for a
 * device record, so its cache stays there) is ModelRuntime.ensureValueNorms's choice.
 */
export async function ensureValueNormsFor(runtime: ModelRuntime, record: PrefillRecord, methods: MethodSpec[]): Promise<number> {
  if (record.valueNorms) return 0;
  if (!methods.some(methodNeedsValueNorms)) return 0;
  const t0 = performance.now();
  await runtime.ensureValueNorms(record);
  return performance.now() - t0;
}

export function resolveLayerBudgets(budget: Budget, T: number, L: number): number[] {
  if (budget.kind === 'profile') {
    if (budget.layers.length !== L) throw new KvoptError(`budget profile has ${budget.layers.length} layers, the model has ${L}`);
    return budget.layers.map((b) => Math.min(T, Math.max(0, Math.round(b))));
  }
  return new Array<number>(L).fill(resolveBudget(budget, T));
}

const now = () => performance.now();

/**
 * Whether an item's kept entries are gathered straight into the group's decode batch instead of into a cache of
 * its own: on WebGPU when the prefill left its K/V there (record.device), and on the host when the batch is only
 * scored (`scoringOnly`: one run that reads it, continuation or answer likelihood; generation extends its caches).
 * Never for a quantised method (KIVI rewrites the gathered host arrays, so it takes compressPrefill, the prefill's
 * K/V downloaded once, counted in runtime.io). The one place that decides; the kept entries are the same either way.
 */
function gathersIntoBatch(record: PrefillRecord, method: MethodSpec, scoringOnly: boolean): boolean {
  return method.quantizer === null && (record.device !== undefined || scoringOnly);
}

/** A compressed item ready to decode: its cache on the host, or its selection to gather into the batch. */
interface ReadyItem {
  item: EvalItem;
  cache: CompressedCache | KeptSelection;
  compressMs: number;
}

/**
 * Evaluates every item of one sample from one PrefillRecord. Items that fail (e.g. a bad method option)
 * come back with status 'failed' and their error; the others are unaffected.
 */
export async function evaluateItems(
  runtime: ModelRuntime,
  tok: TextTokenizer,
  task: TaskDefinition,
  sample: Sample,
  prompt: SamplePrompt,
  record: PrefillRecord,
  items: EvalItem[],
  opts: EvaluateOptions,
  /** Called as soon as each item is scored (the engine stores it at once). */
  onResult: (r: ItemResult) => void = () => {},
): Promise<ItemResult[]> {
  const { spec, weights } = runtime.model;
  const T = record.tokens.length;
  const all: ItemResult[] = [];
  const emit = (r: ItemResult) => {
    all.push(r);
    onResult(r);
  };
  // Shared work (the record's value norms) is charged to the first compression, as shared scoring is.
  let sharedMs = await ensureValueNormsFor(
    runtime,
    record,
    items.map((it) => it.method),
  );

  // Continuation: the full cache's distributions over the continuation are the reference for top-1 and KL.
  const contIds = prompt.isContinuation ? prompt.answerIds! : null;
  // Tokens decoded through the compressed cache before the answer: the question, in the agnostic setting.
  const decodedPrefix = opts.setting === 'question-agnostic' ? prompt.questionIds : [];
  const reference = contIds ? await continuationReference(runtime, record, decodedPrefix, contIds) : null;

  const scoringOnly = contIds !== null || opts.fitness === 'likelihood';
  for (let start = 0; start < items.length; start += opts.batch) {
    const group = items.slice(start, start + opts.batch);
    const onHost: ReadyItem[] = [];
    const gathered: ReadyItem[] = [];
    for (const item of group) {
      const t0 = now();
      try {
        const layerBudgets = resolveLayerBudgets(item.budget, T, spec.numLayers);
        if (gathersIntoBatch(record, item.method, scoringOnly)) {
          gathered.push({ item, cache: selectKept(record, spec, weights, item.method, layerBudgets), compressMs: now() - t0 + sharedMs });
        } else {
          if (record.device) await runtime.hostCache(record);
          onHost.push({ item, cache: compressPrefill(record, spec, weights, item.method, layerBudgets), compressMs: now() - t0 + sharedMs });
        }
        sharedMs = 0;
      } catch (e) {
        emit(failedResult(item.key, e instanceof Error ? e.message : String(e)));
      }
    }
    if (onHost.length > 0)
      await decodeItems(
        onHost,
        onHost.map((r) => r.cache as CompressedCache),
      );
    if (gathered.length > 0) {
      const t0 = now();
      const kept = gathered.map((r) => r.cache.kept);
      const batch = record.device ? await runtime.gatherOnDevice(record, kept) : await runtime.gatherOnHost(record, kept);
      const gatherMs = (now() - t0) / gathered.length;
      for (const r of gathered) r.compressMs += gatherMs;
      try {
        await decodeItems(gathered, batch);
      } finally {
        batch.dispose();
      }
    }
  }
  return all;

  /** Decodes and scores the items of `ready` from their caches (host caches, or one gathered batch of their rows). */
  async function decodeItems(ready: ReadyItem[], caches: KvCache[] | GatheredBatch): Promise<void> {
    const rows = ready.length;
    const perRow = <V>(v: V): V[] => Array.from({ length: rows }, () => v);
    const t1 = now();
    const base = (r: ReadyItem) => ({
      key: r.item.key,
      status: 'ok' as const,
      layerBudgets: r.cache.layerBudgets,
      headBudgets: r.cache.kept.map((layer) => layer.map((head) => head.length)),
      kvEntries: r.cache.logicalEntries,
      kvBytes: r.cache.physicalBytes,
      compressMs: r.compressMs,
    });

    if (contIds) {
      const logits = await continuationLogits(runtime, caches, record.lastLogits, decodedPrefix, contIds);
      const t2 = now();
      const decodeMs = (t2 - t1) / ready.length;
      // Scored in one onnxruntime call (graph/scoring.ts; the JS metrics of tasks/metrics/logits.ts are its reference).
      const m = await runtime.scoreContinuation(logits.rows, logits.first, ready.length, contIds, reference!.distribution);
      const n = contIds.length;
      const metricsMs = (now() - t2) / ready.length;
      ready.forEach((r, b) => {
        let ll = 0;
        let kl = 0;
        let agree = 0;
        for (let t = 0; t < n; t++) {
          ll += m.targetLogProb[b * n + t];
          kl += m.kl[b * n + t];
          if (m.argmax[b * n + t] === reference!.argmax[t]) agree++;
        }
        const loglik = ll / n;
        const top1 = agree / n;
        const score = opts.fitness === 'fidelity' ? top1 : Math.exp(loglik);
        emit({ ...base(r), score, metrics: { loglik, top1, kl: kl / n }, prediction: null, generatedTokens: 0, decodeMs, metricsMs });
      });
      return;
    }

    if (opts.fitness === 'likelihood') {
      if (!prompt.answerIds || prompt.answerIds.length === 0) {
        throw new KvoptError(`sample ${sample.id}: likelihood fitness needs a gold answer, the task gives none`);
      }
      const ll = await runtime.answerLogLikelihood(caches, perRow(decodedPrefix), perRow(prompt.answerIds), { lastLogits: perRow(record.lastLogits) });
      const decodeMs = (now() - t1) / ready.length;
      ready.forEach((r, i) =>
        emit({
          ...base(r),
          score: Math.exp(ll[i].mean),
          metrics: { loglik: ll[i].mean },
          prediction: null,
          generatedTokens: 0,
          decodeMs,
          metricsMs: 0,
        }),
      );
      return;
    }

    // Generation scored by the task metric.
    if (caches instanceof HostDecodeBatch) throw new Error('internal: generation from a host batch gathered for scoring');
    const gen = await runtime.generateBatch(caches, perRow(decodedPrefix), {
      maxNewTokens: sample.maxNewTokens,
      chunkSize: opts.chunkSize,
      lastLogits: perRow(record.lastLogits),
    });
    const t2 = now();
    const decodeMs = (t2 - t1) / ready.length;
    ready.forEach((r, i) => {
      const t3 = now();
      const text = tok.decode(gen[i].tokens);
      const score = task.score(text, sample);
      emit({
        ...base(r),
        score,
        metrics: {},
        prediction: task.postprocess(text),
        generatedTokens: gen[i].tokens.length,
        decodeMs,
        metricsMs: now() - t3,
      });
    });
  }
}

/**
 * Logits that predict each continuation token for B caches (host caches, or a gathered batch of B rows): `prefix`
 * (the question, when it is decoded through the compressed cache) and continuation[0..n−2] are fed in one batched
 * run. Without a prefix the first token is predicted by the prefill's last logits (`first`, the same for every
 * row) and the run gives the other n − 1 rows; with one, the run gives all n. `rows` is the run's output as is.
 */
interface ContinuationLogits {
  rows: Float32Array; // [B, n − (first ? 1 : 0), V]
  first: Float32Array | null; // [V]
}

async function continuationLogits(
  runtime: ModelRuntime,
  caches: KvCache[] | GatheredBatch,
  lastLogits: Float32Array,
  prefix: number[],
  cont: number[],
): Promise<ContinuationLogits> {
  const n = cont.length;
  const first = prefix.length === 0 ? lastLogits : null;
  const m = first ? n - 1 : n;
  const rows = m > 0 ? await runtime.logitsAfter(caches, [...prefix, ...cont.slice(0, n - 1)], m) : new Float32Array(0);
  return { rows, first };
}

export interface ContinuationReference {
  distribution: ReferenceDistribution; // p over the n positions
  argmax: Int32Array; // [n]
}

/** References kept as long as their record: a search scores the same sample every generation. */
const references = new WeakMap<PrefillRecord, Map<string, ContinuationReference>>();

/**
 * The full cache's distribution over the continuation (float64 log-probabilities as the reference metrics compute
 * them, in the parts the scoring graph reads) and argmax per row, computed once per record, prefix and continuation.
 */
export async function continuationReference(runtime: ModelRuntime, record: PrefillRecord, prefix: number[], cont: number[]): Promise<ContinuationReference> {
  let byTokens = references.get(record);
  if (!byTokens) {
    byTokens = new Map();
    references.set(record, byTokens);
  }
  const key = `${prefix.join(',')}|${cont.join(',')}`;
  const hit = byTokens.get(key);
  if (hit) return hit;
  const V = runtime.spec.vocabSize;
  const n = cont.length;
  // the full cache where it is: on the device (read, not extended) or on the host
  const { rows, first } = await continuationLogits(runtime, record.device ?? [record.cache], record.lastLogits, prefix, cont);
  const logProbs = new Float64Array(n * V);
  const top = new Int32Array(n);
  for (let t = 0; t < n; t++) {
    const r = first ? t - 1 : t; // row of `rows` that predicts cont[t]
    const row = r < 0 ? first! : rows.subarray(r * V, (r + 1) * V);
    logProbs.set(logSoftmaxRow(row, 0, V), t * V);
    top[t] = argmax(row);
  }
  const ref = { distribution: referenceDistribution(logProbs, n, V), argmax: top };
  byTokens.set(key, ref);
  return ref;
}

export function failedResult(key: string, error: string): ItemResult {
  return {
    key,
    status: 'failed',
    error,
    score: NaN,
    metrics: {},
    prediction: null,
    generatedTokens: 0,
    layerBudgets: [],
    headBudgets: [],
    kvEntries: 0,
    kvBytes: 0,
    compressMs: 0,
    decodeMs: 0,
    metricsMs: 0,
  };
}
