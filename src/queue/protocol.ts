/**
 * What the coordinator and the workers of one run share through Redis: key names (everything of a run
 * lives under `kvopt:<token>:`, BullMQ's queues included, so runs never mix and a run's clean-up is one
 * prefix), the run's announcement, and the plain-data job payload and result.
 *
 * A token is `<run key>-<epoch>`: the run key names the stored run (database + run id), the epoch one
 * coordinator process, so a resumed run never consumes what its killed predecessor left in Redis.
 */
import type { EvalItem, EvaluateOptions } from '../engine/evaluate.ts';
import type { EvaluateSampleResult, TaskRef, WorkerMessage } from '../engine/worker.ts';
import type { Redis } from 'ioredis';
import type { Device } from '../runtime/types.ts';
import type { Precision } from '../graph/llama.ts';
import type { Sample } from '../tasks/types.ts';

/** The one key outside any run: token → RunAnnouncement (JSON) of every run in progress. */
export const RUNS_KEY = 'kvopt:runs';

export const runPrefix = (token: string) => `kvopt:${token}`;
/** Exists while the run's state is in Redis: gone after a Redis restart without persistence. */
export const epochKey = (token: string) => `${runPrefix(token)}:epoch`;
/** Refreshed by the coordinator (with a TTL): workers drop a run whose coordinator is gone. */
export const aliveKey = (token: string) => `${runPrefix(token)}:alive`;
/** workerId → WorkerInfo of the workers that accepted the run. */
export const workersKey = (token: string) => `${runPrefix(token)}:workers`;
/** workerId → Refusal of the workers that refused it. */
export const refusalsKey = (token: string) => `${runPrefix(token)}:refusals`;

/** Queue every worker of the run takes from (samples no worker holds yet). */
export const SHARED_QUEUE = 'shared';
/** A worker's own queue: the samples whose prefill it holds (sticky assignment). */
export const workerQueue = (workerId: string) => `w.${workerId}`;

export const ALIVE_TTL_MS = 60_000;
/** BullMQ lock of an active job: a killed worker's job of the shared queue is taken again after this. */
export const LOCK_MS = 10_000;
export const STALLED_CHECK_MS = 5_000;

export interface RunAnnouncement {
  token: string;
  modelHash: string;
  /** The model as the coordinator names it; a worker may hold the same file elsewhere (`kvopt worker --model`). */
  model: { path: string; tokenizer: string | null };
  device: Device;
  /** Graph precision (absent from announcements of older coordinators: fp32). */
  dtype?: Precision;
  /** Task data files and folders of the run: the only data paths a job may name. */
  data: string[];
  coordinator: { host: string; pid: number };
  createdAt: string;
}

export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  device: Device;
  concurrency: number;
  threads: number;
}

export interface Refusal {
  worker: WorkerInfo;
  reason: string;
}

/** A job: every item of one sample (one prefill serves them). Plain data only. */
export interface JobData {
  modelHash: string;
  task: TaskRef;
  sample: Sample;
  items: EvalItem[];
  options: EvaluateOptions & { window: number };
  attempt: number;
  /** onnxruntime threads the experiment asks for; null: the worker's own choice. */
  threads: number | null;
  /** SelfExtend variant of this job's task (model.self_extend); absent = off. */
  selfExtend?: { group: number; window: number };
}

export type JobProgress = WorkerMessage;

export interface JobResult extends EvaluateSampleResult {
  /** The worker that evaluated it: it now holds the sample's prefill. */
  worker: string;
}

/** Deletes every key under `kvopt:<token>:` (SCAN + UNLINK, never KEYS). */
export async function deleteRunKeys(conn: Redis, token: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await conn.scan(cursor, 'MATCH', `${runPrefix(token)}:*`, 'COUNT', 1000);
    if (keys.length) await conn.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** A worker id safe in queue and client names. */
export const safeId = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_');
