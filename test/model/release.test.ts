/** Releasing host weights once a session holds them: kept ones intact (and owning their memory), released ones throw. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { releaseHostWeights } from '../../src/model/release.ts';
import { randomWeights, tinySpec } from '../../src/model/random.ts';

test('releaseHostWeights: W_o kept bit for bit in its own buffer, every other weight throws naming itself', () => {
  const spec = tinySpec({ numLayers: 2 });
  const w = randomWeights(spec, 3);
  const wo = w.layers.map((l) => Array.from(l.wo));
  // a kept weight that views a larger buffer is copied out, so the buffer can be freed
  const shared = new Float32Array(w.layers[1].wo.length + 8);
  shared.set(w.layers[1].wo, 8);
  w.layers[1].wo = shared.subarray(8);
  const total = w.embed.byteLength + w.finalNorm.byteLength + (w.lmHead?.byteLength ?? 0);
  const perLayer = (l: (typeof w.layers)[number]) =>
    Object.entries(l).reduce((n, [k, v]) => n + (k !== 'wo' && v instanceof Float32Array ? v.byteLength : 0), 0);
  const expected = total + w.layers.reduce((n, l) => n + perLayer(l), 0);

  assert.equal(releaseHostWeights(w, new Set(['wo'])), expected);
  w.layers.forEach((l, i) => assert.deepEqual(Array.from(l.wo), wo[i]));
  assert.equal(w.layers[1].wo.buffer.byteLength, w.layers[1].wo.byteLength, 'copied out of the shared buffer');
  assert.throws(() => w.embed, /host weight embed was released/);
  assert.throws(() => w.layers[1].wq, /host weight layers\.1\.wq was released/);
  assert.throws(() => w.layers[0].wDown, /layers\.0\.wDown/);
});
