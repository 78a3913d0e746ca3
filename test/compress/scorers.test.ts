/**
 * Hand-computed cases for every scorer. Attention values are multiples of 1/16 so sums are exact and the ties
 * are real ties.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compressPrefill } from '../../src/compress/compress.ts';
import { parseMethod, buildMethod } from '../../src/compress/registry.ts';
import { valueOutputNorms } from '../../src/compress/scorers/attention.ts';
import type { ScoreContext } from '../../src/compress/types.ts';
import { KvoptError } from '../../src/util/errors.ts';
import { record, spec, weights } from './helpers.ts';
import { mulberry32 } from '../../src/util/mulberry32.ts';

const s16 = (xs: number[]) => xs.map((x) => x / 16);
// T = 6, window 2 (prefix P = 4), Hq 2 → Hkv 1 (G = 2). Rows of queries 4 and 5 (causal: query 4 can't see 5).
const rows6 = [
  [s16([1, 6, 1, 2, 6, 0]), s16([3, 2, 2, 5, 2, 2])], // head 0: prefix sums [4, 8, 3, 7]/16
  [s16([6, 2, 1, 1, 6, 0]), s16([2, 2, 6, 2, 2, 2])], // head 1: prefix sums [8, 4, 7, 3]/16
];
const spec6 = spec({ L: 1, Hq: 2, Hkv: 1, hd: 2, D: 2 });
// wo [D=2, Hq*hd=4]: head 0 columns = I, head 1 columns = 2I → ||v W_o^(0)||_1 = |v|_1, ||v W_o^(1)||_1 = 2|v|_1.
const wo6 = Float32Array.from([1, 0, 2, 0, 0, 1, 0, 2]);
const values6 = [
  [
    [1, 0],
    [0, 0.5],
    [2, 1],
    [1, 1],
    [1, 1],
    [1, 1],
  ],
]; // |v|_1 = 1, 0.5, 3, 2, 2, 2
const rec6 = record({ T: 6, window: 2, Hq: 2, Hkv: 1, hd: 2, L: 1, windowAttention: [rows6], values: [values6] });
const w6 = weights(spec6, [wo6]);

function scores(method: string, budget: number, rec = rec6, sp = spec6, wt = w6, layer = 0) {
  const m = buildMethod(parseMethod(method));
  const ctx: ScoreContext = { record: rec, spec: sp, weights: wt, layerBudgets: new Array(sp.numLayers).fill(budget) };
  return m.scorer.score(ctx, layer);
}
const kept = (method: string, budget: number, rec = rec6, sp = spec6, wt = w6) =>
  compressPrefill(rec, sp, wt, parseMethod(method), new Array(sp.numLayers).fill(budget)).kept.map((l) => l.map((h) => [...h]));

test('snapkv: sum over window queries, GQA mean, window always kept, ties → later token', () => {
  const s = scores('snapkv(window=2,pooling=none)', 4).scores;
  // mean of [4,8,3,7] and [8,4,7,3] (/16) = [6,6,5,5]/16; window +inf
  assert.deepEqual([...s], [...s16([6, 6, 5, 5]), Infinity, Infinity]);
  assert.deepEqual(kept('snapkv(window=2,pooling=none)', 3), [[[1, 4, 5]]]); // 0 and 1 tie: later wins
  assert.deepEqual(kept('snapkv(window=2,pooling=none)', 4), [[[0, 1, 4, 5]]]);
  assert.deepEqual(kept('snapkv(window=2,pooling=none)', 2), [[[4, 5]]]);
  // GQA max: [8,8,7,7]/16
  assert.deepEqual([...scores('snapkv(window=2,pooling=none,gqa=max)', 4).scores].slice(0, 4), s16([8, 8, 7, 7]));
  // mean over the window queries halves the scores, same ranking
  assert.deepEqual([...scores('snapkv(window=2,pooling=none,aggregation=mean)', 4).scores].slice(0, 4), s16([3, 3, 2.5, 2.5]));
});

test('snapkv: pooling per query head before the GQA reduction, PyTorch edge semantics', () => {
  // max, k=3: head0 [4,8,3,7] → [8,8,8,7]; head1 [8,4,7,3] → [8,8,7,7]; mean → [8,8,7.5,7]
  assert.deepEqual([...scores('snapkv(window=2,kernel=3)', 4).scores].slice(0, 4), s16([8, 8, 7.5, 7]));
  // avg, k=3 (zero padding counted): head0 [12,15,18,10]/3, head1 [12,19,14,10]/3 → mean [12,17,16,10]/3
  const avg = [...scores('snapkv(window=2,kernel=3,pooling=avg)', 4).scores].slice(0, 4);
  s16([12 / 3, 17 / 3, 16 / 3, 10 / 3]).forEach((v, j) => assert.ok(Math.abs(avg[j] - v) < 1e-12, `j=${j}`));
  assert.deepEqual(kept('snapkv(window=2,kernel=3,pooling=avg)', 4), [[[1, 2, 4, 5]]]);
  // default window 32 > recorded 2 is a user error naming the window
  assert.throws(
    () => scores('snapkv', 4),
    (e: unknown) => e instanceof KvoptError && /window of 6/.test(e.message),
  );
});

test('h2o: accumulated attention + recent half of the budget', () => {
  // column sums head0 [5,1,3,2,1,1], head1 [3,1,1,4,1,1] → mean [4,1,2,3,1,1]
  const rec = record({
    T: 6,
    window: 2,
    Hq: 2,
    Hkv: 1,
    hd: 2,
    L: 1,
    columnSums: [
      [
        [5, 1, 3, 2, 1, 1],
        [3, 1, 1, 4, 1, 1],
      ],
    ],
  });
  assert.deepEqual([...scores('h2o', 4, rec).scores], [4, 1, 2, 3, Infinity, Infinity]);
  assert.deepEqual(kept('h2o', 4, rec), [[[0, 3, 4, 5]]]); // recent 2, heavy 0 and 3
  assert.deepEqual(kept('h2o', 3, rec), [[[0, 3, 5]]]); // recent 1, heavy 2
  assert.deepEqual(kept('h2o(recent=0)', 2, rec), [[[0, 3]]]);
  assert.deepEqual(kept('h2o(gqa=max,recent=1)', 2, rec), [[[0, 5]]]); // max [5,1,3,4,1,1]
});

test('streaming: sinks + most recent', () => {
  const rec = record({ T: 10, window: 1, Hq: 2, Hkv: 1, hd: 2, L: 1 });
  assert.deepEqual(kept('streaming', 6, rec), [[[0, 1, 2, 3, 8, 9]]]);
  assert.deepEqual(kept('streaming(sinks=1)', 3, rec), [[[0, 8, 9]]]);
  assert.deepEqual(kept('streaming', 2, rec), [[[2, 3]]]); // B < sinks: later sinks (documented tie rule)
});

test('criticalkv: ||v W_o^(h)||_1 averaged over the group; two-stage selection', () => {
  // norm_j = mean(|v|_1, 2|v|_1) = 1.5|v|_1 = [1.5, 0.75, 4.5, 3]
  const n = valueOutputNorms(rec6, spec6, w6, 0, 4);
  assert.deepEqual([...n], [1.5, 0.75, 4.5, 3]);
  const ls = scores('criticalkv(window=2,aggregation=sum,pooling=none)', 4);
  assert.deepEqual([...ls.scores], [...s16([6, 6, 5, 5]), Infinity, Infinity]);
  const eps = 1e-4;
  const rerank = [6 / 16 + eps, 6 / 16 + eps, 5 / 16 + eps, 5 / 16 + eps].map((v, j) => v * [1.5, 0.75, 4.5, 3][j]);
  ls.secondStage!.rerank.slice(0, 4).forEach((v, j) => assert.ok(Math.abs(v - rerank[j]) < 1e-12));
  assert.equal(ls.secondStage!.firstStageRatio, 0.5);
  // default aggregation is the mean over the window queries (AdaKV / kvpress scale for ε)
  assert.deepEqual([...scores('criticalkv(window=2,pooling=none)', 4).scores].slice(0, 4), s16([3, 3, 2.5, 2.5]));
  // B=4, ratio 0.5: stage 1 = the 2 window tokens; stage 2 by (s+ε)·norm: 2 (1.41), 3 (0.94)
  assert.deepEqual(kept('criticalkv(window=2,aggregation=sum,pooling=none)', 4), [[[2, 3, 4, 5]]]);
  // B=5: stage 2 takes 2, 3, 0
  assert.deepEqual(kept('criticalkv(window=2,aggregation=sum,pooling=none)', 5), [[[0, 2, 3, 4, 5]]]);
  // ratio 0.75, B=4: stage 1 = floor(3) = window + token 1 (tie with 0, later wins); stage 2: token 2
  assert.deepEqual(kept('criticalkv(window=2,aggregation=sum,pooling=none,first_stage_ratio=0.75)', 4), [[[1, 2, 4, 5]]]);
  // snapkv alone keeps the attention-heavy 0, 1 instead
  assert.deepEqual(kept('snapkv(window=2,pooling=none)', 4), [[[0, 1, 4, 5]]]);
});

test('valueOutputNorms equals a naive v·W_o^(h) product (GQA, random)', () => {
  const sp = spec({ L: 1, Hq: 4, Hkv: 2, hd: 3, D: 5 });
  const r = mulberry32(7);
  const vals = [Array.from({ length: 2 }, () => Array.from({ length: 4 }, () => Array.from({ length: 3 }, () => 2 * r() - 1)))];
  const rec = record({ T: 4, window: 1, Hq: 4, Hkv: 2, hd: 3, L: 1, values: vals });
  const wo = Float32Array.from({ length: 5 * 12 }, () => 2 * r() - 1);
  const got = valueOutputNorms(rec, sp, weights(sp, [wo]), 0, 4);
  for (let k = 0; k < 2; k++)
    for (let j = 0; j < 4; j++) {
      let acc = 0;
      for (const h of [2 * k, 2 * k + 1]) {
        // y = W_o^(h) applied to v: y_d = Σ_c wo[d][h*3+c] v_c (float32 v, as stored)
        const v = vals[0][k][j].map((x) => Math.fround(x));
        let l1 = 0;
        for (let d = 0; d < 5; d++) l1 += Math.abs(v.reduce((s, vc, c) => s + vc * wo[d * 12 + h * 3 + c], 0));
        acc += l1 / 2;
      }
      assert.ok(Math.abs(got[k * 4 + j] - acc) < 1e-9, `k=${k} j=${j}`);
    }
});

test('defensivekv: mass-preserving avg pooling, prior-risk clamp, stage-1 mass protection (hand case)', () => {
  // T=5, w=1, Hq=Hkv=1: the query-4 row [0.5, 0, 0, 0.25 | 0.25]. Prefix mass 0.75.
  // avg k=3: [0.5, 0.5, 0.25, 0.25]/3, sum 0.5 → ×1.5 → m = [0.25, 0.25, 0.125, 0.125]; mean 0.1875
  // d = max(m, 0.1875) = [0.25, 0.25, 0.1875, 0.1875]; one KV head: norm factor n/Σn = 1 → score = d.
  // stage 1: ā = [2/3, 0, 0, 1/3]; window_bias = 0.25 → threshold 0.65: token 0 alone reaches it.
  const sp = spec({ L: 1, Hq: 1, Hkv: 1, hd: 2, D: 2 });
  const rec = record({ T: 5, window: 1, Hq: 1, Hkv: 1, hd: 2, L: 1, windowAttention: [[[[0.5, 0, 0, 0.25, 0.25]]]] });
  const wt = weights(sp, [Float32Array.from([1, 0, 0, 1])]);
  const ls = scores('defensivekv(window=1,kernel=3)', 3, rec, sp, wt);
  assert.deepEqual([...ls.scores], [Infinity, 0.25, 0.1875, 0.1875, Infinity]);
  assert.deepEqual(kept('defensivekv(window=1,kernel=3)', 2, rec, sp, wt), [[[0, 4]]]);
  assert.deepEqual(kept('defensivekv(window=1,kernel=3)', 3, rec, sp, wt), [[[0, 1, 4]]]);
  assert.deepEqual(kept('defensivekv(window=1,kernel=3)', 4, rec, sp, wt), [[[0, 1, 3, 4]]]); // tie 2/3 → later
  // the reference's one-fewer count protects nothing here: token 0 is kept on its score (0.25 ties with 1 → 1 first)
  assert.deepEqual([...scores('defensivekv(window=1,kernel=3,stage1_count=before)', 3, rec, sp, wt).scores], [0.25, 0.25, 0.1875, 0.1875, Infinity]);
  assert.deepEqual(kept('defensivekv(window=1,kernel=3,stage1_count=before)', 2, rec, sp, wt), [[[1, 4]]]);
  // no window bias: threshold 0.9 needs tokens 0 and 3 (2/3 + 1/3)
  assert.deepEqual(kept('defensivekv(window=1,kernel=3,window_bias=none)', 3, rec, sp, wt), [[[0, 3, 4]]]);
  // ... capped at B − w: with B = 2 only one can be protected (the larger, token 0)
  assert.deepEqual(kept('defensivekv(window=1,kernel=3,window_bias=none)', 2, rec, sp, wt), [[[0, 4]]]);
  // 'prefix-tail' (reference quirk): bias = mass on the last w=1 prefix token (0.25), same threshold here
  assert.deepEqual(kept('defensivekv(window=1,kernel=3,window_bias=prefix-tail)', 3, rec, sp, wt), [[[0, 1, 4]]]);
  // Row [0.5, 1/16, 1/16, 1/8 | 1/4]: ā = [2/3, 1/12, 1/12, 1/6]. Paper bias 0.25 → threshold 0.65 → {0};
  // prefix-tail bias 1/8 → threshold 0.775 → {0, 3}. Scores ∝ d = [0.5625, 0.625, 0.40625, 0.40625].
  const rec2 = record({ T: 5, window: 1, Hq: 1, Hkv: 1, hd: 2, L: 1, windowAttention: [[[[0.5, 1 / 16, 1 / 16, 1 / 8, 1 / 4]]]] });
  assert.deepEqual(kept('defensivekv(window=1,kernel=3)', 3, rec2, sp, wt), [[[0, 1, 4]]]);
  assert.deepEqual(kept('defensivekv(window=1,kernel=3,window_bias=prefix-tail)', 3, rec2, sp, wt), [[[0, 3, 4]]]);
});

/** Independent naive DefensiveKV (nested arrays, straight from algorithms.md §2) for the GQA case. */
function naiveDefensive(
  A: number[][][],
  V: number[][][],
  wo: Float32Array,
  Hq: number,
  Hkv: number,
  hd: number,
  D: number,
  T: number,
  w: number,
  k: number,
  B: number,
): number[][] {
  const G = Hq / Hkv;
  const P = T - w;
  const r = Math.floor(k / 2);
  const m = Array.from({ length: Hkv }, () => new Array<number>(P).fill(-Infinity));
  for (let h = 0; h < Hq; h++)
    for (let i = 0; i < w; i++) {
      const row = A[h][i].slice(0, P);
      const mass = row.reduce((a, b) => a + b, 0);
      const pooled = row.map((_, j) => {
        let s = 0;
        for (let t = j - r; t <= j + r; t++) s += t >= 0 && t < P ? row[t] : 0;
        return s / k;
      });
      const ps = pooled.reduce((a, b) => a + b, 0);
      pooled.forEach((v, j) => (m[Math.floor(h / G)][j] = Math.max(m[Math.floor(h / G)][j], (v / ps) * mass)));
    }
  const norm = (kv: number, j: number) => {
    let acc = 0;
    for (let g = 0; g < G; g++) {
      const h = kv * G + g;
      let l1 = 0;
      for (let d = 0; d < D; d++) {
        let y = 0;
        for (let c = 0; c < hd; c++) y += V[kv][j][c] * wo[d * Hq * hd + h * hd + c];
        l1 += Math.abs(y);
      }
      acc += l1;
    }
    return acc / G;
  };
  let bias = 0;
  for (let h = 0; h < Hq; h++) for (let i = 0; i < w; i++) for (let j = P; j < T; j++) bias += A[h][i][j];
  bias /= Hq * w;
  return m.map((mk, kv) => {
    const mean = mk.reduce((a, b) => a + b, 0) / P;
    const out = mk.map((v, j) => {
      let across = 0;
      for (let k2 = 0; k2 < Hkv; k2++) across += norm(k2, j);
      return (Math.max(v, mean) * norm(kv, j)) / across;
    });
    const abar = new Array<number>(P).fill(0);
    for (let g = 0; g < G; g++) for (let i = 0; i < w; i++) for (let j = 0; j < P; j++) abar[j] += A[kv * G + g][i][j];
    const tot = abar.reduce((a, b) => a + b, 0);
    const order = abar.map((v, j) => [v, j] as const).sort((a, b) => b[0] - a[0] || b[1] - a[1]);
    let cum = 0;
    let count = P;
    for (let c = 0; c < P; c++) {
      cum += order[c][0] / tot;
      if (cum >= 0.9 - bias) {
        count = c + 1;
        break;
      }
    }
    count = Math.min(count, B - w);
    for (let c = 0; c < count; c++) out[order[c][1]] = Infinity;
    return [...out, ...new Array<number>(w).fill(Infinity)];
  });
}

