// Self-checks of the naive reference (test/reference/naive-llama.ts) against hand-derived properties.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { naiveForward, naiveInvFreq, naiveRope } from '../reference/naive-llama.ts';
import { gaussian, randomWeights, tinySpec } from '../../src/model/random.ts';
import { mulberry32 } from '../../src/util/mulberry32.ts';
import { halfToInterleavedRows } from '../../src/model/rope-permute.ts';
import type { ModelWeights } from '../../src/model/spec.ts';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('random weights are seeded, finite and give O(1) logits', () => {
  const spec = tinySpec();
  const a = randomWeights(spec, 7);
  const b = randomWeights(spec, 7);
  const c = randomWeights(spec, 8);
  assert.deepEqual(a.layers[1].wq, b.layers[1].wq);
  assert.notDeepEqual(a.layers[1].wq, c.layers[1].wq);
  assert.equal(a.layers[0].bq, null);
  assert.notEqual(a.lmHead, null);
  assert.equal(randomWeights(tinySpec({ tieWordEmbeddings: true }), 1).lmHead, null);
  assert.equal(randomWeights(tinySpec({ attentionBias: true }), 1).layers[0].bk?.length, 2 * 8);
  const out = naiveForward(spec, a, [1, 5, 9, 3, 60]);
  let sq = 0;
  let n = 0;
  for (const l of out.logits)
    for (const v of l) {
      assert.ok(Number.isFinite(v));
      sq += v * v;
      n++;
    }
  const rms = Math.sqrt(sq / n);
  assert.ok(rms > 0.2 && rms < 5, `logit rms ${rms}`);
});

test('randomWeights draws N(0,1) from gaussian(mulberry32(seed)) in order: embed, then layer 0 attnNorm, wq', () => {
  const spec = tinySpec({ vocabSize: 33, hiddenSize: 7 * 2, numHeads: 2, numKvHeads: 1, headDim: (7 * 2) / 2 + 1 }); // odd lengths cross the Box-Muller pairs
  const w = randomWeights(spec, 123);
  const g = gaussian(mulberry32(123));
  const D = spec.hiddenSize;
  for (let i = 0; i < w.embed.length; i++) assert.equal(w.embed[i], Math.fround(g() * (1 / Math.sqrt(D))));
  for (let i = 0; i < D; i++) assert.equal(w.layers[0].attnNorm[i], Math.fround(1 + 0.1 * g()));
  for (let i = 0; i < w.layers[0].wq.length; i++) assert.equal(w.layers[0].wq[i], Math.fround(g() * (1 / Math.sqrt(D))));
});

test('with zero attention and MLP outputs, logits = head · (RMSNorm(embed[token]) * finalNorm)', () => {
  const spec = tinySpec({ numLayers: 1 });
  const w = randomWeights(spec, 3);
  w.layers[0].wo.fill(0);
  w.layers[0].wDown.fill(0);
  const tokens = [4, 17, 33];
  const out = naiveForward(spec, w, tokens);
  const D = spec.hiddenSize;
  tokens.forEach((tok, t) => {
    const x = w.embed.subarray(tok * D, (tok + 1) * D);
    const rms = Math.sqrt(x.reduce((s, v) => s + v * v, 0) / D + spec.rmsNormEps);
    for (let v = 0; v < spec.vocabSize; v++) {
      let dot = 0;
      for (let i = 0; i < D; i++) dot += w.lmHead![v * D + i] * (x[i] / rms) * w.finalNorm[i];
      assert.ok(Math.abs(out.logits[t][v] - dot) < 1e-5);
    }
  });
});

test('attention rows are causal probabilities', () => {
  const spec = tinySpec();
  const out = naiveForward(spec, randomWeights(spec, 11), [1, 2, 3, 4, 5, 6]);
  const T = 6;
  for (const a of out.attention) {
    for (let h = 0; h < spec.numHeads; h++)
      for (let t = 0; t < T; t++) {
        let s = 0;
        for (let k = 0; k < T; k++) {
          const p = a[(h * T + t) * T + k];
          if (k > t) assert.equal(p, 0);
          s += p;
        }
        assert.ok(Math.abs(s - 1) < 1e-6);
      }
  }
});

test('RoPE preserves norms and q(p)·k(p′) depends only on p − p′, both pairings', () => {
  const spec = tinySpec({ headDim: 16 });
  const inv = naiveInvFreq(spec);
  for (const style of ['half', 'interleaved'] as const) {
    const q = Float64Array.from({ length: 16 }, (_, i) => Math.sin(i + 1));
    const k = Float64Array.from({ length: 16 }, (_, i) => Math.cos(3 * i));
    const rot = (v: Float64Array, p: number) => {
      const r = Float64Array.from(v);
      naiveRope(r, 0, 16, p, inv, style);
      return r;
    };
    const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, x, i) => s + x * b[i], 0);
    assert.ok(Math.abs(dot(rot(q, 37), rot(q, 37)) - dot(q, q)) < 1e-9);
    assert.ok(Math.abs(dot(rot(q, 10), rot(k, 3)) - dot(rot(q, 107), rot(k, 100))) < 1e-9);
    assert.ok(Math.abs(dot(rot(q, 10), rot(k, 3)) - dot(rot(q, 10), rot(k, 4))) > 1e-3);
  }
  // interleaved at position 1 rotates dims (0,1) by angle 1 (inv_freq_0 = 1): hand check.
  const v = new Float64Array(16);
  v[0] = 1;
  naiveRope(v, 0, 16, 1, inv, 'interleaved');
  assert.ok(Math.abs(v[0] - Math.cos(1)) < 1e-12 && Math.abs(v[1] - Math.sin(1)) < 1e-12);
  const u = new Float64Array(16);
  u[0] = 1;
  naiveRope(u, 0, 16, 1, inv, 'half');
  assert.ok(Math.abs(u[0] - Math.cos(1)) < 1e-12 && Math.abs(u[8] - Math.sin(1)) < 1e-12);
});

