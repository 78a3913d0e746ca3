/** How a command names a stored run (`--run`): its id or the newest one. */
import { KvoptError } from '../util/errors.ts';

export type RunRef = number | 'latest';

/** `--run` value: a positive integer id or 'latest'. */
export function parseRunRef(v: string): RunRef {
  if (v === 'latest') return 'latest';
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isInteger(n) || n < 1) throw new KvoptError(`--run: expected a run id or 'latest', got '${v}'`);
  return n;
}
