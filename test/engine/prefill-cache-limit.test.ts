/** The prefill cache's disk budget: least recently used records go first; a record larger than the limit is not written. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PrefillDiskCache, serializePrefill } from '../../src/engine/prefill-cache.ts';
import { record } from '../compress/helpers.ts';

test('prefill cache limit: reads mark use, writes evict the least recently used, oversize records stay in memory', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-pcache-'));
  try {
    const rec = (T: number) => record({ T, window: 2, Hq: 2, Hkv: 1, hd: 4, L: 1 });
    const size = serializePrefill(rec(40)).length;
    const cache = new PrefillDiskCache(dir, 3 * size + 10); // room for three records
    for (const k of ['a1', 'b2', 'c3']) {
      assert.deepEqual(cache.put(k, rec(40)), { bytes: (['a1', 'b2', 'c3'].indexOf(k) + 1) * size, evicted: 0, written: true });
      await sleep(20);
    }
    assert.ok(cache.get('a1'), 'a1 is read back'); // a1 is now the most recently used
    await sleep(20);
    const usage = cache.put('d4', rec(40));
    assert.deepEqual(usage, { bytes: 3 * size, evicted: 1, written: true });
    assert.equal(existsSync(cache.path('b2')), false, 'the least recently used record went');
    for (const k of ['a1', 'c3', 'd4']) assert.ok(existsSync(cache.path(k)), `${k} kept`);
    assert.ok(statSync(cache.path('a1')).size === size);

    const big = rec(400);
    assert.ok(serializePrefill(big).length > 3 * size + 10);
    assert.deepEqual(cache.put('e5', big), { bytes: 3 * size, evicted: 0, written: false });
    assert.equal(existsSync(cache.path('e5')), false);
    assert.equal(cache.get('e5'), null);

    // no limit: nothing is ever evicted
    const unlimited = new PrefillDiskCache(dir);
    assert.deepEqual(unlimited.put('f6', big).evicted, 0);
    assert.ok(existsSync(cache.path('f6')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
