// Where tests find things: the repo root, and the real shared data (stories260K, LongBench, GSM8K, essays)
// through KVOPT_SHARED_DATA, by default ../shared/data beside the repo. A test that needs the data and
// cannot find it fails with a message saying so; it never skips.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const repoRoot = resolve(new URL('../..', import.meta.url).pathname);

export function sharedDataPath(...parts: string[]): string {
  const root = resolve(repoRoot, process.env.KVOPT_SHARED_DATA ?? '../shared/data');
  const p = resolve(root, ...parts);
  if (!existsSync(p)) {
    throw new Error(`shared test data missing: ${p} (set KVOPT_SHARED_DATA to the folder holding stories260K/ etc.; default ../shared/data beside the repo)`);
  }
  return p;
}
