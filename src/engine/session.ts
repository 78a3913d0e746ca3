/**
 * What `kvopt eval` and `kvopt search` share: opening or resuming a run, the worker pool, loading the
 * tasks' samples through a worker, and evaluating a list of items on one sample (one prefill, every item,
 * results streamed back). The main thread is the single SQLite writer; workers only compute.
 */
import { dirname, join } from 'node:path';
import { taskLabel } from '../config/task-label.ts';
import { contentHash } from '../tasks/sample-hash.ts';
import type { BudgetSpec as ConfigBudget, ExperimentConfig, MethodSpec as ConfigMethod, TaskConfig } from '../config/schema.ts';
import { canonicalJson, configHash, resolvedConfigJson } from '../config/hash.ts';
import { taskVariants } from '../config/self-extend.ts';
import { DEFAULT_STALE_MS, type Storage, Store } from '../store/store.ts';
import type { RunKind, RunRow, SampleSplit } from '../store/types.ts';
import type { Sample } from '../tasks/types.ts';
import { KvoptError } from '../util/errors.ts';
import { asDiskFull, DiskFullError, diskFullError, isDiskFull } from '../util/disk-full.ts';
import { unpackWorkerError } from './worker-error.ts';
import { checkPaths } from '../config/load.ts';
import { checkDataUnchanged, dataHashes, type DataHashes } from './data-identity.ts';
import { failedResult, type BudgetInput, type EvalItem, type EvaluateOptions, type ItemResult } from './evaluate.ts';
import { InferencePool, sizePool, type PoolSizing } from './pool.ts';
import { EvaluationCancelled, ExecutorFailed, poolExecutor, type SampleExecutor } from './executor.ts';
import { createProgress, type Progress } from './progress.ts';
import type { QueueCoordinator } from '../queue/coordinator.ts';
import type { EvaluateSampleTask, LoadSamplesResult, LoadSamplesTask, ModelRef, TaskRef, WorkerMessage } from './worker.ts';

const WORKER_URL = new URL('./worker.ts', import.meta.url).href;

export function methodInput(m: ConfigMethod): EvalItem['method'] {
  return Object.keys(m.options).length ? { [m.name]: m.options as Record<string, string | number | boolean> } : m.name;
}

export function budgetInput(b: ConfigBudget): BudgetInput {
  return b.kind === 'tokens' ? b.tokens : { keep: b.keep };
}

/**
 * Lengths the config asks for that the model cannot hold are errors, not silent truncations: the
 * observation window, needle context lengths, continuation windows.
 */
export function checkFitsContext(config: ExperimentConfig, contextLength: number): void {
  const f = config.source.file;
  const ctx = `the model's context (${contextLength} tokens, ${config.model.path})`;
  if (config.window > contextLength) throw new KvoptError(`${f}: window: ${config.window} is larger than ${ctx}`);
  config.tasks.forEach((t, i) => {
    const o = t.options as Record<string, unknown>;
    if (t.family === 'needle' && Array.isArray(o.lengths)) {
      const long = (o.lengths as number[]).find((L) => L > contextLength);
      if (long !== undefined) throw new KvoptError(`${f}: tasks[${i}].options.lengths: ${long} is longer than ${ctx}`);
    }
    if (t.family === 'continuation') {
      const c = ((o.contextTokens as number | undefined) ?? 384) + ((o.continuationTokens as number | undefined) ?? 64);
      if (c > contextLength) throw new KvoptError(`${f}: tasks[${i}].options: contextTokens + continuationTokens = ${c} is longer than ${ctx}`);
    }
  });
}

/** A sample of the run with its store id and split. */
export interface Job {
  task: TaskConfig;
  sample: Sample;
  sampleId: number;
  split: SampleSplit;
}

export interface PrefillEventInfo {
  computed: boolean;
  ms: number;
  tokens: number;
}

/** The prefill cache folder as the last write left it, and what the disk budget deleted during the run. */
export interface PrefillCacheReport {
  limitBytes: number | null;
  /** Bytes on disk after the run's last write (null: nothing written this run). */
  bytes: number | null;
  evicted: number;
  /** Records not written because one alone exceeds the limit. */
  skipped: number;
}

