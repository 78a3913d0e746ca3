// An EvolKV search for a SelfExtend model (stories260K, trained at 512 positions, on 600+16-token windows that only
// fit with SelfExtend): it runs, and a search killed with SIGKILL after a stored generation and resumed gives
// the same generations and profile as an uninterrupted one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedDataPath } from '../helpers/shared-data.ts';
import { count, killWhen, kvopt } from './cli-run.ts';

const GENERATIONS = 4;

function writeConfig(dir: string): string {
  const file = join(dir, 'search.yaml');
  writeFileSync(
    file,
    `name: search-selfextend-test
model:
  path: ${sharedDataPath('stories260K', 'stories260K.bin')}
  tokenizer: ${sharedDataPath('stories260K', 'tok512.bin')}
  self_extend: {group: 4, window: 128}
tasks:
  - name: continuation
    data: ${sharedDataPath('paul_graham_essays')}
    samples: 3
    heldout: 1
    seed: 5
    options: { contextTokens: 600, continuationTokens: 16 }
setting: question-agnostic
search:
  scorer: snapkv
  budget: 48
  group_size: 5
  generations: ${GENERATIONS}
  population: 4
  fitness: task
  seed: 3
window: 32
chunk_size: 256
workers: 1
`,
  );
  return file;
}

test('search with self_extend: runs past the trained context; SIGKILL, --resume, same generations and profile', { timeout: 600_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-se-search-'));
  const config = writeConfig(dir);
  const env = { KVOPT_CACHE_DIR: join(dir, 'graphs') };

  const a = kvopt(['search', '--config', config, '--db', join(dir, 'a', 'k.db'), '--json', join(dir, 'a.json'), '--quiet'], env);
  assert.equal(a.status, 0, a.stderr);
  const ra = JSON.parse(readFileSync(join(dir, 'a.json'), 'utf8'));
  assert.equal(ra.generations.length, GENERATIONS);
  for (const g of ra.generations) assert.ok(Number.isFinite(g.bestFitness), 'fitness');

  // the same config without SelfExtend cannot hold these 616-token windows: it is refused in one line (lengths
  // beyond the model context are errors, never silent truncations), so the search above ran the extended model
  const plain = kvopt(['search', '--config', config, '--self-extend', 'off', '--db', join(dir, 'p', 'k.db'), '--quiet'], env);
  assert.notEqual(plain.status, 0, 'without SelfExtend the windows do not fit');
  assert.match(plain.stderr, /contextTokens \+ continuationTokens = 616 is longer than the model's context \(512 tokens/);

  const dbB = join(dir, 'b', 'k.db');
  await killWhen(['search', '--config', config, '--db', dbB, '--quiet'], () => count(dbB, 'SELECT COUNT(*) AS n FROM generations'), 1);
  const stored = count(dbB, 'SELECT COUNT(*) AS n FROM generations');
  assert.ok(stored >= 1 && stored < GENERATIONS, `killed with ${stored} generations stored`);
  const b = kvopt(['search', '--config', config, '--db', dbB, '--resume', '--json', join(dir, 'b.json'), '--quiet'], env);
  assert.equal(b.status, 0, b.stderr);
  const rb = JSON.parse(readFileSync(join(dir, 'b.json'), 'utf8'));
  const strip = (gs: Record<string, unknown>[]) => gs.map(({ id: _i, runId: _r, createdAt: _c, wallMs: _w, prefillMs: _p, decodeMs: _d, ...g }) => g);
  assert.deepEqual(strip(rb.generations), strip(ra.generations));
  const profile = (r: { profiles: { source: string; budgets: number[] }[] }) => r.profiles.find((p) => p.source === 'search')!.budgets;
  assert.deepEqual(profile(rb), profile(ra));
});
