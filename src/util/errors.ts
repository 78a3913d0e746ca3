/**
 * A user-facing error: the CLI prints `kvopt: <message>` on one line and exits non-zero, no stack trace.
 * The message must name the file, field or flag and what was expected.
 */
export class KvoptError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'KvoptError';
  }
}

/** Throws a KvoptError when `cond` is false. */
export function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new KvoptError(message);
}
