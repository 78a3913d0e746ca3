/**
 * What `kvopt eval` and `kvopt search` share: opening or resuming a run, the worker pool, loading the
 * tasks' samples through a worker, and evaluating a list of items on one sample (one prefill, every item,
 * results streamed back). The main thread is the single SQLite writer; workers only compute.
 */
import { dirname, join } from 'node:path';
import { taskLabel } from '../config/task-label.ts';
import { contentHash } from '../tasks/sample-hash.ts';
import type { BudgetSpec as ConfigBudget, ExperimentConfig, MethodSpec as ConfigMethod, TaskConfig } from '../config/schema.ts';
import { configHash, resolvedConfigJson } from '../config/hash.ts';
import { taskVariants } from '../config/self-extend.ts';
import { Store } from '../store/store.ts';
import type { RunKind, RunRow, SampleSplit } from '../store/types.ts';
import type { Sample } from '../tasks/types.ts';
import { KvoptError } from '../util/errors.ts';
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
  const parts = [`prefill cache: ${r.bytes === null ? 'nothing written' : `${gib(r.bytes)} on disk`} (limit ${r.limitBytes === null ? 'none' : gib(r.limitBytes)})`];
  if (r.evicted) parts.push(`${r.evicted} records evicted`);
  if (r.skipped) parts.push(`${r.skipped} records larger than the limit kept in memory only`);
  return parts.join(', ');
}

export class RunSession {
  readonly pool: InferencePool<LoadSamplesTask | EvaluateSampleTask, WorkerMessage, unknown>;
  /** Where samples are evaluated: the pool above, or a queue of remote workers (`--queue`). */
  readonly executor: SampleExecutor;
  readonly sizing: PoolSizing;
  readonly model: ModelRef;
  readonly prefillCacheDir: string | null;
  /** What the disk cache did this run (null: no disk cache). */
  readonly prefillCacheReport: PrefillCacheReport | null;
  modelHash = '';
  /** Model facts learnt when the samples are loaded. */
  modelInfo: Omit<LoadSamplesResult, 'samples'> | null = null;
  interrupted = false;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly onSigint = () => {
    if (this.interrupted) process.exit(130);
    this.interrupted = true;
    if (!this.quiet) process.stderr.write('\nkvopt: interrupted; finishing the work in flight (Ctrl-C again to abort)\n');
    this.pool.stopSubmitting();
    this.executor.stopSubmitting();
  };

  private constructor(
    readonly config: ExperimentConfig,
    readonly store: Store,
    readonly run: RunRow,
    readonly quiet: boolean,
    prefillCache: boolean,
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
    this.heartbeat = setInterval(() => store.heartbeat(run.id), 15_000);
    process.on('SIGINT', this.onSigint);
  }

  /** Opens the store and creates a run, or takes over the unfinished run of the same config (`resume`). */
  static open(
    config: ExperimentConfig,
    kind: RunKind,
    opts: { resume?: boolean; quiet?: boolean; prefillCache?: boolean; prefillCacheLimit?: number | null; queue?: QueueCoordinator },
  ): RunSession {
    const store = Store.open(config.db);
    const hash = configHash(config);
    let run: RunRow;
    if (opts.resume) {
      const prev = store.findResumableRun(hash, kind);
      if (!prev) {
        store.close();
        throw new KvoptError(`--resume: ${config.db} holds no unfinished ${kind} run of this config (hash ${hash.slice(0, 12)})`);
      }
      run = store.resumeRun(prev.id);
      if (!opts.quiet) process.stderr.write(`kvopt: resuming ${kind} run ${run.id}\n`);
    } else {
      run = store.createRun({
        experiment: config.name,
        kind,
        configJson: resolvedConfigJson(config),
        configYaml: config.source.text,
        configHash: hash,
        modelPath: config.model.path,
        seed: config.seed,
      });
    }
    return new RunSession(config, store, run, opts.quiet ?? false, opts.prefillCache ?? true, opts.queue ?? null, opts.prefillCacheLimit ?? null);
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
      const loaded = (await this.pool
        .run({ kind: 'load-samples', model: this.modelFor(task), task: taskRef, samples: task.samples ?? undefined, seed: task.seed }, () => {})
        .catch((e: unknown) => {
          // a user error in the worker (e.g. model.self_extend against the model) stays a one-line error
          const m = /^(?:Error: )?KvoptError: (.*)$/s.exec(String((e as Error)?.message ?? e));
          throw m ? new KvoptError(m[1]!) : e;
        })) as LoadSamplesResult;
      this.store.setModelHash(this.run.id, loaded.modelHash);
      this.modelHash = loaded.modelHash;
      this.modelInfo = { modelHash: loaded.modelHash, numLayers: loaded.numLayers, numKvHeads: loaded.numKvHeads, contextLength: loaded.contextLength };
      const splits = loaded.samples.map((_, i) => split(task, i, loaded.samples.length));
      const ids = this.store.registerSamples(
        this.run.id,
        loaded.samples.map((s, i) => ({ task: taskLabel(task, tasks), key: s.id, contentHash: contentHash(s), split: splits[i]! })),
      );
      loaded.samples.forEach((sample, i) => jobs.push({ task, sample, sampleId: ids[i]!, split: splits[i]! }));
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
    const seen = new Map<string, ItemResult>();
    const onMessage = (m: WorkerMessage) => {
      if (m.kind === 'prefill') {
        if (m.disk && this.prefillCacheReport) {
          this.prefillCacheReport.bytes = m.disk.bytes;
          this.prefillCacheReport.evicted += m.disk.evicted;
          if (!m.disk.written) this.prefillCacheReport.skipped++;
        }
        if (m.computed) {
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
      seen.set(m.result.key, m.result);
      onItem(m.result);
    };
    try {
      const res = await this.executor.evaluate(task, onMessage);
      // Results whose message had not arrived when the task settled.
      for (const r of res.results) onMessage({ kind: 'item', result: r });
    } catch (e) {
      if (e instanceof ExecutorFailed) throw e; // the run stops; nothing of this sample is stored
      if (e instanceof EvaluationCancelled) {
        // Never started (the run is stopping): reported as failed to the caller, stored nowhere.
        return items.map((it) => seen.get(it.key) ?? failedResult(it.key, e.message));
      }
      const error = String((e as Error).message ?? e).replace(/^(Error: )?KvoptError: /, '');
      process.stderr.write(`kvopt: sample ${job.sample.id} failed: ${error}\n`); // even with --quiet: failures matter
      for (const it of items) if (!seen.has(it.key)) onMessage({ kind: 'item', result: failedResult(it.key, error) });
    }
    return items.map((it) => seen.get(it.key)!);
  }

  /** Ends the run (complete, or interrupted after Ctrl-C) and releases the workers. */
  async close(error?: unknown): Promise<void> {
    clearInterval(this.heartbeat);
    process.off('SIGINT', this.onSigint);
    if (error !== undefined) this.store.finishRun(this.run.id, 'failed', error instanceof Error ? error.message : String(error));
    else this.store.finishRun(this.run.id, this.interrupted ? 'interrupted' : 'complete');
    if (this.queue) await this.queue.close();
    await this.pool.close();
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
