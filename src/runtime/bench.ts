/**
 * `kvopt bench runtime`: prefill and decode throughput (batch 1 and batch N), peak RSS, KV bytes per token, graph
 * build time (cold into a scratch cache folder, then cached), and the memory-bandwidth bound of decode.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { LoadedModel } from '../model/spec.ts';
import { parameterCount } from '../model/spec.ts';
import { mulberry32 } from '../util/mulberry32.ts';
import { DATA_FILE, ensureGraph } from '../graph/cache.ts';
import { parameterCountOfSpec } from '../model/random-lazy.ts';
import { checkFits } from './memory-plan.ts';
import { graphOptionsFor, type Precision } from '../graph/llama.ts';
import type { SelfExtendOptions } from '../graph/self-extend.ts';
import type { GraphOptions } from '../graph/llama.ts';
import { ModelRuntime } from './runtime.ts';
import type { Device } from './types.ts';

export interface BenchOptions {
  batch: number;
  promptTokens: number;
  decodeTokens: number;
  device?: Device;
  requireDevice?: boolean;
  precision?: Precision;
  intraOpNumThreads?: number;
  /** Size of the arrays of the bandwidth measurement (default 256 MiB). */
  bandwidthMiB?: number;
  /** Benchmark the SelfExtend graph. */
  selfExtend?: SelfExtendOptions;
  /** The device's memory bandwidth (GB/s, e.g. 4800 for an H200): the decode bound uses it instead of host memcpy. */
  deviceBandwidthGBs?: number;
}

export interface BenchResult {
  model: string;
  parameters: number;
  device: Device;
  threads: number | null;
  /** Graph options benchmarked (SelfExtend shows here). */
  graphOptions: GraphOptions;
  graphBuildColdMs: number;
  graphBuildCachedMs: number;
  sessionCreateMs: number;
  promptTokens: number;
  prefillTokensPerSec: number;
  decodeTokens: number;
  decodeTokensPerSecBatch1: number;
  decodeStepMsBatch1: { median: number; min: number };
  batch: number;
  decodeTokensPerSecBatchN: number;
  decodeStepMsBatchN: { median: number; min: number };
  /** 1-minute load average at the end (figures from a busy machine are not comparable). */
  loadAverage: number;
  peakRssBytes: number;
  kvBytesPerToken: number;
  weightBytes: number;
  /** Memory bandwidth from a one-thread native copy (read + write bytes), GB/s. */
  memoryBandwidthGBs: number;
  /** Decode tokens/s at batch 1 if every step only read weights + KV at the measured bandwidth. */
  decodeBoundTokensPerSec: number;
  /** decodeTokensPerSecBatch1 / decodeBoundTokensPerSec. */
  fractionOfBandwidthBound: number;
  /** 'device' when --device-bandwidth-gbs gave the bandwidth, else 'host-memcpy'. */
  bandwidthSource: 'device' | 'host-memcpy';
  /** Graph precision of weights and KV cache. */
  dtype: Precision;
  /**
   * Bytes crossing host↔device per decode step at batch 1 (median over the steps after the first; feeds and
   * outputs that are host tensors). With the cache on the device (WebGPU) this is ids, positions and logits; with
   * host-resident I/O (CPU, CUDA) it is the whole past cache in and this step's entries out.
   */
  hostDeviceBytesPerStep: number;
  /** The first decode step's bytes (uploads the cache when decode starts from host caches). */
  hostDeviceBytesFirstStep: number;
  /** Bytes up and down during the measured prefill (with the cache on the device: tokens up; statistics and logits down). */
  prefillHostToDeviceBytes: number;
  prefillDeviceToHostBytes: number;
  /**
   * One compressed item's bytes when the cache stays on the device (WebGPU): the gather of its kept entries from
   * the prefill's device cache, here every entry (the largest item; compression keeps fewer). Up: the int32 kept
   * indices only; down: nothing. null when the prefill's cache is on the host.
   */
  gatherHostToDeviceBytes: number | null;
  gatherDeviceToHostBytes: number | null;
  /**
   * CriticalKV/DefensiveKV's value norms of the measured prefill when its cache stays on the device (WebGPU),
   * computed there: down, the float32 norms (L·Hkv·T·4 bytes per prefill; the cache never comes down for them);
   * up, W_o per head (once per session, so here) and a token range per run. null when the cache is on the host.
   */
  valueNormsHostToDeviceBytes: number | null;
  valueNormsDeviceToHostBytes: number | null;
  /** gatherHostToDeviceBytes / the prompt's cache bytes (T tokens). */
  gatherFractionOfCache: number | null;
  /** KV cache bytes at the decode context (batch 1, graph precision). */
  cacheBytesAtContext: number;
  /** hostDeviceBytesPerStep / cacheBytesAtContext. */
  hostDeviceFractionOfCache: number;
  /** true when decode keeps the cache on the device between steps. */
  deviceResidentCache: boolean;
}

