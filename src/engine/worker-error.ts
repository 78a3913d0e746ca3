/**
 * Errors crossing the worker boundary keep their kind. A worker's error reaches the main thread by
 * structured clone, which keeps only a plain Error's message and stack (the KvoptError class, its exit
 * code and a system error's `code` are lost), so the worker packs them into the message and the main
 * thread unpacks them:
 * - KvoptError → KvoptError (one clean line, same exit code);
 * - a full disk (ENOSPC / SQLITE_FULL) → DiskFullError (one line, and the run stops: nothing is stored as failed);
 * - anything else → WorkerInternalError, carrying the worker's stack for --verbose.
 */
import { DiskFullError, diskFullMessage, isDiskFull } from '../util/disk-full.ts';

export { DiskFullError };
import { KvoptError } from '../util/errors.ts';

const MARK = 'kvopt-worker-error:';

interface Packed {
  kind: 'kvopt' | 'disk-full' | 'internal';
  message: string;
  exitCode?: number;
  stack?: string;
}

/** An unexpected error thrown in a worker (a bug): its message, and the worker's stack for --verbose. */
export class WorkerInternalError extends Error {
  constructor(message: string, workerStack?: string) {
    super(message);
    this.name = 'WorkerInternalError';
    if (workerStack) this.stack = `${workerStack}\n    (in a kvopt worker thread)`;
  }
}

/** In the worker: the Error to throw so that its kind survives the thread boundary. */
export function packWorkerError(e: unknown): Error {
  let p: Packed;
  if (e instanceof DiskFullError) p = { kind: 'disk-full', message: e.message };
  else if (e instanceof KvoptError) p = { kind: 'kvopt', message: e.message, exitCode: e.exitCode };
  else if (isDiskFull(e)) p = { kind: 'disk-full', message: diskFullMessage(e) };
  else p = { kind: 'internal', message: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? e.stack : undefined };
  return new Error(MARK + JSON.stringify(p));
}

/** In the main thread: the error a worker task rejected with, as the kind it was thrown as. */
export function unpackWorkerError(e: unknown): unknown {
  const msg = e instanceof Error ? e.message : typeof e === 'string' ? e : null;
  if (msg === null || !msg.startsWith(MARK)) return e;
  let p: Packed;
  try {
    p = JSON.parse(msg.slice(MARK.length)) as Packed;
  } catch {
    return e;
  }
  if (p.kind === 'kvopt') return new KvoptError(p.message, p.exitCode ?? 1);
  if (p.kind === 'disk-full') return new DiskFullError(p.message);
  return new WorkerInternalError(p.message, p.stack);
}

/** The one-line message of an error a worker (local or remote) threw, unpacked. */
export function workerErrorMessage(e: unknown): string {
  const u = unpackWorkerError(e);
  return u instanceof Error ? u.message : String(u);
}
