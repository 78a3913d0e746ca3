// Locates ../shared/data (env KVOPT_SHARED_DATA, default '../shared/data' beside the repo root).
// A test that needs it fails with a clear message when it is absent (it does not skip).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const repoRoot = resolve(new URL('../..', import.meta.url).pathname);

export function sharedDataPath(...parts: string[]): string {
  const root = process.env.KVOPT_SHARED_DATA ? resolve(process.env.KVOPT_SHARED_DATA) : resolve(repoRoot, '../shared/data');
  const p = join(root, ...parts);
  if (!existsSync(p)) {
    throw new Error(`shared test data missing: ${p} (set KVOPT_SHARED_DATA to the folder holding stories260K/ etc.; default ../shared/data beside the repo)`);
  }
  return p;
}
