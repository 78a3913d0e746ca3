/**
 * `kvopt worker`: a long-running process that evaluates the jobs of queued runs (coordinator.ts) on this
 * machine, in its own piscina pool (engine/worker.ts, the same code a local run uses).
 *
 * It watches the list of runs in Redis (a worker started before any coordinator just waits). For a new
 * run it first checks the model: the run names its model by weights hash; the file (the run's path, or
 * `--model` here) must be there and hash the same, otherwise the worker refuses the run, says why on its
 * stderr and in Redis (the coordinator prints it), and takes none of its jobs. An accepted run's jobs
 * come from its shared queue and this worker's own queue (sticky samples), at most `concurrency` at a
 * time. A job is plain data; the worker checks that it names the run's model hash and data, and only
 * ever runs kvopt's own evaluation on it.
 *
 * SIGINT / SIGTERM: takes no new job, finishes the jobs it runs, leaves the run, exits 0. A second
 * signal hands the running jobs back instead (BullMQ's stalled-job check, or the coordinator seeing this
 * worker gone, gives them to another worker) and exits 0 at once.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { InferencePool, sizePool, type PoolSizing } from '../engine/pool.ts';
import { workerErrorMessage } from '../engine/worker-error.ts';
import type { EvaluateSampleResult, EvaluateSampleTask, ModelInfoResult, ModelRef, WorkerMessage } from '../engine/worker.ts';
import type { Device } from '../runtime/types.ts';
import { isGpuDevice } from '../runtime/device.ts';
import {
  aliveKey,
  deleteRunKeys,
  LOCK_MS,
  refusalsKey,
  RUNS_KEY,
  runPrefix,
  safeId,
  SHARED_QUEUE,
  STALLED_CHECK_MS,
  workerQueue,
  workersKey,
  type JobData,
  type JobResult,
  type Refusal,
  type RunAnnouncement,
  type WorkerInfo,
} from './protocol.ts';
import { checkRedis, redisOptions } from './redis.ts';
import type { QueueTarget } from './url.ts';

const WORKER_URL = new URL('../engine/worker.ts', import.meta.url).href;
const POLL_MS = 1000;
/**
 * Fault injection for the queue's own tests: KVOPT_FAULT_HOLD_JOB=n makes the n-th job this worker
 * starts never finish (it says so on stderr), so a test can SIGKILL the worker in the middle of a job.
 */
const HOLD_JOB = Number(process.env.KVOPT_FAULT_HOLD_JOB ?? 0);

export interface QueueWorkerOptions {
  target: QueueTarget;
  /** Device for the runs' models; null: the device each run names. */
  device: Device | null;
  /** Jobs evaluated at once. */
  concurrency: number;
  /** Local worker threads (each holds its own model copy). */
  workers: number | 'auto';
  /** The model file on this machine; null: the path each run names. */
  model: string | null;
  tokenizer: string | null;
  /** Prefill records on disk here; null: a temporary folder, removed at exit. */
  prefillCache: string | null;
  name: string | null;
  quiet: boolean;
}

interface AcceptedRun {
  announcement: RunAnnouncement;
  model: ModelRef;
  workers: Worker[];
  /** The workers' command connections, named under the run's prefix so the coordinator sees them go. */
  connections: Redis[];
}

/** Counts jobs in flight across the run's two queues and every run. */
class Slots {
  private used = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly size: number) {}
  async acquire(): Promise<void> {
    if (this.used < this.size) {
      this.used++;
      return;
    }
    await new Promise<void>((r) => this.waiting.push(r));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.used--;
  }
}

export class QueueWorker {
  readonly id: string;
  private readonly conn: Redis;
  private readonly pool: InferencePool<object, WorkerMessage, unknown>;
  private readonly sizing: PoolSizing;
  private readonly slots: Slots;
  private readonly prefillDir: string;
  private readonly tempPrefillDir: boolean;
  private readonly accepted = new Map<string, AcceptedRun>();
  private readonly refused = new Set<string>();
  private readonly hashes = new Map<string, Promise<string>>();
  private poller: NodeJS.Timeout | null = null;
  private polling = false;
  private jobsStarted = 0;
  private stopping = false;
  private connectionLost = false;
  private done!: () => void;
  readonly finished = new Promise<void>((r) => (this.done = r));

