/**
 * Where a run's sample evaluations execute: the local piscina pool, or a queue of remote workers
 * (src/queue). The eval and search loops see only this interface, so adding machines changes no loop.
 */
import { KvoptError } from '../util/errors.ts';
import type { InferencePool } from './pool.ts';
import type { EvaluateSampleResult, EvaluateSampleTask, WorkerMessage } from './worker.ts';

export interface SampleExecutor {
  /** How many samples the run loops keep in flight. */
  readonly lanes: number;
  /** Evaluates every item of one sample; `onMessage` sees the prefill and each item as they arrive. */
  evaluate(task: EvaluateSampleTask, onMessage: (m: WorkerMessage) => void): Promise<EvaluateSampleResult>;
  /** A few words for the progress line ('' for nothing). */
  status(): string;
  /** Nothing new starts (Ctrl-C); what runs finishes. */
  stopSubmitting(): void;
  close(): Promise<void>;
}

/** An evaluation that never started because the run is stopping: nothing about it is stored. */
export class EvaluationCancelled extends Error {
  constructor() {
    super('not started: the run is stopping');
  }
}

/** The local worker pool as an executor. */
export function poolExecutor(pool: InferencePool<object, WorkerMessage, unknown>, lanes: number): SampleExecutor {
  return {
    lanes,
    evaluate: (task, onMessage) => pool.run(task, onMessage) as Promise<EvaluateSampleResult>,
    status: () => '',
    stopSubmitting: () => pool.stopSubmitting(),
    close: () => pool.close(),
  };
}

/** The executor itself broke (e.g. its queue's Redis was lost): the run stops; nothing is stored as failed. */
export class ExecutorFailed extends KvoptError {}
