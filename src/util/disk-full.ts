/**
 * A full disk, whichever layer noticed it: the file system (ENOSPC, EDQUOT) or SQLite (SQLITE_FULL).
 * What was committed before stays valid (whole records, whole transactions), so the advice is always
 * the same: free space and resume.
 */
import { KvoptError } from './errors.ts';

const CODES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);

export function isDiskFull(err: unknown): boolean {
  return typeof err === 'object' && err !== null && CODES.has(String((err as { code?: unknown }).code));
}

export function diskFullMessage(err: unknown, path?: string): string {
  const where = path ?? (err as { path?: string } | null)?.path ?? 'the results';
  return `disk full while writing ${where}; free space and run with --resume`;
}

/** A full disk: one line; a run that meets it stops as 'interrupted' (what it stored stays; --resume continues). */
export class DiskFullError extends KvoptError {
  constructor(message: string) {
    super(message);
    this.name = 'DiskFullError';
  }
}

/** `e` as a DiskFullError naming `path` when it is a full disk seen elsewhere (e.g. SQLITE_FULL); otherwise `e`. */
export function asDiskFull(e: unknown, path: string): unknown {
  return isDiskFull(e) && !(e instanceof DiskFullError) ? diskFullError(path) : e;
}

/** The error to throw for a full disk while writing `path`. */
export function diskFullError(path: string): DiskFullError {
  return new DiskFullError(diskFullMessage(null, path));
}
