/**
 * ModelRuntime: runs kvopt's decoder graph (src/graph/llama.ts) on onnxruntime-node.
 *
 * - prefill: the prompt in chunks, returning the full cache and the attention statistics (PrefillRecord);
 * - step: one batched run of B sequences whose caches differ (per-layer lengths, masked entries);
 * - generate / generateBatch: greedy or seeded sampling;
 * - answerLogLikelihood: log p(answer | cache, prefix) for B sequences in one batched run.
 *
 * Batching: every layer is padded to the batch's longest cache with kv_bias = −inf; new tokens of sequences
 * with fewer tokens than the longest are right-padded (causal attention keeps real rows exact). Caches returned
 * by step() drop the padding: each is the sequence's own entries followed by its new entries (bias 0).
 * generateBatch pads once and decodes into spare masked slots (stepPadded), so decode steps copy no caches in JS.
 *
 * On WebGPU (deviceResident) caches stay on the device: a prefill keeps its K/V there (PrefillRecord.device),
 * gatherOnDevice builds a compressed decode batch from it, and step / generateBatch / answerLogLikelihood take
 * such a batch (a DeviceDecodeCache) in place of host caches. hostCache downloads a prefill's K/V when the host
 * needs them; `io` counts every byte that crosses.
 */
import * as ort from 'onnxruntime-node';
import type { LoadedModel, ModelSpec } from '../model/spec.ts';
import { ensureGraph, graphCacheDir, isGraphBuilt, type BuiltGraph } from '../graph/cache.ts';
import { checkFits } from './memory-plan.ts';
import { DEFAULT_GRAPH_OPTIONS, ioNames, type GraphOptions } from '../graph/llama.ts';
import { pastPositionFeed } from './self-extend-feeds.ts';
import { KvoptError } from '../util/errors.ts';
import { appendLayer, emptyCache, HostBatchBuffers, HostDecodeBatch, maskedLayer, padLayer, type PaddedLayer } from './batch.ts';
import { logProbOf, makeSampler } from './sampling.ts';
import { createSession, type SessionOptions } from './session.ts';
import { KvCodec } from './kv-codec.ts';
import { DeviceDecodeCache, deviceResidentOutputs, hostBytes, releaseDeviceOutputs } from './device-cache.ts';
import { attachHostCache, deviceRecord, hasHostCache } from './device-record.ts';
import { DeviceGather } from './device-gather.ts';
import type { Device, KvCache, PrefillRecord } from './types.ts';
import { DeviceValueNormRunner, ValueNormRunner } from './value-norms.ts';
import { ContinuationScorer, type ContinuationScores, type ReferenceDistribution } from './scoring.ts';

export interface RuntimeOptions extends SessionOptions {
  /** Graph build cache folder (default $KVOPT_CACHE_DIR or <repo>/.kvopt-cache/graphs). */
  cacheDir?: string;
  graphOptions?: GraphOptions;
  /** Tokens of context the caller will use, for the memory check before building/loading (default min(ctx, 4096)). */
  contextTokens?: number;
}

export interface PrefillOptions {
  /** Tokens per graph run (default 512). */
  chunkSize?: number;
  /** Observation window w: attention rows of the last w prompt queries are recorded (default 32). */
  window?: number;
}

export interface StepResult {
  /** 'last': per sequence [V] after its last token; 'all': per sequence [q_b, V] (row-major, views into one buffer). */
  logits: Float32Array[];
  /** The extended caches; [] when the step was asked not to keep them (keepCaches: false). */
  caches: KvCache[];
}

/** Which logits a run returns: after each sequence's last token, for every token, or for the last k tokens. */
type LogitRows = 'last' | 'all' | number;

/** Compressed caches gathered from a prefill into one padded batch, on the device or on the host. */
export type GatheredBatch = DeviceDecodeCache | HostDecodeBatch;

/** A step's result with the run's logits as onnxruntime returned them, [B, n, V]. */
interface RawStep extends StepResult {
  batchLogits: Float32Array;
}

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 (default) = greedy. */
  temperature?: number;
  seed?: number;
  /** Generation stops before any of these tokens (default: the model's EOS). */
  stopTokens?: number[];
  /** Prompt tokens per run when feeding a long prompt (default 512). */
  chunkSize?: number;
  /** Logits after the cache's last token, per sequence: needed when the prompt is empty (e.g. PrefillRecord.lastLogits). */
  lastLogits?: Float32Array[];
  /** Called after each decode run (benchmarks time the steps with it). */
  onStep?: () => void;
}

export interface GenerateResult {
  tokens: number[];
  stopReason: 'stop' | 'length' | 'context';
}

export interface AnswerLogLikelihood {
  sum: number;
  mean: number;
  tokenLogProbs: number[];
}

/** Spare slots a decode batch gets at a time (masked slots cost attention compute, growing costs a copy). */
const DECODE_SPARE_SLOTS = 64;

