import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flatTopCounts, largestRemainder, rankHead, selectHead } from '../../src/compress/select.ts';
import { pool1d, reduceGroups } from '../../src/compress/scorers/attention.ts';
import { mulberry32 } from '../../src/util/mulberry32.ts';

test('rankHead: higher score first, ties to the later token, +Infinity first', () => {
  const s = Float64Array.from([3, 5, 3, Infinity, 1, 5, Infinity]);
  assert.deepEqual([...rankHead(s, 0, 7)], [6, 3, 5, 1, 2, 0, 4]);
  // second head of a [2, 3] array
  const two = Float64Array.from([0, 0, 0, 2, 2, 9]);
  assert.deepEqual([...rankHead(two, 1, 3)], [2, 1, 0]);
});

test('selectHead: top b, returned ascending; two-stage: first by score, rest by rerank', () => {
  const scores = Float64Array.from([4, 3, 2, 1, Infinity]);
  assert.deepEqual([...selectHead({ scores }, 0, 5, 3)], [0, 1, 4]);
  const rerank = Float64Array.from([0, 1, 10, 9, Infinity]);
  // b = 4, ratio 0.5 → first max(#forced 1, 2) = 2: window(4) and 0; then by rerank: 2, 3
  assert.deepEqual([...selectHead({ scores, secondStage: { rerank, firstStageRatio: 0.5 } }, 0, 5, 4)], [0, 2, 3, 4]);
  // ratio 0: only the forced entry goes first
  assert.deepEqual([...selectHead({ scores, secondStage: { rerank, firstStageRatio: 0 } }, 0, 5, 2)], [2, 4]);
  assert.deepEqual([...selectHead({ scores }, 0, 5, 0)], []);
});

test('flatTopCounts: exact n, ties → later token, then lower layer, then lower head', () => {
  // layer 0: h0 [9,8,1,1], h1 [7,6.5,0,0]; layer 1: h0 [6,5,5,0], h1 [5,5,0,0]; n = 8
  // above threshold 5: 9,8,7,6.5,6 (5 entries); need 3 of the four 5s:
  // position 2 first (l1h0), then position 1: l1h0 before l1h1; l1h1 j0 loses.
  const l0 = Float64Array.from([9, 8, 1, 1, 7, 6.5, 0, 0]);
  const l1 = Float64Array.from([6, 5, 5, 0, 5, 5, 0, 0]);
  const c = flatTopCounts([l0, l1], 2, 4, 8);
  assert.deepEqual([...c[0]], [2, 2]);
  assert.deepEqual([...c[1]], [3, 1]);
  // the selected set equals each head's own top-c_h (one total order)
  assert.deepEqual([...selectHead({ scores: l1 }, 1, 4, 1)], [1]);
  assert.deepEqual(
    flatTopCounts([l0], 2, 4, 0).map((x) => [...x]),
    [[0, 0]],
  );
  assert.deepEqual(
    flatTopCounts([l0], 2, 4, 99).map((x) => [...x]),
    [[4, 4]],
  );
});

test('largestRemainder: exact total, ties to the lower index', () => {
  assert.deepEqual(largestRemainder([63, 47.5, 32, 16.5, 1], 160), [63, 48, 32, 16, 1]);
  assert.deepEqual(largestRemainder([4.5, 3, 1.5], 9), [5, 3, 1]);
  assert.deepEqual(largestRemainder([1.2, 1.2, 1.6], 4), [1, 1, 2]);
});

test('pool1d matches PyTorch padding=k//2 semantics at both edges', () => {
  const x = Float64Array.from([1, 2, 3, 4, 5]);
  // avg_pool1d(count_include_pad=True): the zero padding is counted, divide by k.
  assert.deepEqual(
    [...pool1d(x, 3, 'avg')].map((v) => +v.toFixed(12)),
    [1, 2, 3, 4, 3],
  );
  assert.deepEqual(
    [...pool1d(x, 5, 'avg')].map((v) => +v.toFixed(12)),
    [1.2, 2, 3, 2.8, 2.4],
  );
  // max_pool1d pads with -inf: edges see only real entries.
  assert.deepEqual([...pool1d(x, 3, 'max')], [2, 3, 4, 5, 5]);
  assert.deepEqual([...pool1d(Float64Array.from([5, 1, 1, 1, 4]), 3, 'max')], [5, 5, 1, 4, 4]);
  assert.deepEqual([...pool1d(Float64Array.from([-1, -2, -3]), 7, 'max')], [-1, -1, -1]);
  assert.deepEqual([...pool1d(Float64Array.from([2]), 5, 'avg')], [0.4]);
});

