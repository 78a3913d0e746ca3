/**
 * The worker pool: piscina workers own the onnxruntime sessions, so `session.run` (synchronous native
 * code) never blocks the main thread, where the progress bar and the single SQLite writer live.
 *
 * Rules from node-stack-notes §5:
 * - a worker is never terminated while a run is in flight (that aborts the process): `close()` waits for
 *   the tasks in flight, and cancellation happens between tasks (`stopSubmitting`);
 * - workers are started with `--import tsx` so they can load the TypeScript sources;
 * - each task gets a MessagePort so a worker can stream partial results (one evaluation at a time) while
 *   the task is still running; the main thread stores each one as it arrives.
 */
import { availableParallelism } from 'node:os';
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { workersForDevice } from '../runtime/device.ts';
import type { Device } from '../runtime/types.ts';

export interface PoolOptions {
  /** Number of workers ('auto': one per core, at most `maxAuto`). Each worker holds its own model copy. */
  workers: number | 'auto';
  maxAuto?: number;
  /** Worker module (absolute file URL). */
  filename: string;
}

export interface PoolSizing {
  workers: number;
  /** Set when a GPU device reduced the workers asked for (runtime/device.ts: one GPU thread per process). */
  reducedFrom?: number;
  /** onnxruntime intra-op threads per worker, so workers × threads ≈ cores. */
  threadsPerWorker: number;
}

export function sizePool(workers: number | 'auto', maxAuto = 2, device: Device = 'cpu'): PoolSizing {
  const cores = availableParallelism();
  const asked = workers === 'auto' ? Math.max(1, Math.min(cores, maxAuto)) : Math.max(1, Math.floor(workers));
  const n = workersForDevice(device, asked);
  const sizing: PoolSizing = { workers: n, threadsPerWorker: Math.max(1, Math.floor(cores / n)) };
  if (n < asked && workers !== 'auto') sizing.reducedFrom = asked;
  return sizing;
}

export class InferencePool<Task extends object, Message, Result> {
  private readonly piscina: Piscina;
  private inFlight = new Set<Promise<unknown>>();
  private stopped = false;

  constructor(opts: PoolOptions & { sizing: PoolSizing }) {
    this.piscina = new Piscina({
      filename: opts.filename,
      minThreads: opts.sizing.workers,
      maxThreads: opts.sizing.workers,
      idleTimeout: 60_000,
      execArgv: [...process.execArgv.filter((a) => !a.startsWith('--test')), '--import', 'tsx'],
    });
  }

  /** True once `stopSubmitting` was called (e.g. on SIGINT): callers submit nothing new. */
  get stopping(): boolean {
    return this.stopped;
  }

  stopSubmitting(): void {
    this.stopped = true;
  }

  /** Runs one task; `onMessage` receives what the worker posts on `task.port` while it runs. */
  run(task: Task, onMessage: (m: Message) => void): Promise<Result> {
    const { port1, port2 } = new MessageChannel();
    port1.on('message', onMessage);
    const p = this.piscina
      .run({ ...task, port: port2 }, { transferList: [port2] })
      .finally(() => {
        port1.close();
        this.inFlight.delete(p);
      }) as Promise<Result>;
    this.inFlight.add(p);
    return p;
  }

  /** Waits for every task in flight, then shuts the workers down. Never aborts a running session. */
  async close(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.inFlight]);
    await this.piscina.destroy();
  }
}
