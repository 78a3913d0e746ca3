/**
 * `kvopt bench runtime`: prefill and decode throughput (batch 1 and batch N), peak RSS, KV bytes per token, graph
 * build time (cold into a scratch cache folder, then cached), and the memory-bandwidth bound of decode.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadedModel } from '../model/spec.ts';
import { parameterCount } from '../model/spec.ts';
import { mulberry32 } from '../model/random.ts';
import { ensureGraph } from '../graph/cache.ts';
import { DEFAULT_GRAPH_OPTIONS } from '../graph/llama.ts';
import { ModelRuntime } from './runtime.ts';
import { argmax } from './sampling.ts';
import type { Device, KvCache } from './types.ts';

export interface BenchOptions {
  batch: number;
  promptTokens: number;
  decodeTokens: number;
  device?: Device;
  intraOpNumThreads?: number;
  /** Size of the arrays of the bandwidth measurement (default 256 MiB). */
  bandwidthMiB?: number;
}

export interface BenchResult {
  model: string;
  parameters: number;
  device: Device;
  threads: number | null;
  graphBuildColdMs: number;
  graphBuildCachedMs: number;
  sessionCreateMs: number;
  promptTokens: number;
  prefillTokensPerSec: number;
  decodeTokens: number;
  decodeTokensPerSecBatch1: number;
  batch: number;
  decodeTokensPerSecBatchN: number;
  peakRssBytes: number;
  kvBytesPerToken: number;
  weightBytes: number;
  /** Memory bandwidth from a one-thread native copy (read + write bytes), GB/s. */
  memoryBandwidthGBs: number;
  /** Decode tokens/s at batch 1 if every step only read weights + KV at the measured bandwidth. */
  decodeBoundTokensPerSec: number;
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

export async function benchRuntime(model: LoadedModel, opts: BenchOptions): Promise<BenchResult> {
  const { spec } = model;
  const scratch = mkdtempSync(join(tmpdir(), 'kvopt-bench-'));
  try {
    const cold = ensureGraph(model, DEFAULT_GRAPH_OPTIONS, scratch);
    const t1 = performance.now();
    ensureGraph(model, DEFAULT_GRAPH_OPTIONS, scratch);
    const cachedMs = performance.now() - t1;
    const t2 = performance.now();
    const rt = await ModelRuntime.create(model, { cacheDir: scratch, device: opts.device, intraOpNumThreads: opts.intraOpNumThreads });
    const sessionCreateMs = performance.now() - t2;

    const T = Math.max(1, Math.min(opts.promptTokens, spec.maxPositionEmbeddings - opts.decodeTokens));
    const rand = mulberry32(7);
    const prompt = Array.from({ length: T }, () => 3 + Math.floor(rand() * (spec.vocabSize - 3)));
    await rt.prefill(prompt.slice(0, Math.min(8, T))); // warm-up
    const rec = await rt.prefill(prompt, { window: 32 });
    const prefillTps = T / (rec.ms / 1000);

    const decode = async (B: number): Promise<number> => {
      let caches: KvCache[] = Array.from({ length: B }, () => rec.cache);
      let tokens = Array.from({ length: B }, () => [prompt[0]]);
      const t0 = performance.now();
      for (let i = 0; i < opts.decodeTokens; i++) {
        const r = await rt.step(caches, tokens);
        caches = r.caches;
        tokens = r.logits.map((row) => [argmax(row)]);
      }
      return (B * opts.decodeTokens) / ((performance.now() - t0) / 1000);
    };
    const decode1 = await decode(1);
    const decodeN = await decode(opts.batch);
    await rt.release();

    const kvBytesPerToken = 2 * spec.numLayers * spec.numKvHeads * spec.headDim * 4;
    const weightBytes = parameterCount(model.weights) * 4;
    const peakRssBytes = process.resourceUsage().maxRSS * 1024; // before the bandwidth arrays
    const bw = measureCopyBandwidth(opts.bandwidthMiB ?? 256);
    const avgContext = T + opts.decodeTokens / 2;
    return {
      model: model.source.path,
      parameters: parameterCount(model.weights),
      device: rt.device,
      threads: opts.intraOpNumThreads ?? null,
      graphBuildColdMs: cold.buildMs,
      graphBuildCachedMs: cachedMs,
      sessionCreateMs,
      promptTokens: T,
      prefillTokensPerSec: prefillTps,
      decodeTokens: opts.decodeTokens,
      decodeTokensPerSecBatch1: decode1,
      batch: opts.batch,
      decodeTokensPerSecBatchN: decodeN,
      peakRssBytes,
      kvBytesPerToken,
      weightBytes,
      memoryBandwidthGBs: bw,
      decodeBoundTokensPerSec: (bw * 1e9) / (weightBytes + kvBytesPerToken * avgContext),
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
