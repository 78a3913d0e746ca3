import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compressPrefill } from '../../src/compress/compress.ts';
import { kiviLayerBytes, quantizeGroup } from '../../src/compress/quantizers/kivi.ts';
import { parseMethod } from '../../src/compress/registry.ts';
import { checkKiviLayer, randomRecord, randomWo, spec, weights } from './helpers.ts';

const L = 2,
  Hq = 4,
  Hkv = 2,
  hd = 8,
  T = 300;
const sp = spec({ L, Hq, Hkv, hd });
const rec = randomRecord(21, { L, Hq, Hkv, hd, T, window: 32 });
const wt = weights(sp, randomWo(22, L, sp.hiddenSize, Hq * hd));

test('kivi bytes: packed codes, scale+min per group and residual in the storage dtype (hand count)', () => {
  // one head, n = 100, hd 8, 2 bits (16 codes per int32), group 32, R 32:
  // keys: 96 quantised tokens → 8·ceil(96/16)·4 = 192 B codes, 8·3 groups·2·4 = 192 B scales, 4 residual tokens 128 B
  // values: 68 quantised tokens → 68·ceil(8/16)·4 = 272 B codes, 68·1 group·8 = 544 B scales, 32 residual 1024 B
  assert.equal(kiviLayerBytes([100], 8, 2, 32, 32, 4), 192 + 192 + 128 + 272 + 544 + 1024);
  assert.equal(kiviLayerBytes([100], 8, 16, 32, 32), 2 * 100 * 8 * 4);
  // storage fp16 (the default, as the paper): scales, minima and residual at 2 bytes, codes unchanged
  assert.equal(kiviLayerBytes([100], 8, 2, 32, 32), 192 + 96 + 64 + 272 + 272 + 512);
  assert.equal(kiviLayerBytes([100], 8, 2, 32, 32, 2), kiviLayerBytes([100], 8, 2, 32, 32));
  // padded to the longest head, part by part: head 1 (n = 10) is all residual, so the key residual part is
  // 10 tokens wide (320 B) for both heads; the other parts take head 0's sizes
  assert.equal(kiviLayerBytes([100, 10], 8, 2, 32, 32, 4), 2 * (192 + 192 + 320 + 272 + 544 + 1024));
  // n < R: nothing quantised, the residual in the storage dtype
  assert.equal(kiviLayerBytes([100], 8, 2, 32, 128, 4), 2 * 100 * 8 * 4);
  assert.equal(kiviLayerBytes([100], 8, 2, 32, 128), 2 * 100 * 8 * 2);
});

test('kivi16 reproduces the full cache exactly (eviction too: snapkv+kivi16 = snapkv)', () => {
  const full = compressPrefill(rec, sp, wt, 'full', [T, T]);
  const q = compressPrefill(rec, sp, wt, 'kivi16', [T, T]);
  q.layers.forEach((layer, l) => {
    assert.deepEqual(layer.keys, rec.cache.layers[l].keys);
    assert.deepEqual(layer.values, rec.cache.layers[l].values);
    assert.deepEqual(layer.bias, new Float32Array(Hkv * T));
  });
  assert.equal(q.physicalBytes, full.physicalBytes);
  const a = compressPrefill(rec, sp, wt, 'snapkv', [100, 100]);
  const b = compressPrefill(rec, sp, wt, 'snapkv+kivi16', [100, 100]);
  assert.deepEqual(b.layers, a.layers);
});

test('quantizeGroup: 2^b − 1 levels between min and max (hand-computed cases)', () => {
  // bits 2: levels 3, scale 10/3; (x − 0)/scale = 0, 0.3, 0.6, 0.9, 3 → codes 0, 0, 1, 1, 3
  const x = Float32Array.from([0, 1, 2, 3, 10]);
  assert.equal(quantizeGroup(x, 0, 1, 5, 2), 10 / 3);
  assert.deepEqual(Array.from(x), Array.from(Float32Array.from([0, 0, 10 / 3, 10 / 3, 10])));
  // bits 1: two levels (min and max only); stride 2 touches every other entry
  const y = Float32Array.from([-1, 7, 0.4, 7, 2, 7]);
  quantizeGroup(y, 0, 2, 3, 1);
  assert.deepEqual(Array.from(y), [-1, 7, -1, 7, 2, 7]);
  // a constant group keeps its value
  const z = Float32Array.from([5, 5, 5]);
  assert.equal(quantizeGroup(z, 0, 1, 3, 4), 0);
  assert.deepEqual(Array.from(z), [5, 5, 5]);
});

for (const bits of [2, 4]) {
  for (const R of [128, 32]) {
    test(`kivi${bits} residual ${R}: codes fit in b bits, dequantised values on the grid within scale/2, residual exact, fewer bytes`, () => {
      const m = parseMethod(`kivi(bits=${bits},residual=${R})`);
      const q = compressPrefill(rec, sp, wt, m, [T, T]);
      let maxErr = 0;
      let changed = 0;
      for (let l = 0; l < L; l++) {
        const r = checkKiviLayer(rec.cache.layers[l], q.layers[l], Hkv, T, hd, bits, 32, R);
        maxErr = Math.max(maxErr, r.maxErr);
        changed += r.changed;
      }
      assert.ok(changed > 0 && maxErr > 0, 'quantisation really happened');
      const fullBytes = 2 * L * Hkv * T * hd * 4;
      assert.ok(q.physicalBytes < fullBytes, `${q.physicalBytes} < ${fullBytes}`);
      assert.ok(q.physicalBytes >= (q.logicalEntries * 2 * hd * bits) / 8);
      assert.equal(q.logicalEntries, L * Hkv * T);
    });
  }
}

test('kivi composes with eviction: quantises the gathered entries of each head', () => {
  const a = compressPrefill(rec, sp, wt, 'snapkv', [70, 70]);
  const b = compressPrefill(rec, sp, wt, 'snapkv+kivi(bits=2,residual=32)', [70, 70]);
  assert.deepEqual(b.kept, a.kept);
  assert.notDeepEqual(b.layers[0].keys, a.layers[0].keys);
  // the last 32 kept values of each head are untouched
  const P = a.layers[0].length;
  for (let h = 0; h < Hkv; h++) {
    const from = (h * P + 70 - 32) * hd;
    assert.deepEqual(b.layers[0].values.subarray(from, from + 32 * hd), a.layers[0].values.subarray(from, from + 32 * hd));
  }
  assert.ok(b.physicalBytes < a.physicalBytes);
});

test('kivi storage option: fp16 default, fp32 counts twice the scale/min/residual bytes; attended values identical', () => {
  const a = compressPrefill(rec, sp, wt, 'kivi4', [T, T]);
  const b = compressPrefill(rec, sp, wt, { kivi4: { storage: 'fp32' } }, [T, T]);
  a.layers.forEach((layer, l) => assert.deepEqual(layer.keys, b.layers[l].keys));
  assert.ok(b.physicalBytes > a.physicalBytes, `${b.physicalBytes} > ${a.physicalBytes}`);
});