test('Llama-3 rope scaling: high frequencies kept, low divided by factor, medium interpolated (hand values)', () => {
  const spec = tinySpec({
    headDim: 128,
    ropeTheta: 500000,
    ropeScaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
  });
  const f = naiveInvFreq(spec);
  const base = (i: number) => 500000 ** ((-2 * i) / 128);
  assert.equal(f[0], 1); // wavelen 2π < 2048
  assert.ok(Math.abs(f[63] - base(63) / 8) < 1e-15); // wavelen ≈ 2.5e6 > 8192
  // i = 32: wavelen = 2π·500000^(64/128) ≈ 4443 lies between 8192/4 and 8192/1: smooth = (8192/4443 − 1)/3 ≈ 0.281.
  const wl = (2 * Math.PI) / base(32);
  assert.ok(Math.abs(wl - 4442.88) < 0.01);
  const smooth = (8192 / wl - 1) / 3;
  assert.ok(Math.abs(f[32] - (((1 - smooth) * base(32)) / 8 + smooth * base(32))) < 1e-15);
  assert.ok(f[32] < base(32) && f[32] > base(32) / 8);
  assert.ok(Math.abs(f[26] - base(26)) < 1e-18); // wavelen ≈ 1298 < 8192/4: kept
  assert.ok(Math.abs(f[36] - base(36) / 8) < 1e-18); // wavelen ≈ 10089 > 8192
});

test('half RoPE with W_q, W_k equals interleaved RoPE with the HF→GGUF row permutation', () => {
  const spec = tinySpec({ attentionBias: true });
  const w = randomWeights(spec, 5);
  const hd = spec.headDim;
  const D = spec.hiddenSize;
  const permuted: ModelWeights = {
    ...w,
    layers: w.layers.map((l) => ({
      ...l,
      wq: halfToInterleavedRows(l.wq, spec.numHeads, hd, D),
      wk: halfToInterleavedRows(l.wk, spec.numKvHeads, hd, D),
      bq: halfToInterleavedRows(l.bq!, spec.numHeads, hd, 1),
      bk: halfToInterleavedRows(l.bk!, spec.numKvHeads, hd, 1),
    })),
  };
  const tokens = [1, 9, 20, 41, 63, 2, 7];
  const a = naiveForward(spec, w, tokens);
  const b = naiveForward({ ...spec, rope: 'interleaved' }, permuted, tokens);
  for (let t = 0; t < tokens.length; t++) assert.ok(maxAbsDiff(a.logits[t], b.logits[t]) < 1e-5);
  // and without the permutation the two conventions really differ
  const c = naiveForward({ ...spec, rope: 'interleaved' }, w, tokens);
  assert.ok(maxAbsDiff(a.logits[6], c.logits[6]) > 1e-3);
});

test('GQA: kv head floor(h/G) serves query head h (equals MHA with duplicated K/V heads)', () => {
  const spec = tinySpec(); // H 4, Hkv 2
  const w = randomWeights(spec, 9);
  const hd = spec.headDim;
  const D = spec.hiddenSize;
  const dup = (m: Float32Array) => {
    const out = new Float32Array(4 * hd * D);
    for (let h = 0; h < 4; h++) out.set(m.subarray(Math.floor(h / 2) * hd * D, (Math.floor(h / 2) + 1) * hd * D), h * hd * D);
    return out;
  };
  const mha: ModelWeights = { ...w, layers: w.layers.map((l) => ({ ...l, wk: dup(l.wk), wv: dup(l.wv) })) };
  const tokens = [3, 1, 4, 1, 5, 9, 2, 6];
  const a = naiveForward(spec, w, tokens);
  const b = naiveForward({ ...spec, numKvHeads: 4 }, mha, tokens);
  for (let t = 0; t < tokens.length; t++) assert.ok(maxAbsDiff(a.logits[t], b.logits[t]) < 1e-5);
  for (let l = 0; l < spec.numLayers; l++) assert.ok(maxAbsDiff(a.attention[l], b.attention[l]) < 1e-6);
});

test('positions shift: explicit positions p+c give the same logits (RoPE is relative)', () => {
  const spec = tinySpec({ rope: 'interleaved' });
  const w = randomWeights(spec, 2);
  const tokens = [5, 6, 7, 8];
  const a = naiveForward(spec, w, tokens);
  const b = naiveForward(spec, w, tokens, [20, 21, 22, 23]);
  const c = naiveForward(spec, w, tokens, [0, 1, 2, 9]);
  assert.ok(maxAbsDiff(a.logits[3], b.logits[3]) < 1e-5);
  assert.ok(maxAbsDiff(a.logits[3], c.logits[3]) > 1e-4);
  assert.ok(maxAbsDiff(a.keys[0], b.keys[0]) > 1e-3); // keys are stored after RoPE
});
