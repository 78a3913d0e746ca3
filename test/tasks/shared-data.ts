/** Path inside the real shared data (KVOPT_SHARED_DATA, default ../shared/data beside the repo); fails clearly when absent. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const repoRoot = resolve(new URL('../..', import.meta.url).pathname);

export function sharedData(...parts: string[]): string {
  const root = resolve(repoRoot, process.env.KVOPT_SHARED_DATA ?? '../shared/data');
  const p = resolve(root, ...parts);
  assert.ok(existsSync(p), `shared data not found at ${p}: set KVOPT_SHARED_DATA to the shared data folder`);
  return p;
}