/** "prefill cache: 1.2 GiB on disk (limit 2.0 GiB), 3 records evicted". */
export function prefillCacheLine(r: PrefillCacheReport | null): string {
  if (!r) return 'prefill cache: off';
  const gib = (b: number) => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : `${(b / 2 ** 20).toFixed(1)} MiB`);
  const parts = [
    `prefill cache: ${r.bytes === null ? 'nothing written' : `${gib(r.bytes)} on disk`} (limit ${r.limitBytes === null ? 'none' : gib(r.limitBytes)})`,
  ];
  if (r.evicted) parts.push(`${r.evicted} records evicted`);
  if (r.skipped) parts.push(`${r.skipped} records larger than the limit kept in memory only`);
  return parts.join(', ');
}
/** How a run was stopped by a signal: the exit code a shell would show for it. */
export const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

export class RunSession {
  readonly pool: InferencePool<LoadSamplesTask | EvaluateSampleTask, WorkerMessage, unknown>;
  readonly sizing: PoolSizing;
  /** Where samples are evaluated: the pool above, or a queue of remote workers (`--queue`). */
  readonly executor: SampleExecutor;
  readonly model: ModelRef;
  readonly prefillCacheDir: string | null;
  /** What the disk cache did this run (null: no disk cache). */
  readonly prefillCacheReport: PrefillCacheReport | null;
  modelHash = '';
  /** Model facts learnt when the samples are loaded. */
  modelInfo: Omit<LoadSamplesResult, 'samples'> | null = null;
  interrupted = false;
  /** The signal that interrupted the run (SIGINT from Ctrl-C, SIGTERM from a scheduler). */
  interruptedBy: 'SIGINT' | 'SIGTERM' | null = null;
  /**
   * The error that must stop the run (a full disk, a lost lease, a failed store write): set from message
   * handlers and timers, which must not throw; lanes stop submitting and the run ends with it.
   */
  fatal: unknown = null;
  /** Prefill records that failed their integrity check (and were recomputed). */
  readonly rejectedRecords: string[] = [];
  /** Set when the first sample is handed to a worker: a run that fails before that stored nothing. */
  private started = false;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
    if (this.interrupted) process.exit(SIGNAL_EXIT[signal]);
    this.interrupted = true;
    this.interruptedBy = signal;
    if (!this.quiet) {
      const again = signal === 'SIGINT' ? 'Ctrl-C' : 'SIGTERM';
      process.stderr.write(`\nkvopt: interrupted (${signal}); finishing the work in flight (${again} again to abort)\n`);
    }
    this.pool.stopSubmitting();
    this.executor.stopSubmitting();
  };
  private readonly onSigint = () => this.onSignal('SIGINT');
  private readonly onSigterm = () => this.onSignal('SIGTERM');

  private constructor(
    readonly config: ExperimentConfig,
    readonly store: Storage,
    readonly run: RunRow,
    readonly quiet: boolean,
    prefillCache: boolean,
    /** Created by this process (not resumed): removed again if it ends before storing any work. */
    private readonly fresh: boolean,
    private readonly queue: QueueCoordinator | null,
    prefillCacheLimit: number | null,
  ) {
    // With a queue, the local pool only loads the samples (one worker); remote workers evaluate them.
    this.sizing = sizePool(queue ? 1 : (config.workers ?? 'auto'), undefined, config.model.device);
    if (this.sizing.reducedFrom && !quiet) {
      process.stderr.write(
        `kvopt: --device ${config.model.device}: 1 worker instead of ${this.sizing.reducedFrom} (one GPU session per process; several WebGPU threads crash onnxruntime-node)\n`,
      );
    }
    this.pool = new InferencePool({ workers: this.sizing.workers, filename: WORKER_URL, sizing: this.sizing });
    this.executor = queue ?? poolExecutor(this.pool, this.sizing.workers);
    this.model = {
      path: config.model.path,
      tokenizer: config.model.tokenizer,
      device: config.model.device,
      requireDevice: config.model.requireDevice,
      dtype: config.model.dtype,
      threads: config.model.threads ?? this.sizing.threadsPerWorker,
    };
    this.prefillCacheDir = prefillCache ? join(dirname(config.db), 'prefill-cache') : null;
    this.prefillCacheReport = prefillCache ? { limitBytes: prefillCacheLimit, bytes: null, evicted: 0, skipped: 0 } : null;
    this.heartbeat = setInterval(() => this.guard(() => this.checkLease()), Math.min(15_000, Math.max(250, DEFAULT_STALE_MS / 4)));
    process.on('SIGINT', this.onSigint);
    process.on('SIGTERM', this.onSigterm);
  }

  /** Opens the store and creates a run, or takes over the unfinished run of the same config (`resume`). */
  static open(
    config: ExperimentConfig,
    kind: RunKind,
    opts: { resume?: boolean; quiet?: boolean; prefillCache?: boolean; prefillCacheLimit?: number | null; queue?: QueueCoordinator },
  ): RunSession {
    checkPaths(config);
    const hashes = dataHashes(config);
    const store = Store.open(config.db);
    const hash = configHash(config);
    let run: RunRow;
    try {
      if (opts.resume) {
        const prev = store.findResumableRun(hash, kind);
        if (!prev) {
          const done = store.completedRun(hash, kind);
          if (done) throw new KvoptError(`--resume: ${kind} run ${done.id} of this config is already complete; nothing to resume`, 0);
          throw new KvoptError(`--resume: ${config.db} holds no unfinished ${kind} run of this config (hash ${hash.slice(0, 12)})`);
        }
        checkDataUnchanged(prev.id, (JSON.parse(prev.configJson) as { dataHashes?: DataHashes }).dataHashes, hashes);
        run = store.resumeRun(prev.id);
        if (!opts.quiet) process.stderr.write(`kvopt: resuming ${kind} run ${run.id}\n`);
      } else {
        run = store.createRun({
          experiment: config.name,
          kind,
          configJson: canonicalJson({ ...(JSON.parse(resolvedConfigJson(config)) as object), dataHashes: hashes }),
          configYaml: config.source.text,
          configHash: hash,
          modelPath: config.model.path,
          seed: config.seed,
        });
      }
    } catch (e) {
      store.close();
      if (isDiskFull(e)) throw diskFullError(config.db);
      throw e;
    }
    return new RunSession(config, store, run, opts.quiet ?? false, opts.prefillCache ?? true, !opts.resume, opts.queue ?? null, opts.prefillCacheLimit ?? null);
  }

  /** Runs `fn` (a store write from a message handler or timer); an error becomes the run's fatal error. */
  guard(fn: () => void): void {
    if (this.fatal) return;
    try {
      fn();
    } catch (e) {
      this.setFatal(e);
    }
  }

  setFatal(e: unknown): void {
    if (this.fatal) return;
    this.fatal = isDiskFull(e) ? diskFullError(this.config.db) : e;
    this.pool.stopSubmitting();
    this.executor.stopSubmitting();
  }

  /** Throws the fatal error, if any (call between units of work). */
  throwIfFatal(): void {
    if (this.fatal) throw this.fatal;
  }

  /** Renews the lease; losing it (another process took the run over) is fatal: nothing more is written. */
  private checkLease(): void {
    if (!this.store.heartbeat(this.run.id)) {
      const now = this.store.getRun(this.run.id);
      throw new KvoptError(
        `run ${this.run.id} was taken over by another process${now.pid !== null ? ` (pid ${now.pid} on ${now.host})` : ''} while this one was stopped (run status now ${now.status}); this one stops without writing more`,
      );
    }
  }

  /** Before each store write: the run is still ours (cheap; a stopped-and-continued process finds out at once). */
  assertHeld(): void {
    if (!this.store.holdsRun(this.run.id)) this.checkLease();
  }

  /** The model a task entry runs on (its SelfExtend variant). */
  private modelFor(task: TaskConfig): ModelRef {
    return task.selfExtend ? { ...this.model, selfExtend: task.selfExtend } : this.model;
  }

  /** Loads every task's samples (in a worker: some tasks need the tokenizer) and registers them. */
  async loadJobs(split: (task: TaskConfig, index: number, count: number) => SampleSplit): Promise<Job[]> {
    const jobs: Job[] = [];
    const tasks = taskVariants(this.config);
    for (const task of tasks) {
      const taskRef: TaskRef = { name: task.name, data: task.data, options: task.options };
      // a user error in the worker (e.g. model.self_extend against the model) arrives as a KvoptError (pool.ts unpacks it)
      const loaded = (await this.pool.run(
        { kind: 'load-samples', model: this.modelFor(task), task: taskRef, samples: task.samples ?? undefined, seed: task.seed },
        () => {},
      )) as LoadSamplesResult;
      this.store.setModelHash(this.run.id, loaded.modelHash);
      this.modelHash = loaded.modelHash;
      this.modelInfo = { modelHash: loaded.modelHash, numLayers: loaded.numLayers, numKvHeads: loaded.numKvHeads, contextLength: loaded.contextLength };
      checkFitsContext(this.config, loaded.contextLength);
      const splits = loaded.samples.map((_, i) => split(task, i, loaded.samples.length));
      const ids = this.store.registerSamples(
        this.run.id,
        loaded.samples.map((s, i) => ({ task: taskLabel(task, tasks), key: s.id, contentHash: contentHash(s), split: splits[i] })),
      );
      loaded.samples.forEach((sample, i) => jobs.push({ task, sample, sampleId: ids[i], split: splits[i] }));
    }
    this.queue?.attach({
      dbPath: this.config.db,
      runId: this.run.id,
      modelHash: this.modelHash,
      model: { path: this.config.model.path, tokenizer: this.config.model.tokenizer },
      device: this.config.model.device,
      dtype: this.config.model.dtype,
      data: this.config.tasks.map((t) => t.data),
      threads: this.config.model.threads,
    });
    return jobs;
  }

  /**
   * Evaluates `items` on one sample in a worker: one prefill (or a cached one), then every item.
   * `onItem` sees each result as it arrives; a worker failure becomes a failed result for every item
   * that had not come back.
   */
  async evaluate(
    job: Job,
    items: EvalItem[],
    options: EvaluateOptions & { window: number },
    onItem: (r: ItemResult) => void,
    onPrefill: (p: PrefillEventInfo) => void = () => {},
    attempt = 1,
  ): Promise<ItemResult[]> {
    const task: EvaluateSampleTask = {
      kind: 'evaluate',
      model: this.modelFor(job.task),
      task: { name: job.task.name, data: job.task.data, options: job.task.options },
      sample: job.sample,
      items,
      options,
      prefillCacheDir: this.prefillCacheDir,
      prefillCacheLimit: this.prefillCacheReport?.limitBytes ?? null,
      attempt,
    };
    this.started = true;
    const seen = new Map<string, ItemResult>();
    let prefillSeen = false;
    const onMessage = (m: WorkerMessage) => this.guard(() => handle(m));
    const handle = (m: WorkerMessage) => {
      if (m.kind === 'prefill') {
        prefillSeen = true;
        if (m.disk && this.prefillCacheReport) {
          this.prefillCacheReport.bytes = m.disk.bytes;
          this.prefillCacheReport.evicted += m.disk.evicted;
          if (!m.disk.written) this.prefillCacheReport.skipped++;
        }
        if (m.rejected) this.rejectedRecords.push(m.rejected);
        if (m.computed) {
          this.assertHeld();
          this.store.recordPrefill({
            runId: this.run.id,
            modelHash: this.modelHash,
            contentHash: contentHash(job.sample),
            setting: options.setting,
            window: options.window,
            tokens: m.tokens,
            ms: m.ms,
          });
        }
        onPrefill(m);
        return;
      }
      if (seen.has(m.result.key)) return;
      this.assertHeld();
      onItem(m.result);
      seen.set(m.result.key, m.result);
    };
    try {
      const res = await this.executor.evaluate(task, onMessage);
      // What had not arrived as a message when the task settled (the pool closes the port then).
      const p = res.prefill;
      if (!prefillSeen) onMessage({ kind: 'prefill', computed: p.computed, ms: p.ms, tokens: p.tokens });
      for (const r of res.results) onMessage({ kind: 'item', result: r });
    } catch (caught) {
      const e = unpackWorkerError(caught); // a remote worker's error arrives packed in its message
      if (e instanceof ExecutorFailed) throw e; // the run stops; nothing of this sample is stored
      if (e instanceof EvaluationCancelled) {
        // Never started (the run is stopping): reported as failed to the caller, stored nowhere.
        return items.map((it) => seen.get(it.key) ?? failedResult(it.key, e.message));
      }
      if (e instanceof DiskFullError) this.setFatal(e); // not the sample's fault: stop, store nothing as failed
      if (this.fatal) throw this.fatal;
      const error = e instanceof Error ? e.message : String(e);
      process.stderr.write(`kvopt: sample ${job.sample.id} failed: ${error.split('\n')[0]}\n`); // even with --quiet: failures matter
      for (const it of items) if (!seen.has(it.key)) onMessage({ kind: 'item', result: failedResult(it.key, error) });
    }
    this.throwIfFatal();
    return items.map((it) => seen.get(it.key)!);
  }

  /**
   * Ends the run and releases the workers: 'complete'; 'interrupted' after a signal or a full disk (both
   * resumable as they are); 'failed' with the error otherwise (also resumable once the cause is fixed).
   * A run created here that stored no work is removed, so `latest` never names a run rejected at once.
   * Nothing is written after a lost lease: the run belongs to the process that took it over.
   */
  async close(error?: unknown, status?: 'complete' | 'failed', message?: string): Promise<void> {
    clearInterval(this.heartbeat);
    process.off('SIGINT', this.onSigint);
    process.off('SIGTERM', this.onSigterm);
    if (this.queue) await this.queue.close();
    await this.pool.close(); // waits for the tasks in flight, whose results are still stored
    if (this.rejectedRecords.length) {
      const n = this.rejectedRecords.length;
      process.stderr.write(
        `kvopt: ${n} prefill record${n > 1 ? 's' : ''} failed the integrity check and ${n > 1 ? 'were' : 'was'} recomputed (first: ${this.rejectedRecords[0]})\n`,
      );
    }
    const err = error === undefined ? (this.fatal ?? undefined) : asDiskFull(error, this.config.db);
    try {
      if (!this.store.holdsRun(this.run.id)) return;
      if (err !== undefined && this.fresh && !this.started && !(err instanceof DiskFullError) && this.store.discardEmptyRun(this.run.id)) return;
      if (err instanceof DiskFullError || (err === undefined && this.interrupted)) {
        this.store.finishRun(this.run.id, 'interrupted', err instanceof Error ? err.message : `interrupted by ${this.interruptedBy ?? 'a signal'}`);
      } else if (err !== undefined) {
        this.store.finishRun(this.run.id, 'failed', err instanceof Error ? err.message : String(err));
      } else {
        this.store.finishRun(this.run.id, status ?? 'complete', message ?? null);
      }
    } catch (e) {
      // The run stays 'running' with this pid; once the process is gone it reads as interrupted and resumes.
      if (!isDiskFull(e)) throw e;
    }
  }

  /** How many samples the run loops keep in flight. */
  get lanes(): number {
    return this.executor.lanes;
  }

  /** The run's progress line; with a queue it also shows the connected workers and the jobs in flight. */
  progress(label: string, total: number): Progress {
    const p = createProgress(label, total, { quiet: this.quiet });
    const detail = (d: string) => [this.executor.status(), d].filter(Boolean).join(' | ');
    return { tick: (n, d = '') => p.tick(n, detail(d)), setTotal: (t) => p.setTotal(t), stop: () => p.stop() };
  }
}