/** B sequences padded once into a decode batch with spare slots per layer (see stepPadded). */
interface DecodeBatch {
  layers: PaddedLayer[]; // length = capacity; slots at or after used[l] have bias −inf
  used: number[]; // per layer: slots filled (padding included)
  positions: number[]; // next absolute position per row
}

/** The same padded layer with `extra` more spare slots per row (bias −inf). */
function growLayer(p: PaddedLayer, rows: number, hd: number, extra: number): PaddedLayer {
  const P = p.length;
  const cap = P + extra;
  const out = maskedLayer(rows, cap, hd);
  for (let r = 0; r < rows; r++) {
    out.keys.set(p.keys.subarray(r * P * hd, (r + 1) * P * hd), r * cap * hd);
    out.values.set(p.values.subarray(r * P * hd, (r + 1) * P * hd), r * cap * hd);
    out.bias.set(p.bias.subarray(r * P, (r + 1) * P), r * cap);
    if (p.positions) out.positions!.set(p.positions.subarray(r * P, (r + 1) * P), r * cap);
  }
  return out;
}

interface RawRun {
  logits: Float32Array; // [B, n, V]
  n: number;
  outputs: Record<string, ort.Tensor>;
}

const i64 = (values: number[], dims: number[]) =>
  new ort.Tensor(
    'int64',
    BigInt64Array.from(values, (v) => BigInt(v)),
    dims,
  );

export class ModelRuntime {
  /** The host decode batches' buffers while no batch holds them (gatherOnHost). */
  private hostBatchBuffers: HostBatchBuffers | null = new HostBatchBuffers();
  private valueNormRunner: ValueNormRunner | null = null;
  private deviceValueNormRunner: DeviceValueNormRunner | null = null;
  private continuationScorer: ContinuationScorer | null = null;
  private deviceGather: DeviceGather | null = null;
  /** Threads of the value-norm session (the decoder session's setting). */
  private intraOpNumThreads: number | undefined;
  /** Host-side KV caches are float32; this converts at the graph boundary when the graph's cache is float16. */
  private readonly kv: KvCodec;

  private constructor(
    readonly model: LoadedModel,
    readonly graph: BuiltGraph,
    private readonly session: ort.InferenceSession,
    /** The device the session runs on (after any fallback to cpu). */
    readonly device: Device,
    readonly graphOptions: GraphOptions,
  ) {
    this.kv = new KvCodec(graphOptions.precision);
  }

  static async create(model: LoadedModel, opts: RuntimeOptions = {}): Promise<ModelRuntime> {
    // On the CPU the graph has no present outputs (no cache copy per run); device-resident caches need them.
    const base = opts.graphOptions ?? DEFAULT_GRAPH_OPTIONS;
    const onCpu = (opts.device ?? 'cpu') === 'cpu';
    const graphOptions: GraphOptions = base.presentOutputs === undefined && onCpu ? { ...base, presentOutputs: false } : base;
    const cacheDir = opts.cacheDir ?? graphCacheDir();
    // one line before anything large is written or allocated when the model cannot fit (memory-plan.ts)
    checkFits(
      model.source.path,
      model.spec,
      graphOptions.precision,
      opts.device ?? 'cpu',
      opts.contextTokens ?? Math.min(model.spec.maxPositionEmbeddings, 4096),
      {
        graphDir: cacheDir,
        graphBuilt: isGraphBuilt(model, graphOptions, cacheDir),
      },
    );
    const graph = ensureGraph(model, graphOptions, cacheDir);
    // WebGPU: present K/V/bias stay on the device (decode feeds them back); the host never reads them there
    // (SelfExtend feeds every past entry's position each step, so its decode stays on the host path)
    const gpuOutputs = graphOptions.selfExtend ? undefined : deviceResidentOutputs(model.spec.numLayers);
    const { session, device } = await createSession(graph.modelPath, { ...opts, gpuOutputs });
    const rt = new ModelRuntime(model, graph, session, device, graphOptions);
    rt.intraOpNumThreads = opts.intraOpNumThreads;
    return rt;
  }

  /** Decode keeps the KV cache on the device between steps (WebGPU); elsewhere caches are host arrays. */
  get deviceResident(): boolean {
    return this.device === 'webgpu' && !this.graphOptions.selfExtend;
  }

  /**
   * Bytes of host tensors fed to / fetched from the sessions so far (what crosses host↔device on a GPU), and how
   * many prefill caches were downloaded from the device (hostCache).
   */
  readonly io = { runs: 0, hostToDevice: 0, deviceToHost: 0, cacheDownloads: 0 };

  get spec(): ModelSpec {
    return this.model.spec;
  }

  emptyCache(): KvCache {
    return emptyCache(this.spec.numLayers);
  }

  async release(): Promise<void> {
    await this.session.release();
    await this.valueNormRunner?.release();
    await this.deviceValueNormRunner?.release();
    await this.continuationScorer?.release();
    await this.deviceGather?.release();
  }

  private async gatherOps(): Promise<DeviceGather> {
    this.deviceGather ??= await DeviceGather.create(this.spec, this.graphOptions.precision, this.kv, this.io);
    return this.deviceGather;
  }

