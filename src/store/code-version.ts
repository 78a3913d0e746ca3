/** The code version stored with every run: package version plus `git describe` when in a git checkout. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
let cached: string | null = null;

/** `0.1.0+969cb82-dirty`, or `0.1.0` outside a git checkout (an installed package). */
export function codeVersion(): string {
  if (cached !== null) return cached;
  let version = 'unknown';
  try {
    version = (JSON.parse(readFileSync(`${repoRoot}/package.json`, 'utf8')) as { version: string }).version;
  } catch {
    // keep 'unknown'
  }
  try {
    const describe = execFileSync('git', ['describe', '--always', '--dirty', '--tags'], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 3000,
    })
      .toString()
      .trim();
    if (describe) version = `${version}+${describe}`;
  } catch {
    // not a git checkout, or no git
  }
  cached = version;
  return version;
}