/**
 * Memory bandwidth of this machine as seen from one thread, GB/s: the best of a few native copies
 * (TypedArray.set = memcpy; bytes read + written) of an array much larger than the CPU caches.
 */
export function measureCopyBandwidth(mib = 256): number {
  const src = new Float32Array((mib * 2 ** 20) / 4);
  const dst = new Float32Array(src.length);
  src.fill(1);
  dst.fill(0); // touch every page before timing
  let best = 0;
  for (let rep = 0; rep < 4; rep++) {
    const t0 = performance.now();
    dst.set(src);
    best = Math.max(best, (2 * src.byteLength) / ((performance.now() - t0) / 1000) / 1e9);
  }
  return best;
}

export interface BuildResult {
  model: string;
  parameters: number;
  dtype: Precision;
  graphBuildColdMs: number;
  /** Size of model.onnx_data (the weights in the graph's precision). */
  graphDataBytes: number;
  /** The same weights in float32: what a non-streamed build would have held in memory at least. */
  fp32WeightBytes: number;
  /** Peak resident memory of the process during the build. */
  peakRssBytes: number;
  loadAverage: number;
}

/** Builds the graph only (streamed weights), into a scratch folder removed afterwards: time, size and peak RSS. */
export function benchBuild(model: LoadedModel, precision: Precision): BuildResult {
  const scratch = mkdtempSync(join(tmpdir(), 'kvopt-bench-build-'));
  try {
    const parameters = parameterCountOfSpec(model.spec);
    checkFits(model.source.path, model.spec, precision, 'cpu', 1, { graphDir: scratch });
    const g = ensureGraph(model, graphOptionsFor(precision), scratch);
    return {
      model: model.source.path,
      parameters,
      dtype: precision,
      graphBuildColdMs: g.buildMs,
      graphDataBytes: statSync(join(dirname(g.modelPath), DATA_FILE)).size,
      fp32WeightBytes: parameters * 4,
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      loadAverage: loadavg()[0],
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export async function benchRuntime(model: LoadedModel, opts: BenchOptions): Promise<BenchResult> {
  const { spec } = model;
  const graphOptions = graphOptionsFor(opts.precision ?? 'fp32', opts.selfExtend);
  const contextTokens = Math.min(spec.maxPositionEmbeddings, opts.promptTokens + opts.decodeTokens);
  // before the scratch build: a model that cannot fit says so in one line, having allocated nothing
  checkFits(model.source.path, spec, graphOptions.precision, opts.device ?? 'cpu', contextTokens, { batch: opts.batch });
  const scratch = mkdtempSync(join(tmpdir(), 'kvopt-bench-'));
  try {
    const cold = ensureGraph(model, graphOptions, scratch);
    const t1 = performance.now();
    ensureGraph(model, graphOptions, scratch);
    const cachedMs = performance.now() - t1;
    const t2 = performance.now();
    const rt = await ModelRuntime.create(model, {
      cacheDir: scratch,
      device: opts.device,
      requireDevice: opts.requireDevice,
      intraOpNumThreads: opts.intraOpNumThreads,
      graphOptions,
      contextTokens,
    });
    const sessionCreateMs = performance.now() - t2;

    const T = Math.max(1, Math.min(opts.promptTokens, spec.maxPositionEmbeddings - opts.decodeTokens));
    const rand = mulberry32(7);
    const prompt = Array.from({ length: T }, () => 3 + Math.floor(rand() * (spec.vocabSize - 3)));
    (await rt.prefill(prompt.slice(0, Math.min(8, T)))).device?.dispose(); // warm-up
    const io0 = { ...rt.io };
    const rec = await rt.prefill(prompt, { window: 32 });
    const prefillTps = T / (rec.ms / 1000);
    const prefillIo = { up: rt.io.hostToDevice - io0.hostToDevice, down: rt.io.deviceToHost - io0.deviceToHost };
    // every entry of every head: what decode starts from on the device (gatherOnDevice), the largest item
    const allKept = Array.from({ length: spec.numLayers }, () => Array.from({ length: spec.numKvHeads }, () => Int32Array.from({ length: T }, (_, j) => j)));
    let gatherIo: { up: number; down: number } | null = null;
    if (rec.device) {
      const before = { ...rt.io };
      (await rt.gatherOnDevice(rec, [allKept])).dispose();
      gatherIo = { up: rt.io.hostToDevice - before.hostToDevice, down: rt.io.deviceToHost - before.deviceToHost };
    }
    let normsIo: { up: number; down: number } | null = null;
    if (rec.device) {
      const before = { ...rt.io };
      await rt.ensureValueNorms(rec);
      normsIo = { up: rt.io.hostToDevice - before.hostToDevice, down: rt.io.deviceToHost - before.deviceToHost };
    }
    /** B rows of the full prompt cache: a device batch gathered from the prefill's, or host caches. */
    const rows = async (B: number) =>
      rec.device
        ? rt.gatherOnDevice(
            rec,
            Array.from({ length: B }, () => allKept),
          )
        : Array.from({ length: B }, () => rec.cache);

    /** tokens/s over the whole loop, and the median and fastest step (contention on a shared CPU shows in the gap). */
    const ioSteps: number[] = [];
    const decode = async (B: number): Promise<{ tps: number; medianMs: number; minMs: number }> => {
      const prompts = Array.from({ length: B }, () => []);
      const lastLogits = prompts.map(() => rec.lastLogits);
      // warm-up: the first runs at a new batch size allocate
      const warm = await rows(B);
      await rt.generateBatch(warm, prompts, { maxNewTokens: 3, stopTokens: [], lastLogits });
      if (!Array.isArray(warm)) warm.dispose();
      const caches = await rows(B);
      const steps: number[] = [];
      ioSteps.length = 0;
      const ioTotal = () => rt.io.hostToDevice + rt.io.deviceToHost;
      let io0 = ioTotal();
      let t0 = performance.now();
      const onStep = () => {
        const now = performance.now();
        steps.push(now - t0);
        t0 = now;
        ioSteps.push(ioTotal() - io0);
        io0 = ioTotal();
      };
      // decodeTokens + 1 tokens = decodeTokens runs (the last token is sampled, never fed)
      await rt.generateBatch(caches, prompts, { maxNewTokens: opts.decodeTokens + 1, stopTokens: [], lastLogits, onStep });
      if (!Array.isArray(caches)) caches.dispose();
      const total = steps.reduce((a, b) => a + b, 0);
      steps.sort((a, b) => a - b);
      return { tps: (B * steps.length) / (total / 1000), medianMs: steps[steps.length >> 1], minMs: steps[0] };
    };
    const decode1 = await decode(1);
    const io1 = [...ioSteps];
    const decodeN = await decode(opts.batch);
    rec.device?.dispose();
    await rt.release();

    const bpe = graphOptions.precision === 'fp16' ? 2 : 4;
    const kvBytesPerToken = 2 * spec.numLayers * spec.numKvHeads * spec.headDim * bpe;
    const parameters = model.streamed ? parameterCountOfSpec(spec) : parameterCount(model.weights);
    const weightBytes = parameters * bpe;
    const later = io1.slice(1).sort((a, b) => a - b);
    const perStep = later.length ? later[later.length >> 1] : (io1[0] ?? 0);
    const cacheBytesAtContext = kvBytesPerToken * (T + Math.floor(opts.decodeTokens / 2));
    const peakRssBytes = process.resourceUsage().maxRSS * 1024; // before the bandwidth arrays
    const bw = opts.deviceBandwidthGBs ?? measureCopyBandwidth(opts.bandwidthMiB ?? 256);
    const avgContext = T + opts.decodeTokens / 2;
    return {
      model: model.source.path,
      graphOptions,
      parameters,
      device: rt.device,
      threads: opts.intraOpNumThreads ?? null,
      graphBuildColdMs: cold.buildMs,
      graphBuildCachedMs: cachedMs,
      sessionCreateMs,
      promptTokens: T,
      prefillTokensPerSec: prefillTps,
      decodeTokens: opts.decodeTokens,
      decodeTokensPerSecBatch1: decode1.tps,
      decodeStepMsBatch1: { median: decode1.medianMs, min: decode1.minMs },
      batch: opts.batch,
      decodeTokensPerSecBatchN: decodeN.tps,
      decodeStepMsBatchN: { median: decodeN.medianMs, min: decodeN.minMs },
      loadAverage: loadavg()[0],
      peakRssBytes,
      kvBytesPerToken,
      weightBytes,
      memoryBandwidthGBs: bw,
      decodeBoundTokensPerSec: (bw * 1e9) / (weightBytes + kvBytesPerToken * avgContext),
      fractionOfBandwidthBound: decode1.tps / ((bw * 1e9) / (weightBytes + kvBytesPerToken * avgContext)),
      bandwidthSource: opts.deviceBandwidthGBs ? 'device' : 'host-memcpy',
      dtype: graphOptions.precision,
      hostDeviceBytesPerStep: perStep,
      hostDeviceBytesFirstStep: io1[0] ?? 0,
      prefillHostToDeviceBytes: prefillIo.up,
      prefillDeviceToHostBytes: prefillIo.down,
      gatherHostToDeviceBytes: gatherIo?.up ?? null,
      gatherDeviceToHostBytes: gatherIo?.down ?? null,
      valueNormsHostToDeviceBytes: normsIo?.up ?? null,
      valueNormsDeviceToHostBytes: normsIo?.down ?? null,
      gatherFractionOfCache: gatherIo ? gatherIo.up / (kvBytesPerToken * T) : null,
      cacheBytesAtContext,
      hostDeviceFractionOfCache: perStep / cacheBytesAtContext,
      deviceResidentCache: rt.deviceResident,
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