  /**
   * The record's full cache on the host: downloaded from the device once (and kept in the record) when the
   * prefill left it there; counted in io.deviceToHost.
   */
  async hostCache(record: PrefillRecord): Promise<KvCache> {
    if (hasHostCache(record)) return record.cache;
    if (!record.device) throw new Error('internal: a prefill record without a host or device cache');
    const cache = await (await this.gatherOps()).downloadCache(record.device, record.tokens.length);
    this.io.cacheDownloads++;
    attachHostCache(record, cache);
    return cache;
  }

  /**
   * A decode batch on the host, row b holding the entries kept[b][l][h] of the prefill's cache, gathered straight
   * into the padded batch (no per-row cache to copy again); for scoring runs, which read it without extending it.
   */
  async gatherOnHost(record: PrefillRecord, kept: Int32Array[][][]): Promise<HostDecodeBatch> {
    if (kept.length === 0) throw new Error('internal: gatherOnHost of no rows');
    const cache = await this.hostCache(record);
    // one set of buffers, lent to one batch at a time; a batch gathered while they are lent gets buffers of its own
    const lent = this.hostBatchBuffers;
    this.hostBatchBuffers = null;
    const buffers = lent ?? new HostBatchBuffers();
    return HostDecodeBatch.gather(cache, kept, this.spec.numKvHeads, this.spec.headDim, buffers, () => {
      this.hostBatchBuffers ??= buffers;
    });
  }

  /**
   * A decode batch on the device, row b holding the entries kept[b][l][h] (ascending positions, per layer and KV
   * head) of the record's device-resident cache: only the kept indices are uploaded. The caller disposes it.
   */
  async gatherOnDevice(record: PrefillRecord, kept: Int32Array[][][]): Promise<DeviceDecodeCache> {
    if (!record.device) throw new Error('internal: gatherOnDevice needs a prefill whose cache is on the device');
    if (kept.length === 0) throw new Error('internal: gatherOnDevice of no rows');
    return (await this.gatherOps()).gather(record.device, kept, record.tokens.length);
  }

  /**
   * Continuation metrics of B candidates in one onnxruntime call (float64): per position the target's
   * log-probability, the KL from the reference distribution and the argmax. rows [B, n − k, V] predict the last
   * n − k targets, `first` (k = 1, shared by every candidate) or null (k = 0) the first; ref over the n positions.
   */
  async scoreContinuation(
    rows: Float32Array,
    first: Float32Array | null,
    B: number,
    targets: readonly number[],
    ref: ReferenceDistribution,
  ): Promise<ContinuationScores> {
    this.continuationScorer ??= await ContinuationScorer.create(this.spec.vocabSize, this.intraOpNumThreads);
    return this.continuationScorer.score(rows, first, B, targets, ref);
  }

  /**
   * The record's value-output norms (L × [Hkv, T], see PrefillRecord.valueNorms), computed once and kept in the
   * record: CriticalKV / DefensiveKV read them for every budget and candidate. The one place that picks the path:
   * a record whose K/V are on the device (WebGPU) gets float32 norms computed there (only the norms come down, the
   * cache stays), every other record the float64 graph on the CPU from its host cache.
   */
  async ensureValueNorms(record: PrefillRecord): Promise<Float64Array[]> {
    if (record.valueNorms) return record.valueNorms;
    if (record.device) {
      this.deviceValueNormRunner ??= await DeviceValueNormRunner.create(this.spec, this.model.weights, this.graphOptions.precision, this.io);
      record.valueNorms = await this.deviceValueNormRunner.norms(record.device, record.tokens.length);
      return record.valueNorms;
    }
    this.valueNormRunner ??= await ValueNormRunner.create(this.spec, this.model.weights, this.intraOpNumThreads);
    record.valueNorms = await this.valueNormRunner.norms(await this.hostCache(record), record.tokens.length);
    return record.valueNorms;
  }

  /** Every layer of B caches padded to one batch (kv_bias = −inf on the padding), plus `spare` slots. */
  private padAll(caches: KvCache[], spare = 0): PaddedLayer[] {
    const { numKvHeads: Hkv, headDim: hd, numLayers: L } = this.spec;
    return Array.from({ length: L }, (_, l) => padLayer(caches, l, Hkv, hd, spare));
  }

  /** A decode batch of `caches` with `spare` empty slots per layer (one copy of the caches). */
  private decodeBatch(caches: KvCache[], spare: number): DecodeBatch {
    const layers = this.padAll(caches, spare);
    return {
      layers,
      used: layers.map((p) => p.length - spare),
      positions: caches.map((c) => c.nextPosition),
    };
  }

