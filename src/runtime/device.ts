/**
 * Where a model runs, as the user asks for it, and the rule for GPU sessions and threads.
 *
 * `--device webgpu` (or `cuda`) falls back to the CPU with one stderr line when the provider cannot start;
 * `--device webgpu!` (a trailing `!`, in a config file too) makes that an error instead, for CI and scripts
 * that must not silently measure the CPU.
 *
 * The GPU model (node-stack-notes §1.2): two worker threads that each open a WebGPU session crash the process
 * (SIGSEGV), and every worker would hold its own copy of the weights on the device. So a process runs GPU
 * work in exactly ONE worker thread: workers = devices, and one process drives one GPU. A run asked for
 * `--workers N` on a GPU device gets one worker with every core for its session's CPU-side operators; use one
 * process per GPU (e.g. `kvopt worker` on a queue) to use several.
 */
import { KvoptError } from '../util/errors.ts';
import { didYouMean } from '../util/suggest.ts';
import type { Device } from './types.ts';

export const DEVICE_NAMES: readonly Device[] = ['cpu', 'cuda', 'webgpu'];

export interface DeviceRequest {
  device: Device;
  /** true for `webgpu!`/`cuda!`: an unavailable provider is an error, not a CPU fallback. */
  required: boolean;
}

/** Parses `cpu`, `cuda`, `webgpu`, optionally with a trailing `!`; `what` names the flag or field in errors. */
export function parseDeviceRequest(v: string, what = '--device'): DeviceRequest {
  const required = v.endsWith('!');
  const name = required ? v.slice(0, -1) : v;
  if (!(DEVICE_NAMES as readonly string[]).includes(name)) {
    throw new KvoptError(
      `${what}: expected one of ${DEVICE_NAMES.join(', ')} (a trailing ! makes an unavailable GPU an error), got ${JSON.stringify(v)}${didYouMean(name, DEVICE_NAMES)}`,
    );
  }
  return { device: name as Device, required };
}

/** True for the devices whose sessions follow the one-GPU-thread-per-process rule. */
export const isGpuDevice = (d: Device): boolean => d !== 'cpu';

/** How many inference workers a run on `device` gets when `asked` were requested (see the module comment). */
export function workersForDevice(device: Device, asked: number): number {
  return isGpuDevice(device) ? 1 : asked;
}
