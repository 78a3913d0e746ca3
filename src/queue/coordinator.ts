/**
 * The coordinator side of a queued run: a SampleExecutor whose evaluations are BullMQ jobs taken by
 * `kvopt worker` processes on any machine. The coordinator stays the only SQLite writer: workers send
 * back plain results (job progress for the prefill and each item as it finishes, the job's return value
 * at the end).
 *
 * Sticky assignment (one prefill per sample): a sample no live worker holds goes to the run's shared
 * queue, which every worker takes from; the worker that evaluated it is recorded as its owner, and its
 * later jobs (the next search generation, a retry) go to the owner's own queue. Jobs are handed out only
 * as workers have room (their concurrency + 1 waiting), so a busy owner never lets its samples drift.
 *
 * Faults:
 * - a worker killed while it runs a shared-queue job: BullMQ's stalled-job check (run by the other
 *   workers) puts the job back once its lock expires, and another worker takes it;
 * - a worker gone (its connections left Redis, seen through BullMQ's getWorkers): its own queue is
 *   deleted and its jobs go to the shared queue under new ids, so a late answer from it is never applied;
 * - Redis lost for longer than a grace period, or restarted without the run's keys: the run stops with
 *   one line (ExecutorFailed) and `--resume` continues it; a resumed run gets a new epoch (protocol.ts)
 *   and first deletes what the previous coordinator of the same run left.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { realpathSync } from 'node:fs';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { EvaluationCancelled, ExecutorFailed, type SampleExecutor } from '../engine/executor.ts';
import type { EvaluateSampleResult, EvaluateSampleTask, WorkerMessage } from '../engine/worker.ts';
import type { Device } from '../runtime/types.ts';
import type { Precision } from '../graph/llama.ts';
import {
  aliveKey,
  ALIVE_TTL_MS,
  deleteRunKeys,
  epochKey,
  refusalsKey,
  RUNS_KEY,
  runPrefix,
  SHARED_QUEUE,
  workerQueue,
  workersKey,
  type JobData,
  type JobResult,
  type Refusal,
  type RunAnnouncement,
  type WorkerInfo,
} from './protocol.ts';
import { checkRedis, describeRedisError, redisOptions } from './redis.ts';
import type { QueueTarget } from './url.ts';

/** What the run tells its workers, known once the samples are loaded. */
export interface QueueRunInfo {
  dbPath: string;
  runId: number;
  modelHash: string;
  model: { path: string; tokenizer: string | null };
  device: Device;
  /** Graph precision of the run (fp32 or fp16). */
  dtype: Precision;
  data: string[];
  threads: number | null;
}

interface Pending {
  task: EvaluateSampleTask;
  prompt: string;
  onMessage: (m: WorkerMessage) => void;
  resolve: (r: EvaluateSampleResult) => void;
  reject: (e: Error) => void;
}

interface InFlight {
  entry: Pending;
  queue: string;
  /** The worker whose own queue holds it; null for the shared queue. */
  worker: string | null;
}

interface KnownWorker {
  info: WorkerInfo;
  live: boolean;
  /** Consecutive checks it was absent from Redis's client list. */
  absent: number;
  gone: boolean;
  /** Jobs sent to its own queue and not finished. */
  assigned: number;
}

const MONITOR_MS = 1000;
/** Redis unreachable this long: the run stops (resumable). */
const LOST_GRACE_MS = Number(process.env.KVOPT_QUEUE_LOST_GRACE_MS ?? 30_000);
const WAITING_NOTICE_MS = 5000;
/** Jobs a worker may hold beyond its concurrency (so it never waits for the next one). */
const PREFETCH = 1;

/** A sample's prefill identity: its content, setting and observation window. */
function promptKey(t: EvaluateSampleTask): string {
  return createHash('sha256')
    .update(JSON.stringify([t.sample, t.options.setting, t.options.window]))
    .digest('hex')
    .slice(0, 24);
}

