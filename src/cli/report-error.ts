/**
 * How an error reaches the user: always one line on stderr, never a stack trace unless --verbose.
 * - KvoptError (bad input, refused operation): `kvopt: <message>`, its exit code (1 by default);
 * - a full disk (ENOSPC, SQLITE_FULL): one line saying what to do, exit 1;
 * - anything else is a bug: `kvopt: internal error: <message>` plus a pointer to --verbose, exit 70.
 */
import { CommanderError } from 'commander';
import { diskFullMessage, isDiskFull } from '../util/disk-full.ts';
import { KvoptError } from '../util/errors.ts';

/** Exit code of an unexpected (internal) error: EX_SOFTWARE of sysexits.h. */
export const EXIT_INTERNAL = 70;

const firstLine = (s: string) =>
  s
    .split('\n')
    .find((l) => l.trim() !== '')
    ?.trim() ?? '';

export function reportError(err: unknown, verbose: boolean): number {
  if (err instanceof CommanderError) return err.exitCode; // commander printed its own message
  if (err instanceof KvoptError) {
    if (err.message) process.stderr.write(`kvopt: ${firstLine(err.message)}\n`);
    if (verbose && err.stack) process.stderr.write(`${err.stack}\n`);
    return err.exitCode;
  }
  if (isDiskFull(err)) {
    process.stderr.write(`kvopt: ${diskFullMessage(err)}\n`);
    if (verbose && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
  if ((err as { code?: string } | null)?.code === 'SQLITE_BUSY') {
    // Another process holds the write lock past the busy timeout (e.g. a kvopt stopped inside a transaction).
    process.stderr.write(
      'kvopt: the database is locked by another process (a kvopt still writing, or one stopped mid-write); try again once it has finished\n',
    );
    return 1;
  }
  const message = err instanceof Error ? firstLine(err.message) || err.name : firstLine(String(err));
  if (verbose) {
    process.stderr.write(`kvopt: internal error: ${message}\n${err instanceof Error ? err.stack : ''}\n`);
  } else {
    process.stderr.write(`kvopt: internal error: ${message} (run again with --verbose for the stack trace)\n`);
  }
  return EXIT_INTERNAL;
}