  private constructor(private readonly opts: QueueWorkerOptions) {
    this.id = safeId(opts.name ?? `${hostname()}.${process.pid}`);
    this.sizing = sizePool(opts.workers, undefined, opts.device ?? 'cpu');
    this.pool = new InferencePool({ workers: this.sizing.workers, filename: WORKER_URL, sizing: this.sizing });
    this.slots = new Slots(opts.concurrency);
    this.tempPrefillDir = opts.prefillCache === null;
    this.prefillDir = opts.prefillCache ?? mkdtempSync(join(tmpdir(), 'kvopt-worker-prefill-'));
    this.conn = new Redis(redisOptions(opts.target, `kvopt-worker:${this.id}`));
    this.conn.on('error', () => {});
    this.conn.on('close', () => {
      if (!this.connectionLost && !this.stopping) this.log(`lost the connection to ${opts.target.display}; reconnecting`);
      this.connectionLost = true;
    });
    this.conn.on('ready', () => {
      if (this.connectionLost && !this.stopping) this.log(`connected to ${opts.target.display} again`);
      this.connectionLost = false;
    });
  }

  /** Checks the server (one line on failure), then waits for runs. */
  static async start(opts: QueueWorkerOptions): Promise<QueueWorker> {
    await checkRedis(opts.target, '--queue');
    const w = new QueueWorker(opts);
    w.log(
      `waiting for runs on ${opts.target.display} (${opts.concurrency} job${opts.concurrency > 1 ? 's' : ''} at a time, ` +
        `${w.sizing.workers} thread${w.sizing.workers > 1 ? 's' : ''})`,
    );
    w.poller = setInterval(() => void w.poll(), POLL_MS);
    void w.poll();
    return w;
  }

  private log(line: string): void {
    if (!this.opts.quiet) process.stderr.write(`kvopt worker ${this.id}: ${line}\n`);
  }

  private info(): WorkerInfo {
    return {
      id: this.id,
      host: hostname(),
      pid: process.pid,
      device: this.opts.device ?? 'cpu',
      concurrency: this.opts.concurrency,
      threads: this.sizing.threadsPerWorker,
    };
  }

  /** Joins new runs, leaves runs that ended (or whose coordinator is gone). */
  private async poll(): Promise<void> {
    if (this.polling || this.stopping) return;
    this.polling = true;
    try {
      const runs = await this.conn.hgetall(RUNS_KEY);
      for (const [token, json] of Object.entries(runs)) {
        if (this.accepted.has(token) || this.refused.has(token)) continue;
        if (!(await this.conn.exists(aliveKey(token)))) {
          // Its coordinator died without cleaning up (and no resume came): remove it for everyone.
          await this.conn.hdel(RUNS_KEY, token);
          await deleteRunKeys(this.conn, token);
          this.log(`removed run ${token}: its coordinator is gone`);
          continue;
        }
        await this.join(token, JSON.parse(json) as RunAnnouncement);
      }
      for (const token of [...this.accepted.keys()]) {
        if (!(token in runs) || !(await this.conn.exists(aliveKey(token)))) await this.leave(token, 'the run ended');
      }
      for (const token of [...this.refused]) if (!(token in runs)) this.refused.delete(token);
    } catch {
      // Redis unreachable: try again at the next poll (ioredis reconnects).
    } finally {
      this.polling = false;
    }
  }

  private modelHash(model: ModelRef): Promise<string> {
    let stamp = '';
    try {
      const s = statSync(model.path);
      stamp = `${s.size}:${s.mtimeMs}`;
    } catch {}
    const key = JSON.stringify([model, stamp]);
    let h = this.hashes.get(key);
    if (!h) {
      h = (this.pool.run({ kind: 'model-info', model }, () => {}) as Promise<ModelInfoResult>).then((r) => r.modelHash);
      h.catch(() => this.hashes.delete(key));
      this.hashes.set(key, h);
    }
    return h;
  }

  private async join(token: string, a: RunAnnouncement): Promise<void> {
    const model: ModelRef = {
      path: this.opts.model ?? a.model.path,
      tokenizer: this.opts.model ? this.opts.tokenizer : (this.opts.tokenizer ?? a.model.tokenizer),
      device: this.opts.device ?? a.device,
      dtype: a.dtype ?? 'fp32',
      threads: this.sizing.threadsPerWorker,
    };
    let reason: string | null = null;
    // one GPU session per process (runtime/device.ts): a many-thread worker cannot take a GPU run
    if (isGpuDevice(model.device) && this.sizing.workers > 1) {
      reason = `the run is on ${model.device} and this worker has ${this.sizing.workers} threads; GPU runs need a worker with --workers 1 or --device ${model.device}`;
    }
    try {
      const hash = await this.modelHash(model);
      if (hash !== a.modelHash)
        reason = `model file ${model.path} differs from the run's (weights hash ${hash.slice(0, 12)}… here, ${a.modelHash.slice(0, 12)}… in the run)`;
    } catch (e) {
      reason = `cannot open the run's model here: ${workerErrorMessage(e)}`;
    }
    if (reason) {
      this.refused.add(token);
      this.log(`refusing run ${token} of ${a.coordinator.host}: ${reason}`);
      await this.conn.hset(refusalsKey(token), this.id, JSON.stringify({ worker: this.info(), reason } satisfies Refusal));
      return;
    }
    const options = {
      prefix: runPrefix(token),
      name: this.id,
      concurrency: this.opts.concurrency,
      lockDuration: LOCK_MS,
      stalledInterval: STALLED_CHECK_MS,
      maxStalledCount: 3,
    };
    const run: AcceptedRun = { announcement: a, model, workers: [], connections: [] };
    this.accepted.set(token, run);
    for (const name of [SHARED_QUEUE, workerQueue(this.id)]) {
      const connection = this.conn.duplicate({ connectionName: `${runPrefix(token)}:worker:${this.id}` });
      connection.on('error', () => {});
      run.connections.push(connection);
      const w = new Worker(name, (job: Job<JobData>) => this.process(run, job), { ...options, connection });
      w.on('error', () => {}); // connection trouble is reported once by the poller's connection
      run.workers.push(w);
    }
    await this.conn.hset(workersKey(token), this.id, JSON.stringify(this.info()));
    this.log(`joined run ${token} of ${a.coordinator.host} (pid ${a.coordinator.pid})`);
  }