test('defensivekv equals an independent naive implementation (GQA 4/2, kernel 5, random)', () => {
  const Hq = 4,
    Hkv = 2,
    hd = 3,
    D = 6,
    T = 24,
    w = 4,
    B = 10;
  const r = mulberry32(11);
  const A: number[][][] = [];
  for (let h = 0; h < Hq; h++) {
    A.push([]);
    for (let i = 0; i < w; i++) {
      const q = T - w + i;
      const e = Array.from({ length: T }, (_, j) => (j <= q ? Math.exp(4 * r()) : 0));
      const s = e.reduce((a, b) => a + b, 0);
      A[h].push(e.map((x) => Math.fround(x / s)));
    }
  }
  const V = Array.from({ length: Hkv }, () => Array.from({ length: T }, () => Array.from({ length: hd }, () => Math.fround(2 * r() - 1))));
  const wo = Float32Array.from({ length: D * Hq * hd }, () => 2 * r() - 1);
  const sp = spec({ L: 1, Hq, Hkv, hd, D });
  const rec = record({ T, window: w, Hq, Hkv, hd, L: 1, windowAttention: [A], values: [V] });
  const got = scores(`defensivekv(window=${w})`, B, rec, sp, weights(sp, [wo])).scores;
  const want = naiveDefensive(A, V, wo, Hq, Hkv, hd, D, T, w, 5, B);
  let protectedCount = 0;
  for (let k = 0; k < Hkv; k++)
    for (let j = 0; j < T; j++) {
      const g = got[k * T + j];
      const e = want[k][j];
      if (e === Infinity) {
        assert.equal(g, Infinity, `k=${k} j=${j}`);
        if (j < T - w) protectedCount++;
      } else assert.ok(Math.abs(g - e) < 1e-9 * Math.max(1, Math.abs(e)), `k=${k} j=${j}: ${g} vs ${e}`);
    }
  assert.ok(protectedCount > 0, 'the case exercises stage-1 protection');
  // the quirk: per token, the norm factors of the KV heads sum to 1 (normalised over heads, not tokens)
});

