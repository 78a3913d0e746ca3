/**
 * onnxruntime-node sessions. CPU is the default and tested path; 'cuda' and 'webgpu' are tried when asked and
 * fall back to CPU with one clear stderr message when the provider cannot be loaded (onnxruntime-node throws
 * at session creation in that case, it never falls back by itself).
 */
import * as ort from 'onnxruntime-node';
import { KvoptError } from '../util/errors.ts';
import type { Device } from './types.ts';

export interface SessionOptions {
  device?: Device;
  /** An unavailable GPU provider is an error (KvoptError) instead of a CPU fallback (`--device webgpu!`). */
  requireDevice?: boolean;
  /** Threads of this session's intra-op pool (default: onnxruntime's choice, all cores). */
  intraOpNumThreads?: number;
  /** Let idle onnxruntime threads spin-wait (faster only on an otherwise idle machine; default false). */
  spinWait?: boolean;
  /** WebGPU only: outputs returned as GPU buffers instead of host tensors (device-resident decode). */
  gpuOutputs?: Record<string, 'gpu-buffer' | 'cpu'>;
  /** Keep onnxruntime's own log output when a GPU provider fails to load (default: only kvopt's one-line message). */
  verboseProviderErrors?: boolean;
}

export interface CreatedSession {
  session: ort.InferenceSession;
  /** The device the session really runs on (after any fallback). */
  device: Device;
}

const CUDA_HINT =
  'the CUDA execution provider of onnxruntime-node could not be loaded (kvopt installs onnxruntime-node with its CUDA download turned off); ' +
  'install it with `npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12` ' +
  '(or ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci), with CUDA 12 and cuDNN 9 on the library path';
const WEBGPU_HINT =
  'the WebGPU execution provider could not start (it needs libvulkan1 and a Vulkan driver: an NVIDIA/AMD/Intel one, or Mesa >= 25 lavapipe ' +
  'on a CPU-only machine; `bash .ci/setup-machine.sh` installs the latter)';

export async function createSession(modelPath: string, opts: SessionOptions = {}): Promise<CreatedSession> {
  const device = opts.device ?? 'cpu';
  const base: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all' };
  // Idle intra-op threads sleep instead of spin-waiting: on a shared or oversubscribed CPU, spinning made a
  // 100M-parameter decode step 5x slower (28 ms vs 153 ms median, 2 threads, load ~14 on 2 cores).
  if (!opts.spinWait) base.extra = { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } };
  if (opts.intraOpNumThreads) base.intraOpNumThreads = opts.intraOpNumThreads;
  if (device !== 'cpu') {
    const ep: ort.InferenceSession.ExecutionProviderConfig = device === 'cuda' ? { name: 'cuda', deviceId: 0 } : 'webgpu';
    const gpu: ort.InferenceSession.SessionOptions = device === 'webgpu' && opts.gpuOutputs ? { preferredOutputLocation: opts.gpuOutputs } : {};
    // onnxruntime prints its own multi-line error when a provider library is missing; ours below says what to do.
    if (!opts.verboseProviderErrors) ort.env.logLevel = 'fatal';
    try {
      return {
        session: await ort.InferenceSession.create(modelPath, {
          ...base,
          ...gpu,
          executionProviders: [ep],
          logSeverityLevel: opts.verboseProviderErrors ? 2 : 4,
        }),
        device,
      };
    } catch (e) {
      // onnxruntime's message starts with its source location and the failed check; keep the reason
      const first = String((e as Error).message ?? e)
        .split('\n')[0]
        .replace(/^.*? was false\. /, '');
      if (opts.requireDevice) {
        throw new KvoptError(`--device ${device}!: the device is required but unavailable: ${device === 'cuda' ? CUDA_HINT : WEBGPU_HINT} (${first})`);
      }
      process.stderr.write(`kvopt: device '${device}' unavailable, running on cpu instead: ${device === 'cuda' ? CUDA_HINT : WEBGPU_HINT} (${first})\n`);
    }
  }
  return { session: await ort.InferenceSession.create(modelPath, { ...base, executionProviders: ['cpu'] }), device: 'cpu' };
}