  private async leave(token: string, why: string): Promise<void> {
    const run = this.accepted.get(token);
    if (!run) return;
    this.accepted.delete(token);
    await Promise.all(run.workers.map((w) => w.close().catch(() => {})));
    for (const c of run.connections) c.disconnect();
    this.log(`left run ${token}: ${why}`);
  }

  /** One job: check it is the run's, then kvopt's own evaluation of one sample in the local pool. */
  private async process(run: AcceptedRun, job: Job<JobData>): Promise<JobResult> {
    const d = job.data;
    const a = run.announcement;
    if (d.modelHash !== a.modelHash) throw new UnrecoverableError(`job ${job.id} names model ${String(d.modelHash).slice(0, 12)}…, not the run's`);
    if (!d.task || typeof d.task.data !== 'string' || !a.data.includes(d.task.data)) throw new UnrecoverableError(`job ${job.id} names data outside the run`);
    if (!Array.isArray(d.items) || typeof d.sample !== 'object' || typeof d.options !== 'object') throw new UnrecoverableError(`job ${job.id} is malformed`);
    const se = d.selfExtend;
    if (se !== undefined && !(Number.isInteger(se?.group) && se.group >= 1 && Number.isInteger(se?.window) && se.window >= 1)) {
      throw new UnrecoverableError(`job ${job.id} has a malformed selfExtend`);
    }
    await this.slots.acquire();
    try {
      if (++this.jobsStarted === HOLD_JOB) {
        process.stderr.write(`kvopt worker ${this.id}: holding job ${job.id} of sample ${d.sample.id} (KVOPT_FAULT_HOLD_JOB)\n`);
        await new Promise(() => {});
      }
      const task: EvaluateSampleTask = {
        kind: 'evaluate',
        model: { ...run.model, threads: d.threads ?? run.model.threads, ...(se ? { selfExtend: { group: se.group, window: se.window } } : {}) },
        task: { name: String(d.task.name), data: d.task.data, options: d.task.options },
        sample: d.sample,
        items: d.items,
        options: d.options,
        prefillCacheDir: this.prefillDir,
        attempt: Number(d.attempt) || 1,
      };
      const progress: Promise<unknown>[] = [];
      let result: EvaluateSampleResult;
      try {
        result = (await this.pool.run(task, (m) => progress.push(job.updateProgress(m as object).catch(() => {})))) as EvaluateSampleResult;
      } catch (e) {
        // The evaluation itself failed: final for this job (the run's own retry records attempts).
        throw new UnrecoverableError(String((e as Error).message ?? e));
      }
      await Promise.all(progress);
      return { ...result, worker: this.id };
    } finally {
      this.slots.release();
    }
  }

  /** First call: finish the jobs in flight, then leave every run. Second call: hand them back now. */
  async stop(force: boolean): Promise<void> {
    this.stopping = true;
    if (this.poller) clearInterval(this.poller);
    if (!force) this.log('stopping: finishing the jobs in flight (signal again to hand them back now)');
    const runs = [...this.accepted.entries()];
    this.accepted.clear();
    await Promise.all(runs.flatMap(([, r]) => r.workers.map((w) => w.close(force).catch(() => {}))));
    for (const [, r] of runs) for (const c of r.connections) c.disconnect();
    await Promise.all(runs.map(([token]) => this.conn.hdel(workersKey(token), this.id).catch(() => {})));
    if (!force) await this.pool.close();
    if (this.tempPrefillDir) rmSync(this.prefillDir, { recursive: true, force: true });
    this.conn.disconnect();
    this.done();
  }
}