  /**
   * One graph run over B sequences (tokens already padded to a common q, past already padded per layer or on the
   * device). `fetch`: the outputs the caller reads on the host; on WebGPU those that are GPU buffers (new K/V)
   * are downloaded, the presents are kept when `takePresents` (the caller advances its device cache), and every
   * other GPU output is disposed at once.
   */
  private async run(
    past: PaddedLayer[] | DeviceDecodeCache,
    tokens: number[][],
    positions: number[][],
    numLogits: number,
    window: number,
    fetch: string[],
    takePresents = false,
  ): Promise<RawRun> {
    const { numKvHeads: Hkv, headDim: hd, numLayers: L, vocabSize: V } = this.spec;
    const B = tokens.length;
    const q = tokens[0].length;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: i64(tokens.flat(), [B, q]),
      position_ids: i64(positions.flat(), [B, q]),
      num_logits: i64([numLogits], [1]),
      attn_window: i64([window], [1]),
      [ioNames.statsKeys]: i64([Number.MAX_SAFE_INTEGER], [1]), // all keys
    };
    if (past instanceof DeviceDecodeCache) {
      past.addFeeds(feeds);
      // statistics of all keys only when asked for (a prefill's); the scorers never see decode statistics
      if (!fetch.includes(ioNames.attnColsum(0))) feeds[ioNames.statsKeys] = i64([0], [1]);
    } else {
      for (let l = 0; l < L; l++) {
        const p = past[l];
        feeds[ioNames.pastKey(l)] = this.kv.tensor(p.keys, [B, Hkv, p.length, hd]);
        feeds[ioNames.pastValue(l)] = this.kv.tensor(p.values, [B, Hkv, p.length, hd]);
        feeds[ioNames.kvBias(l)] = new ort.Tensor('float32', p.bias, [B, Hkv, 1, p.length]);
      }
    }
    if (this.graphOptions.selfExtend) Object.assign(feeds, pastPositionFeed(past as PaddedLayer[], B, Hkv));
    // With per-output locations (WebGPU), onnxruntime-node 1.30 fails or mislabels outputs when a subset is
    // fetched ("Output count mismatch"), so every output is fetched there; the presents stay GPU buffers.
    const outputs: Record<string, ort.Tensor> = this.deviceResident
      ? { ...(await this.session.run(feeds)) }
      : await this.session.run(feeds, ['logits', ...fetch]);
    this.io.runs++;
    this.io.hostToDevice += hostBytes(Object.values(feeds));
    this.io.deviceToHost += hostBytes(Object.values(outputs));
    if (this.deviceResident) {
      const taken = new Set<string>();
      if (takePresents) for (let l = 0; l < L; l++) taken.add(ioNames.presentKey(l)).add(ioNames.presentValue(l)).add(ioNames.presentBias(l));
      for (const name of fetch) {
        const t = outputs[name];
        if (t.location !== 'gpu-buffer') continue;
        outputs[name] = await (await this.gatherOps()).downloadTensor(t);
        t.dispose();
      }
      releaseDeviceOutputs(outputs, taken);
    }
    const n = outputs.logits.dims[1];
    if (outputs.logits.dims[2] !== V) throw new Error('internal: logits width differs from vocabSize');
    return { logits: outputs.logits.data as Float32Array, n, outputs };
  }

  private checkContext(cache: KvCache, added: number, what: string): void {
    const ctx = this.spec.maxPositionEmbeddings;
    if (cache.nextPosition + added > ctx) {
      throw new KvoptError(
        `${what}: ${cache.nextPosition} cached + ${added} new tokens = ${cache.nextPosition + added} positions exceed the model context of ${ctx}`,
      );
    }
  }

  private checkCache(cache: KvCache): void {
    const { numLayers: L, numKvHeads: Hkv, headDim: hd } = this.spec;
    if (cache.layers.length !== L) throw new KvoptError(`KV cache has ${cache.layers.length} layers, the model has ${L}`);
    for (const [l, c] of cache.layers.entries()) {
      if (c.keys.length !== Hkv * c.length * hd || c.values.length !== c.keys.length || c.bias.length !== Hkv * c.length) {
        throw new KvoptError(`KV cache layer ${l}: arrays do not match length ${c.length} × ${Hkv} heads × head size ${hd}`);
      }
    }
  }

  private checkTokens(tokens: number[], what: string): void {
    const V = this.spec.vocabSize;
    for (const t of tokens) {
      if (!Number.isInteger(t) || t < 0 || t >= V) throw new KvoptError(`${what}: token id ${t} is outside the vocabulary [0, ${V})`);
    }
  }

  /**
   * Runs the prompt in chunks and records the full cache, the softmax rows of the last w prompt queries over
   * all T keys, and per-key attention column sums over all T queries (PrefillRecord). On WebGPU the cache grows
   * on the device chunk by chunk and stays there (record.device); only the statistics and logits come down.
   */
  async prefill(tokens: number[], opts: PrefillOptions = {}): Promise<PrefillRecord> {
    const t0 = performance.now();
    const { numLayers: L, numHeads: H, numKvHeads: Hkv, headDim: hd, vocabSize: V, maxPositionEmbeddings: ctx } = this.spec;
    const T = tokens.length;
    if (T === 0) throw new KvoptError('prefill: the prompt has no tokens');
    if (T > ctx) throw new KvoptError(`prefill: the prompt has ${T} tokens, longer than the model context of ${ctx}`);
    this.checkTokens(tokens, 'prefill');
    const chunkSize = opts.chunkSize ?? 512;
    if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new KvoptError(`prefill: chunkSize must be a positive integer, got ${chunkSize}`);
    const w = Math.min(opts.window ?? 32, T);
    if (!Number.isInteger(w) || w < 0) throw new KvoptError(`prefill: window must be a non-negative integer, got ${opts.window}`);

    const windowAttention = Array.from({ length: L }, () => new Float32Array(H * w * T)); // L × [H, w, T]
    const columnSums = Array.from({ length: L }, () => new Float32Array(H * T)); // L × [H, T]
    let cache = this.emptyCache();
    const device = this.deviceResident ? DeviceDecodeCache.upload(this.padAll([cache]), [0], Hkv, hd, this.kv) : null;
    let lastLogits = new Float32Array(V);
    const fetch: string[] = [];
    // on the host: new_key/new_value, appended here (the CPU graph has no presents); on the device: the presents
    for (let l = 0; l < L; l++) fetch.push(ioNames.attnColsum(l), ioNames.attnWindow(l));
    if (!device) for (let l = 0; l < L; l++) fetch.push(ioNames.newKey(l), ioNames.newValue(l));

    for (let s = 0; s < T; s += chunkSize) {
      const e = Math.min(s + chunkSize, T);
      const q = e - s;
      // rows of this chunk that are among the last w prompt queries: always the chunk's last ones
      const rows = Math.max(0, e - Math.max(s, T - w));
      const positions = Array.from({ length: q }, (_, i) => s + i);
      const r = await this.run(device ?? this.padAll([cache]), [tokens.slice(s, e)], [positions], 1, rows, fetch, device !== null);
      const layers = [];
      for (let l = 0; l < L; l++) {
        const colsum = r.outputs[ioNames.attnColsum(l)].data as Float32Array; // [1, H, e]
        const sums = columnSums[l];
        for (let h = 0; h < H; h++) for (let t = 0; t < e; t++) sums[h * T + t] += colsum[h * e + t];
        if (rows > 0) {
          const win = r.outputs[ioNames.attnWindow(l)].data as Float32Array; // [1, H, rows, e]
          const first = e - rows - (T - w); // window row of the first returned query
          for (let h = 0; h < H; h++) {
            for (let i = 0; i < rows; i++) {
              windowAttention[l].set(win.subarray((h * rows + i) * e, (h * rows + i + 1) * e), (h * w + first + i) * T);
            }
          }
        }
        if (!device)
          layers.push(appendLayer(cache.layers[l], this.kv.read(r.outputs[ioNames.newKey(l)]), this.kv.read(r.outputs[ioNames.newValue(l)]), 0, q, q, Hkv, hd));
      }
      if (device) device.advance(r.outputs, q);
      else cache = { layers, nextPosition: e };
      if (e === T) lastLogits = r.logits.slice(0, V);
    }
    const fields = { tokens: [...tokens], windowAttention, window: w, attentionColumnSums: columnSums, lastLogits, ms: performance.now() - t0 };
    return device ? deviceRecord(fields, device) : { ...fields, cache };
  }

  /**
   * Runs new tokens over B caches in one batched run: tokens[b] continue caches[b] at its nextPosition.
   * Returns logits per sequence and the extended caches (padding dropped; new entries have bias 0). A device batch
   * (gatherOnDevice) is extended in place when the caches are kept (then `caches` is []); its rows take tokens
   * of one length.
   */
  async step(caches: KvCache[] | DeviceDecodeCache, tokens: number[][], opts: { logits?: 'last' | 'all'; keepCaches?: boolean } = {}): Promise<StepResult> {
    return this.stepInternal(caches, tokens, opts.logits ?? 'last', opts.keepCaches ?? true);
  }

  /**
   * The logits of the last `rows` positions of `tokens`, fed after every cache in one batched run that leaves the
   * caches as they are: [B, rows, V] in onnxruntime's own output buffer (no copy), as the continuation scoring
   * graph takes it. Only those rows go through the output head.
   */
  async logitsAfter(caches: KvCache[] | GatheredBatch, tokens: number[], rows: number): Promise<Float32Array> {
    if (!Number.isInteger(rows) || rows < 1 || rows > tokens.length) throw new Error(`internal: logitsAfter of ${rows} rows of ${tokens.length} tokens`);
    const B = Array.isArray(caches) ? caches.length : caches.rows;
    const r = await this.stepInternal(
      caches,
      Array.from({ length: B }, () => tokens),
      rows,
      false,
    );
    return r.batchLogits;
  }

  /**
   * step() on a gathered batch (gatherOnDevice, gatherOnHost): every row gets the same number of tokens (no row can
   * be padded inside it). A device batch is extended in place when the caches are kept; a host batch is only read.
   */
  private async stepGathered(batch: GatheredBatch, tokens: number[][], mode: LogitRows, keepCaches: boolean): Promise<RawStep> {
    const V = this.spec.vocabSize;
    const what = batch instanceof DeviceDecodeCache ? 'device batch' : 'gathered batch';
    if (tokens.length !== batch.rows) throw new KvoptError(`step: a ${what} of ${batch.rows} rows but ${tokens.length} token lists`);
    if (keepCaches && batch instanceof HostDecodeBatch) throw new Error('internal: a host decode batch is read by scoring runs, never extended');
    const q = tokens[0]?.length ?? 0;
    tokens.forEach((t, b) => {
      if (t.length !== q || q === 0)
        throw new KvoptError(`step: sequence ${b} of a ${what} has ${t.length} tokens; every row needs the same number, at least 1`);
      this.checkTokens(t, `step (sequence ${b})`);
      const ctx = this.spec.maxPositionEmbeddings;
      if (batch.nextPositions[b] + q > ctx)
        throw new KvoptError(`step (sequence ${b}): ${batch.nextPositions[b]} cached + ${q} new tokens exceed the model context of ${ctx}`);
    });
    const positions = batch.nextPositions.map((p) => Array.from({ length: q }, (_, i) => p + i));
    const n = mode === 'all' ? q : mode === 'last' ? 1 : mode;
    const r = await this.run(batch instanceof DeviceDecodeCache ? batch : batch.layers, tokens, positions, n, 0, [], keepCaches);
    if (keepCaches && batch instanceof DeviceDecodeCache) batch.advance(r.outputs, q);
    const logits = tokens.map((_, b) => r.logits.subarray(b * n * V, (b + 1) * n * V));
    return { logits, caches: [], batchLogits: r.logits };
  }

  private async stepInternal(caches: KvCache[] | GatheredBatch, tokens: number[][], mode: LogitRows, keepCaches: boolean): Promise<RawStep> {
    if (!Array.isArray(caches)) return this.stepGathered(caches, tokens, mode, keepCaches);
    const { numLayers: L, numKvHeads: Hkv, headDim: hd, vocabSize: V } = this.spec;
    if (caches.length === 0 || caches.length !== tokens.length) {
      throw new KvoptError(`step: ${caches.length} caches but ${tokens.length} token lists (need the same number, at least 1)`);
    }
    const lens = tokens.map((t) => t.length);
    caches.forEach((c, b) => {
      if (lens[b] === 0) throw new KvoptError(`step: sequence ${b} has no new tokens`);
      this.checkCache(c);
      this.checkTokens(tokens[b], `step (sequence ${b})`);
      this.checkContext(c, lens[b], `step (sequence ${b})`);
    });
    const q = Math.max(...lens);
    const padded = tokens.map((t) => [...t, ...new Array(q - t.length).fill(0)]);
    const positions = caches.map((c) => Array.from({ length: q }, (_, i) => c.nextPosition + i));
    const n = mode === 'all' ? q : mode === 'last' ? q - Math.min(...lens) + 1 : mode;
    if (typeof mode === 'number' && lens.some((len) => len !== q)) throw new Error('internal: rows of logits of sequences of different lengths');
    const fetch: string[] = [];
    if (keepCaches) for (let l = 0; l < L; l++) fetch.push(ioNames.newKey(l), ioNames.newValue(l));
    const r = await this.run(this.padAll(caches), padded, positions, n, 0, fetch);

    // 'all' and row counts: views into the run's output (no copy); 'last': one small row each
    const logits = caches.map((_, b) => {
      const base = (b * n + (n - q)) * V; // row of local position 0 (negative offsets never read)
      if (mode === 'last') return r.logits.slice(base + (lens[b] - 1) * V, base + lens[b] * V);
      return mode === 'all' ? r.logits.subarray(base, base + lens[b] * V) : r.logits.subarray(b * n * V, (b + 1) * n * V);
    });
    if (!keepCaches) return { logits, caches: [], batchLogits: r.logits };
    const out = caches.map((c, b) => ({
      layers: c.layers.map((layer, l) =>
        appendLayer(layer, this.kv.read(r.outputs[ioNames.newKey(l)]), this.kv.read(r.outputs[ioNames.newValue(l)]), b, q, lens[b], Hkv, hd, c.nextPosition),
      ),
      nextPosition: c.nextPosition + lens[b],
    }));
    return { logits, caches: out, batchLogits: r.logits };
  }

  /**
   * One decode token for every row of a decode batch. The batch is padded once with spare slots (bias −inf); each
   * step writes the new K/V into the next spare slot and sets its bias to 0, so the input buffers are reused and
   * only this step's new entries come back from onnxruntime (no per-step re-layout or large output copies).
   */
  private async stepPadded(batch: DecodeBatch, tokens: number[]): Promise<Float32Array[]> {
    const { numLayers: L, numKvHeads: Hkv, headDim: hd, vocabSize: V } = this.spec;
    const B = tokens.length;
    for (let l = 0; l < L; l++) if (batch.used[l] === batch.layers[l].length) batch.layers[l] = growLayer(batch.layers[l], B * Hkv, hd, DECODE_SPARE_SLOTS);
    const fetch: string[] = [];
    for (let l = 0; l < L; l++) fetch.push(ioNames.newKey(l), ioNames.newValue(l));
    const r = await this.run(
      batch.layers,
      tokens.map((t) => [t]),
      batch.positions.map((p) => [p]),
      1,
      0,
      fetch,
    );
    for (let l = 0; l < L; l++) {
      const layer = batch.layers[l];
      const cap = layer.length;
      const slot = batch.used[l]++;
      const newK = this.kv.read(r.outputs[ioNames.newKey(l)]); // [B, Hkv, 1, hd]
      const newV = this.kv.read(r.outputs[ioNames.newValue(l)]);
      for (let row = 0; row < B * Hkv; row++) {
        layer.keys.set(newK.subarray(row * hd, (row + 1) * hd), (row * cap + slot) * hd);
        layer.values.set(newV.subarray(row * hd, (row + 1) * hd), (row * cap + slot) * hd);
        layer.bias[row * cap + slot] = 0;
        if (layer.positions) layer.positions[row * cap + slot] = batch.positions[Math.floor(row / Hkv)];
      }
    }
    for (let b = 0; b < B; b++) batch.positions[b]++;
    return tokens.map((_, b) => r.logits.slice(b * V, (b + 1) * V));
  }

  /** One decode token per row with the cache on the device: only ids/positions go up, only logits come down. */
  private async stepOnDevice(dev: DeviceDecodeCache, batch: DecodeBatch, tokens: number[]): Promise<Float32Array[]> {
    const V = this.spec.vocabSize;
    const r = await this.run(
      dev,
      tokens.map((t) => [t]),
      batch.positions.map((p) => [p]),
      1,
      0,
      [],
      true,
    );
    dev.advance(r.outputs);
    for (let b = 0; b < tokens.length; b++) batch.positions[b]++;
    return tokens.map((_, b) => r.logits.slice(b * V, (b + 1) * V));
  }

  /** Generates from one cache (null = empty) after feeding promptTokens. */
  async generate(cache: KvCache | null, promptTokens: number[], opts: GenerateOptions): Promise<GenerateResult> {
    return (await this.generateBatch([cache], [promptTokens], opts))[0];
  }

  /**
   * Generates for B caches together (one batched run per new token). Every sequence uses its own sampler seeded
   * with `seed`, so a sequence generates the same tokens alone or in a batch. A device batch (gatherOnDevice) is
   * decoded where it is, its prompts of one length; it is extended in place and stays the caller's to dispose.
   */
  async generateBatch(caches: (KvCache | null)[] | DeviceDecodeCache, promptTokens: number[][], opts: GenerateOptions): Promise<GenerateResult[]> {
    const { maxPositionEmbeddings: ctx, eosTokenId } = this.spec;
    const B = caches instanceof DeviceDecodeCache ? caches.rows : caches.length;
    if (promptTokens.length !== B) throw new KvoptError(`generate: ${B} caches but ${promptTokens.length} prompts`);
    if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 0) {
      throw new KvoptError(`generate: maxNewTokens must be a non-negative integer, got ${opts.maxNewTokens}`);
    }
    const temperature = opts.temperature ?? 0;
    if (!(temperature >= 0)) throw new KvoptError(`generate: temperature must be >= 0, got ${temperature}`);
    const stop = new Set(opts.stopTokens ?? (eosTokenId !== null ? [eosTokenId] : []));
    const chunkSize = opts.chunkSize ?? 512;
    const logits: Float32Array[] = new Array(B);

    // Feed the prompts: one batched run when they all fit in a chunk, else chunk by chunk per sequence.
    const fed = promptTokens.map((p) => p.length > 0);
    for (let b = 0; b < B; b++) {
      if (!fed[b]) {
        const given = opts.lastLogits?.[b];
        if (!given) throw new KvoptError(`generate: sequence ${b} has an empty prompt and no lastLogits to start from`);
        logits[b] = given;
      }
    }
    const samplers = promptTokens.map(() => makeSampler(temperature, opts.seed ?? 0));
    if (caches instanceof DeviceDecodeCache) {
      // prompts of one length (stepGathered checks), fed chunk by chunk to every row at once
      const q = promptTokens[0].length;
      for (let s = 0; s < q; s += chunkSize) {
        const r = await this.stepGathered(
          caches,
          promptTokens.map((p) => p.slice(s, s + chunkSize)),
          'last',
          true,
        );
        r.logits.forEach((row, b) => (logits[b] = row));
      }
      const batch: DecodeBatch = { layers: [], used: [], positions: [...caches.nextPositions] };
      return this.decodeLoop(batch, caches, logits, samplers, stop, ctx, opts, B);
    }
    const current = caches.map((c) => c ?? this.emptyCache());
    const toFeed = [...Array(B).keys()].filter((b) => fed[b]);
    if (toFeed.length > 0 && Math.max(...toFeed.map((b) => promptTokens[b].length)) <= chunkSize) {
      const r = await this.step(
        toFeed.map((b) => current[b]),
        toFeed.map((b) => promptTokens[b]),
      );
      toFeed.forEach((b, i) => {
        current[b] = r.caches[i];
        logits[b] = r.logits[i];
      });
    } else {
      for (const b of toFeed) {
        for (let s = 0; s < promptTokens[b].length; s += chunkSize) {
          const r = await this.step([current[b]], [promptTokens[b].slice(s, s + chunkSize)]);
          current[b] = r.caches[0];
          logits[b] = r.logits[0];
        }
      }
    }

    // Decode with the batch padded once; finished rows ride along with a dummy token (their outputs are ignored).
    // On WebGPU the padded batch is uploaded once and its cache then stays on the device (DeviceDecodeCache).
    const batch = this.decodeBatch(current, this.deviceResident ? 0 : Math.min(Math.max(opts.maxNewTokens - 1, 1), DECODE_SPARE_SLOTS));
    const onDevice = this.deviceResident ? DeviceDecodeCache.upload(batch.layers, batch.positions, this.spec.numKvHeads, this.spec.headDim, this.kv) : null;
    try {
      return await this.decodeLoop(batch, onDevice, logits, samplers, stop, ctx, opts, B);
    } finally {
      onDevice?.dispose();
    }
  }

  private async decodeLoop(
    batch: DecodeBatch,
    onDevice: DeviceDecodeCache | null,
    logits: Float32Array[],
    samplers: ((l: Float32Array) => number)[],
    stop: Set<number>,
    ctx: number,
    opts: GenerateOptions,
    B: number,
  ): Promise<GenerateResult[]> {
    const results: GenerateResult[] = samplers.map(() => ({ tokens: [], stopReason: 'length' }));
    const done = new Array<boolean>(B).fill(false);
    for (;;) {
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        done[b] = true;
        if (results[b].tokens.length >= opts.maxNewTokens) continue;
        const tok = samplers[b](logits[b]);
        if (stop.has(tok)) {
          results[b].stopReason = 'stop';
          continue;
        }
        results[b].tokens.push(tok);
        if (results[b].tokens.length >= opts.maxNewTokens) continue;
        if (batch.positions[b] >= ctx) {
          results[b].stopReason = 'context';
          continue;
        }
        done[b] = false;
      }
      if (done.every(Boolean)) break;
      const next = results.map((res, b) => (done[b] ? 0 : res.tokens.at(-1)!));
      const stepLogits = onDevice ? await this.stepOnDevice(onDevice, batch, next) : await this.stepPadded(batch, next);
      for (let b = 0; b < B; b++) if (!done[b]) logits[b] = stepLogits[b];
      opts.onStep?.();
    }
    return results;
  }

  /**
   * log p(answer | cache, prefix) for B sequences in one batched run. prefixTokens[b] may be empty only when
   * opts.lastLogits[b] (the logits after the cache's last token) is given. A device batch (left unchanged) needs
   * prefix + answer of one length in every row.
   */
  async answerLogLikelihood(
    caches: KvCache[] | GatheredBatch,
    prefixTokens: number[][],
    answerTokens: number[][],
    opts: { lastLogits?: Float32Array[] } = {},
  ): Promise<AnswerLogLikelihood[]> {
    const B = Array.isArray(caches) ? caches.length : caches.rows;
    if (prefixTokens.length !== B || answerTokens.length !== B) {
      throw new KvoptError(`answerLogLikelihood: ${B} caches, ${prefixTokens.length} prefixes and ${answerTokens.length} answers (need equal counts)`);
    }
    const inputs = prefixTokens.map((_, b) => {
      if (answerTokens[b].length === 0) throw new KvoptError(`answerLogLikelihood: answer ${b} has no tokens`);
      if (prefixTokens[b].length === 0 && !opts.lastLogits?.[b]) {
        throw new KvoptError(`answerLogLikelihood: sequence ${b} has an empty prefix and no lastLogits`);
      }
      // the last answer token is only predicted, never fed
      return [...prefixTokens[b], ...answerTokens[b].slice(0, -1)];
    });
    const runIdx = [...Array(B).keys()].filter((b) => inputs[b].length > 0);
    const rows: Float32Array[] = new Array(B);
    if (runIdx.length > 0) {
      const r = !Array.isArray(caches)
        ? await this.stepGathered(caches, inputs, 'all', false) // every row: one input length (stepGathered checks)
        : await this.stepInternal(
            runIdx.map((b) => caches[b]),
            runIdx.map((b) => inputs[b]),
            'all',
            false,
          );
      runIdx.forEach((b, i) => (rows[b] = r.logits[i]));
    }
    const V = this.spec.vocabSize;
    return prefixTokens.map((_, b) => {
      const P = prefixTokens[b].length;
      const tokenLogProbs = answerTokens[b].map((tok, j) => {
        const row = P === 0 ? (j === 0 ? opts.lastLogits![b] : rows[b].subarray((j - 1) * V, j * V)) : rows[b].subarray((P - 1 + j) * V, (P + j) * V);
        return logProbOf(row, tok);
      });
      const sum = tokenLogProbs.reduce((a, x) => a + x, 0);
      return { sum, mean: sum / tokenLogProbs.length, tokenLogProbs };
    });
  }
}