test('reduceGroups: query heads k·G..k·G+G-1 belong to KV head k', () => {
  // Hq 4, Hkv 2, n 2: heads [1,2], [3,4], [10,0], [20,2]
  const per = Float64Array.from([1, 2, 3, 4, 10, 0, 20, 2]);
  assert.deepEqual([...reduceGroups(per, 4, 2, 2, 'mean')], [2, 3, 15, 1]);
  assert.deepEqual([...reduceGroups(per, 4, 2, 2, 'max')], [3, 4, 20, 2]);
});

/** The sort-based reference: every position ranked by a comparator sort, top b taken, returned ascending. */
function referenceSelect(scores: Float64Array, rerank: Float64Array | null, ratio: number, h: number, T: number, b: number): number[] {
  const k = Math.max(0, Math.min(b, T));
  const rank = (s: Float64Array) =>
    Array.from({ length: T }, (_, j) => j).sort((a, c) => {
      const x = s[h * T + a];
      const y = s[h * T + c];
      if (x === y) return c - a; // later position first
      return y > x ? 1 : -1;
    });
  const order = rank(scores);
  if (!rerank) return order.slice(0, k).sort((a, c) => a - c);
  let forced = 0;
  for (let j = 0; j < T; j++) if (scores[h * T + j] === Infinity) forced++;
  const first = Math.min(k, Math.max(forced, Math.floor(k * ratio)));
  const chosen = order.slice(0, first);
  for (const j of rank(rerank)) if (chosen.length < k && !chosen.includes(j)) chosen.push(j);
  return chosen.sort((a, c) => a - c);
}

test('selectHead (quickselect) == sort-based reference on random scores full of ties and infinities', () => {
  const rand = mulberry32(17);
  for (let trial = 0; trial < 300; trial++) {
    const T = 1 + Math.floor(rand() * 90);
    const Hkv = 1 + Math.floor(rand() * 3);
    const levels = 1 + Math.floor(rand() * 6); // few distinct values: many ties
    const draw = () => (rand() < 0.1 ? Infinity : rand() < 0.05 ? -Infinity : Math.floor(rand() * levels) / levels);
    const scores = Float64Array.from({ length: Hkv * T }, draw);
    const rerank = Float64Array.from({ length: Hkv * T }, draw);
    const ratio = rand();
    const b = Math.floor(rand() * (T + 3));
    for (let h = 0; h < Hkv; h++) {
      assert.deepEqual([...selectHead({ scores }, h, T, b)], referenceSelect(scores, null, 0, h, T, b), `trial ${trial} head ${h}`);
      assert.deepEqual(
        [...selectHead({ scores, secondStage: { rerank, firstStageRatio: ratio } }, h, T, b)],
        referenceSelect(scores, rerank, ratio, h, T, b),
        `two-stage trial ${trial} head ${h}`,
      );
    }
  }
});

test('flatTopCounts (quickselect threshold) == counts of a sort-based flattened top-n', () => {
  const rand = mulberry32(23);
  for (let trial = 0; trial < 200; trial++) {
    const L = 1 + Math.floor(rand() * 3);
    const Hkv = 1 + Math.floor(rand() * 3);
    const T = 1 + Math.floor(rand() * 40);
    const levels = 1 + Math.floor(rand() * 5);
    const layers = Array.from({ length: L }, () => Float64Array.from({ length: Hkv * T }, () => (rand() < 0.1 ? Infinity : Math.floor(rand() * levels))));
    const n = Math.floor(rand() * (L * Hkv * T + 2));
    // reference: every entry ranked (score desc, later position, lower layer, lower head), first n counted
    const entries = layers.flatMap((s, l) => Array.from({ length: Hkv * T }, (_, i) => ({ l, h: Math.floor(i / T), j: i % T, v: s[i] })));
    entries.sort((a, c) => (a.v === c.v ? c.j - a.j || a.l - c.l || a.h - c.h : c.v > a.v ? 1 : -1));
    const ref = layers.map(() => new Array<number>(Hkv).fill(0));
    for (const e of entries.slice(0, n)) ref[e.l][e.h]++;
    assert.deepEqual(
      flatTopCounts(layers, Hkv, T, n).map((c) => [...c]),
      ref,
      `trial ${trial}`,
    );
  }
});
