/** Shared helpers for graph and runtime tests: seeded random tiny models and comparisons. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { LoadedModel, ModelSpec } from '../../src/model/spec.ts';
import { randomWeights, tinySpec } from '../../src/model/random.ts';
import { mulberry32 } from '../../src/util/mulberry32.ts';
import { inMemoryModel } from '../../src/runtime/in-memory-model.ts';
import { ModelRuntime } from '../../src/runtime/runtime.ts';

/** One temporary graph cache per test process, so tests never touch the user's cache. */
export const testCacheDir = mkdtempSync(join(tmpdir(), 'kvopt-graphs-'));
process.on('exit', () => rmSync(testCacheDir, { recursive: true, force: true }));

export function tinyModel(overrides: Partial<ModelSpec> = {}, seed = 1): LoadedModel {
  const spec = tinySpec(overrides);
  return inMemoryModel(spec, randomWeights(spec, seed), `random:test:${seed}`);
}

export async function tinyRuntime(overrides: Partial<ModelSpec> = {}, seed = 1): Promise<ModelRuntime> {
  return ModelRuntime.create(tinyModel(overrides, seed), { cacheDir: testCacheDir, intraOpNumThreads: 1 });
}

/** Seeded token ids in [3, V). */
export function randomTokens(n: number, V: number, seed: number): number[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => 3 + Math.floor(r() * (V - 3)));
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, `lengths differ: ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return Infinity;
    if (d > m) m = d;
  }
  return m;
}

export function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  const d = maxAbsDiff(a, b);
  assert.ok(d <= tol, `${what}: max |diff| ${d} > ${tol}`);
}

export { sharedDataPath } from '../helpers/shared-data.ts';
