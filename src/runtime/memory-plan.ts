/**
 * Will this model fit? Checked BEFORE anything large is built or allocated, so a model too large for the machine
 * ends in one line naming what it needs and what there is, instead of an out-of-memory kill halfway through.
 *
 * Host memory needed ≈ weights (onnxruntime reads the initializers into RAM when it creates the session)
 *   + weights again for WebGPU on a software adapter (lavapipe's "device" buffers live in RAM; no NVIDIA/DRM GPU found)
 *   + the KV cache at the context (decode caches and a prefill record, host-resident)
 *   + W_o in float32, which a worker keeps for CriticalKV/DefensiveKV's value norms (src/model/release.ts), and its
 *     device copy for the WebGPU value-norm graph (counted in RAM on a software adapter)
 *   + 1 GiB for the runtime itself.
 * Disk needed (when the graph is not built yet): the weights in the graph's precision (model.onnx_data).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, statfsSync } from 'node:fs';
import { freemem } from 'node:os';
import type { Precision } from '../graph/llama.ts';
import type { ModelSpec } from '../model/spec.ts';
import { parameterCountOfSpec } from '../model/random-lazy.ts';
import { KvoptError } from '../util/errors.ts';
import type { Device } from './types.ts';

const GiB = 2 ** 30;
const fmt = (b: number) => `${(b / GiB).toFixed(1)} GiB`;

export interface MemoryPlan {
  weightBytes: number;
  kvBytes: number;
  /** W_o (o_proj of every layer) in float32: the host copy kept for value norms, ×2 with the device copy in RAM. */
  outputProjectionBytes: number;
  /** Device buffers counted in host memory (WebGPU on a software adapter). */
  deviceInHostMemory: boolean;
  hostBytesNeeded: number;
  hostBytesAvailable: number;
}

/** MemAvailable from /proc/meminfo (what can be allocated without swapping), else os.freemem(). */
export function availableMemory(): number {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    /* not Linux */
  }
  return freemem();
}

/** true when a hardware GPU is visible (NVIDIA device nodes or a DRM render node). */
export function hardwareGpuPresent(): boolean {
  if (existsSync('/dev/nvidia0') || existsSync('/proc/driver/nvidia/version')) return true;
  try {
    return readdirSync('/dev/dri').some((n) => n.startsWith('renderD'));
  } catch {
    return false;
  }
}

export function memoryPlan(spec: ModelSpec, precision: Precision, device: Device, contextTokens: number, batch = 1): MemoryPlan {
  const bpe = precision === 'fp16' ? 2 : 4;
  const weightBytes = parameterCountOfSpec(spec) * bpe;
  // decode caches (batch) + one prefill record, K and V, float32 on the host
  const kvBytes = 2 * spec.numLayers * spec.numKvHeads * spec.headDim * 4 * contextTokens * (batch + 1);
  const deviceInHostMemory = device === 'webgpu' && !hardwareGpuPresent();
  const outputProjectionBytes = spec.numLayers * spec.hiddenSize * spec.numHeads * spec.headDim * 4 * (deviceInHostMemory ? 2 : 1);
  const hostBytesNeeded = weightBytes * (deviceInHostMemory ? 2 : 1) + kvBytes + outputProjectionBytes + GiB;
  return { weightBytes, kvBytes, outputProjectionBytes, deviceInHostMemory, hostBytesNeeded, hostBytesAvailable: availableMemory() };
}

/** Throws a one-line KvoptError when the plan does not fit in memory, or the graph to build does not fit on disk. */
export function checkFits(
  what: string,
  spec: ModelSpec,
  precision: Precision,
  device: Device,
  contextTokens: number,
  opts: { batch?: number; graphDir?: string; graphBuilt?: boolean } = {},
): MemoryPlan {
  const plan = memoryPlan(spec, precision, device, contextTokens, opts.batch);
  if (plan.hostBytesNeeded > plan.hostBytesAvailable) {
    throw new KvoptError(
      `${what} (${precision}) does not fit: it needs about ${fmt(plan.hostBytesNeeded)} of memory ` +
        `(${fmt(plan.weightBytes)} weights${plan.deviceInHostMemory ? ' ×2: WebGPU on a software adapter keeps its buffers in RAM' : ''}, ` +
        `${fmt(plan.kvBytes)} KV at ${contextTokens} tokens, ${fmt(plan.outputProjectionBytes)} W_o in float32 for value norms, 1 GiB runtime) and ${fmt(plan.hostBytesAvailable)} is available` +
        `${precision === 'fp32' ? '; try --dtype fp16' : ''}`,
    );
  }
  if (opts.graphDir && !opts.graphBuilt) {
    try {
      mkdirSync(opts.graphDir, { recursive: true });
      const fs = statfsSync(opts.graphDir);
      const free = fs.bavail * fs.bsize;
      if (plan.weightBytes > free) {
        throw new KvoptError(
          `${what} (${precision}): building its graph needs ${fmt(plan.weightBytes)} of disk in ${opts.graphDir} and ${fmt(free)} is free (set KVOPT_CACHE_DIR)`,
        );
      }
    } catch (e) {
      if (e instanceof KvoptError) throw e;
    }
  }
  return plan;
}