/** Runs a Redis call with a time limit (when Redis is gone, ioredis would wait for it for ever). */
async function within<T>(ms: number, p: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class QueueCoordinator implements SampleExecutor {
  readonly lanes = 1024;
  private conn: Redis;
  private token = '';
  private info: QueueRunInfo | null = null;
  private started: Promise<void> | null = null;
  private readonly queues = new Map<string, Queue>();
  private readonly events = new Map<string, QueueEvents>();
  private readonly eventConnections = new Map<string, Redis>();
  private readonly pending: Pending[] = [];
  private readonly inFlight = new Map<string, InFlight>();
  private readonly owners = new Map<string, string>();
  private readonly workers = new Map<string, KnownWorker>();
  private readonly refusals = new Set<string>();
  private monitor: NodeJS.Timeout | null = null;
  private monitoring = false;
  private stopping = false;
  private failure: ExecutorFailed | null = null;
  private disconnectedSince: number | null = null;
  private waitingSince: number | null = null;
  private waitingNoticed = false;
  private seq = 0;

  private constructor(
    readonly target: QueueTarget,
    private readonly quiet: boolean,
  ) {
    this.conn = new Redis(redisOptions(target));
    this.conn.on('error', () => {}); // connection state is followed through 'close' / 'ready'
    this.conn.on('close', () => (this.disconnectedSince ??= Date.now()));
    this.conn.on('ready', () => (this.disconnectedSince = null));
  }

  /** Checks the server (one line on failure) before any run is created. */
  static async connect(target: QueueTarget, opts: { quiet?: boolean; field?: string } = {}): Promise<QueueCoordinator> {
    await checkRedis(target, opts.field ?? '--queue');
    return new QueueCoordinator(target, opts.quiet ?? false);
  }

  private log(line: string): void {
    process.stderr.write(`kvopt: ${line}\n`);
  }

  /** Tells the coordinator what the run is; jobs are sent once this is known. */
  attach(info: QueueRunInfo): void {
    this.info = info;
  }

  private async start(): Promise<void> {
    const info = this.info;
    if (!info) throw new Error('QueueCoordinator: attach() before evaluate()');
    let db = info.dbPath;
    try {
      db = realpathSync(db);
    } catch {}
    const runKey = createHash('sha256').update(`${db}\n${info.runId}`).digest('hex').slice(0, 12);
    this.token = `${runKey}-${randomBytes(3).toString('hex')}`;
    // What a killed coordinator of this same run left: its jobs must never be applied.
    const runs = await this.conn.hgetall(RUNS_KEY);
    for (const old of Object.keys(runs).filter((t) => t.startsWith(`${runKey}-`))) {
      await this.conn.hdel(RUNS_KEY, old);
      await this.untilNoClients(old);
      await deleteRunKeys(this.conn, old);
      if (!this.quiet) this.log(`queue: removed what an earlier coordinator of this run left in Redis (${old})`);
    }
    await this.conn.set(epochKey(this.token), String(Date.now()));
    await this.conn.set(aliveKey(this.token), '1', 'PX', ALIVE_TTL_MS);
    await this.openQueue(SHARED_QUEUE);
    const announcement: RunAnnouncement = {
      token: this.token,
      modelHash: info.modelHash,
      model: info.model,
      device: info.device,
      dtype: info.dtype,
      data: info.data,
      coordinator: { host: hostname(), pid: process.pid },
      createdAt: new Date().toISOString(),
    };
    await this.conn.hset(RUNS_KEY, this.token, JSON.stringify(announcement));
    if (!this.quiet) this.log(`queue: run ${info.runId} on ${this.target.display} as ${this.token}; workers: kvopt worker --queue ${this.target.display}`);
    this.waitingSince = Date.now();
    this.monitor = setInterval(() => void this.check(), MONITOR_MS);
  }

  private async openQueue(name: string): Promise<Queue> {
    const have = this.queues.get(name);
    if (have) return have;
    const prefix = runPrefix(this.token);
    const queue = new Queue(name, { connection: this.conn, prefix });
    queue.on('error', () => {});
    this.queues.set(name, queue);
    // Events from the stream's start: the stream is this run's own, so nothing is missed or foreign.
    // Its own blocking connection (XREAD), which BullMQ leaves to us to close.
    const evConn = this.conn.duplicate();
    evConn.on('error', () => {});
    this.eventConnections.set(name, evConn);
    const ev = new QueueEvents(name, { connection: evConn, prefix, lastEventId: '0' });
    ev.on('error', () => {});
    ev.on('progress', ({ jobId, data }) => this.inFlight.get(jobId)?.entry.onMessage(data as WorkerMessage));
    ev.on('completed', ({ jobId, returnvalue }) => this.finish(jobId, returnvalue as unknown as JobResult, null));
    ev.on('failed', ({ jobId, failedReason }) => this.finish(jobId, null, failedReason));
    this.events.set(name, ev);
    await ev.waitUntilReady();
    return queue;
  }

  evaluate(task: EvaluateSampleTask, onMessage: (m: WorkerMessage) => void): Promise<EvaluateSampleResult> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.stopping) return Promise.reject(new EvaluationCancelled());
    return new Promise((resolve, reject) => {
      this.pending.push({ task, prompt: promptKey(task), onMessage, resolve, reject });
      this.started ??= this.start();
      this.started.then(
        () => this.schedule(),
        (e) => this.fail(`${this.target.display}: could not start the run's queue: ${describeRedisError(this.target, e)}`),
      );
    });
  }

  /** Sends pending evaluations to workers with room: owned samples to their owner, others to the shared queue. */
  private schedule(): void {
    if (this.failure) return;
    if (this.stopping) {
      for (const p of this.pending.splice(0)) p.reject(new EvaluationCancelled());
      return;
    }
    const live = [...this.workers.values()].filter((w) => w.live && !w.gone);
    let room = live.reduce((n, w) => n + w.info.concurrency + PREFETCH, 0) - this.inFlight.size;
    for (let i = 0; i < this.pending.length && room > 0; ) {
      const p = this.pending[i];
      const ownerId = this.owners.get(p.prompt);
      const owner = ownerId ? this.workers.get(ownerId) : undefined;
      if (owner?.live && !owner.gone) {
        if (owner.assigned >= owner.info.concurrency + PREFETCH) {
          i++; // waits for its owner
          continue;
        }
        owner.assigned++;
        this.submit(p, workerQueue(owner.info.id), owner.info.id);
      } else {
        this.submit(p, SHARED_QUEUE, null);
      }
      this.pending.splice(i, 1);
      room--;
    }
  }

  private submit(entry: Pending, queueName: string, worker: string | null): void {
    const jobId = `j${++this.seq}`;
    this.inFlight.set(jobId, { entry, queue: queueName, worker });
    const t = entry.task;
    const data: JobData = {
      modelHash: this.info!.modelHash,
      task: t.task,
      sample: t.sample,
      items: t.items,
      options: t.options,
      attempt: t.attempt,
      threads: this.info!.threads,
      ...(t.model.selfExtend ? { selfExtend: t.model.selfExtend } : {}),
    };
    void this.openQueue(queueName)
      .then((q) =>
        q.add('evaluate', data, {
          jobId,
          // Retries with backoff for what is not the evaluation itself (the worker fails evaluation
          // errors for good: the run's own retry records them).
          attempts: 3,
          backoff: { type: 'exponential', delay: 1000 },
          removeOnComplete: true,
          removeOnFail: true,
        }),
      )
      .catch((e) => this.fail(`${this.target.display}: could not queue a job: ${describeRedisError(this.target, e)}`));
  }

  private finish(jobId: string, result: JobResult | null, failedReason: string | null): void {
    const f = this.inFlight.get(jobId);
    if (!f) return; // not ours any more (reassigned), or already settled
    this.inFlight.delete(jobId);
    if (f.worker) {
      const w = this.workers.get(f.worker);
      if (w) w.assigned--;
    }
    if (result) {
      if (result.worker) this.owners.set(f.entry.prompt, result.worker);
      f.entry.resolve(result);
    } else {
      f.entry.reject(new Error(failedReason ?? 'job failed'));
    }
    this.schedule();
  }

  /** Stops the run: every evaluation waiting or in flight fails with one clear line. */
  private fail(message: string): void {
    if (this.failure) return;
    this.failure = new ExecutorFailed(`${message}; the run is kept: continue it with --resume`);
    for (const p of this.pending.splice(0)) p.reject(this.failure);
    for (const [id, f] of this.inFlight) {
      this.inFlight.delete(id);
      f.entry.reject(this.failure);
    }
  }

  /** Once a second: Redis still there with the run's keys, workers present, refusals, then schedule. */
  private async check(): Promise<void> {
    if (this.monitoring || this.failure) return;
    this.monitoring = true;
    try {
      if (this.disconnectedSince !== null) {
        if (Date.now() - this.disconnectedSince > LOST_GRACE_MS)
          this.fail(`lost the connection to Redis at ${this.target.display} for ${Math.round(LOST_GRACE_MS / 1000)} s`);
        return;
      }
      const [epoch] = await Promise.all([this.conn.exists(epochKey(this.token)), this.conn.set(aliveKey(this.token), '1', 'PX', ALIVE_TTL_MS)]);
      if (!epoch) {
        this.fail(`Redis at ${this.target.display} lost this run's queue (restarted without persistence, or flushed)`);
        return;
      }
      await this.checkWorkers();
      this.schedule();
    } catch (e) {
      if (this.disconnectedSince === null) this.disconnectedSince = Date.now();
      void e;
    } finally {
      this.monitoring = false;
    }
  }

  private async checkWorkers(): Promise<void> {
    const [registered, refused, clients] = await Promise.all([
      this.conn.hgetall(workersKey(this.token)),
      this.conn.hgetall(refusalsKey(this.token)),
      this.queues.get(SHARED_QUEUE)!.getWorkers(),
    ]);
    for (const [id, json] of Object.entries(refused)) {
      if (this.refusals.has(id)) continue;
      this.refusals.add(id);
      const r = JSON.parse(json) as Refusal;
      this.log(`queue: worker ${id} (${r.worker.host}, pid ${r.worker.pid}) refused this run: ${r.reason}`);
    }
    for (const [id, json] of Object.entries(registered)) {
      if (!this.workers.has(id)) this.workers.set(id, { info: JSON.parse(json) as WorkerInfo, live: false, absent: 0, gone: false, assigned: 0 });
    }
    // A worker's BullMQ connections are named `<prefix>:<queue>:w:<worker id>`.
    const present = new Set(
      clients.map(
        (c) =>
          String(c.rawname ?? '')
            .split(':w:')
            .at(-1) ?? '',
      ),
    );
    for (const w of this.workers.values()) {
      if (w.gone) continue;
      if (present.has(w.info.id)) {
        w.live = true;
        w.absent = 0;
      } else if (w.live && ++w.absent >= 2) {
        await this.workerGone(w);
      }
    }
    const live = [...this.workers.values()].filter((w) => w.live && !w.gone).length;
    if (live > 0) {
      this.waitingSince = null;
      this.waitingNoticed = false;
    } else {
      this.waitingSince ??= Date.now();
      if (!this.waitingNoticed && !this.quiet && Date.now() - this.waitingSince > WAITING_NOTICE_MS && this.pending.length + this.inFlight.size > 0) {
        this.waitingNoticed = true;
        this.log(`queue: waiting for workers (start one with: kvopt worker --queue ${this.target.display})`);
      }
    }
  }

  /** A worker left: its own queue is deleted and its jobs go back to the shared queue under new ids. */
  private async workerGone(w: KnownWorker): Promise<void> {
    w.gone = true;
    w.live = false;
    for (const [prompt, owner] of this.owners) if (owner === w.info.id) this.owners.delete(prompt);
    const orphans: Pending[] = [];
    for (const [id, f] of this.inFlight) {
      if (f.worker !== w.info.id) continue;
      this.inFlight.delete(id);
      orphans.push(f.entry);
    }
    w.assigned = 0;
    this.pending.unshift(...orphans);
    const name = workerQueue(w.info.id);
    const q = this.queues.get(name);
    if (q) {
      this.queues.delete(name);
      const ev = this.events.get(name);
      this.events.delete(name);
      await ev?.close().catch(() => {});
      this.eventConnections.get(name)?.disconnect();
      this.eventConnections.delete(name);
      await q.obliterate({ force: true }).catch(() => {});
      await q.close().catch(() => {});
    }
    await this.conn.hdel(workersKey(this.token), w.info.id);
    if (!this.quiet) this.log(`queue: worker ${w.info.id} (${w.info.host}, pid ${w.info.pid}) is gone; ${orphans.length} of its jobs go to other workers`);
  }

  /**
   * Waits (at most 15 s) until no BullMQ connection of run `token` is left: workers close theirs within
   * a second or two of the announcement going, and until then they could write the run's keys again.
   */
  private async untilNoClients(token: string): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const list = await within(2000, this.conn.client('LIST').catch(() => '') as Promise<string>);
      if (!list || !String(list).includes(`name=${runPrefix(token)}:`)) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  status(): string {
    const live = [...this.workers.values()].filter((w) => w.live && !w.gone).length;
    return `workers ${live}, jobs in flight ${this.inFlight.size}${this.pending.length ? `, waiting ${this.pending.length}` : ''}`;
  }

  stopSubmitting(): void {
    this.stopping = true;
    this.schedule();
  }

  /** Removes the run from Redis: announcement, queues and keys; waits (briefly) for workers to let go. */
  async close(): Promise<void> {
    this.stopping = true;
    if (this.monitor) clearInterval(this.monitor);
    for (const p of this.pending.splice(0)) p.reject(new EvaluationCancelled());
    const reachable = this.disconnectedSince === null && !this.failure?.message.includes('lost the connection');
    if (this.started && reachable) {
      await within(
        5000,
        this.started.catch(() => {}),
      );
      await within(
        5000,
        this.conn.hdel(RUNS_KEY, this.token).catch(() => {}),
      );
    }
    for (const ev of this.events.values())
      await within(
        2000,
        ev.close().catch(() => {}),
      );
    for (const c of this.eventConnections.values()) c.disconnect();
    for (const q of this.queues.values())
      await within(
        2000,
        q.close().catch(() => {}),
      );
    if (this.started && reachable && this.token) {
      await this.untilNoClients(this.token);
      await within(
        10_000,
        deleteRunKeys(this.conn, this.token).catch(() => {}),
      );
    }
    this.conn.disconnect();
  }
}