test('full scorer keeps everything whatever the budget', () => {
  assert.deepEqual(kept('full', 1), [[[0, 1, 2, 3, 4, 5]]]);
});

test('gqa_order: group-then-pool (AdaKV reference, adakv default) vs pool-then-group (kvpress, snapkv default), hand case', () => {
  // group mean first: [6,6,5,5]/16, then max pool k=3 → [6,6,6,5]/16 (pool first gave [8,8,7.5,7]/16)
  assert.deepEqual([...scores('snapkv(window=2,kernel=3,gqa_order=group-then-pool)', 4).scores].slice(0, 4), s16([6, 6, 6, 5]));
  assert.deepEqual([...scores('adakv(window=2,kernel=3)', 4).scores].slice(0, 4), s16([6, 6, 6, 5]));
  assert.deepEqual([...scores('adakv(window=2,kernel=3,gqa_order=pool-then-group)', 4).scores].slice(0, 4), s16([8, 8, 7.5, 7]));
  assert.deepEqual([...scores('snapkv(window=2,kernel=3)', 4).scores].slice(0, 4), s16([8, 8, 7.5, 7]));
  // avg pooling is linear: the two orders agree
  const a = [...scores('snapkv(window=2,kernel=3,pooling=avg,gqa_order=group-then-pool)', 4).scores];
  const b = [...scores('snapkv(window=2,kernel=3,pooling=avg)', 4).scores];
  a.forEach((v, j) => assert.ok(Math.abs(v - b[j]) < 1e-12 || v === b[j]));
  // the order is part of the method: a non-default order shows in its key
  assert.equal(parseMethod('adakv(gqa_order=pool-then-group)').label, 'adakv(gqa_order=pool-then-group)');
});
