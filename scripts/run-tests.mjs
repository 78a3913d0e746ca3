#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's test runner under tsx.
// Node 20's --test does not expand globs, so the files are listed here.
// Usage: npm test [-- substring ...]   (only files whose path contains a substring)
// The whole suite (no substring, as CI runs it) starts with the linter and formatter check: `biome check` with biome.jsonc.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const filters = process.argv.slice(2);
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(relative(root, p));
  }
})(join(root, 'test'));
const chosen = filters.length ? files.filter((f) => filters.some((s) => f.includes(s))) : files;
if (chosen.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}
if (filters.length === 0) {
  // `biome check`: the linter and the formatter (an unformatted file fails like a lint error).
  const lint = spawnSync(process.execPath, [join(root, 'node_modules/@biomejs/biome/bin/biome'), 'check', '.'], { cwd: root, stdio: 'inherit' });
  if (lint.status !== 0) {
    console.error('biome check failed (see above); `npm run lint` reruns it, `npm run format` formats the tree');
    process.exit(lint.status ?? 1);
  }
}
// Graph builds go to a folder of this test run, never into the checkout (a test may still choose its own).
const cacheDir = process.env.KVOPT_CACHE_DIR ? null : mkdtempSync(join(tmpdir(), 'kvopt-test-graphs-'));
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...chosen], {
  cwd: root,
  stdio: 'inherit',
  env: cacheDir ? { ...process.env, KVOPT_CACHE_DIR: cacheDir } : process.env,
});
if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
process.exit(r.status ?? 1);
