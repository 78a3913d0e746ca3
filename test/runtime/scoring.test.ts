/**
 * The continuation scoring graph (float64 in onnxruntime) against the JavaScript metrics of
 * tasks/metrics/logits.ts: log-likelihood, KL from the reference and top-1 agreement per candidate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ContinuationScorer, referenceDistribution } from '../../src/runtime/scoring.ts';
import { logSoftmaxRow, meanKlDivergence, meanLogLikelihood, top1Agreement } from '../../src/tasks/metrics/logits.ts';
import { mulberry32 } from '../../src/util/mulberry32.ts';

for (const shared of [false, true]) {
  test(`scoring graph == JS metrics (log-likelihood, KL, top-1 with tied maxima) for a batch of candidates${shared ? ', first row shared' : ''}`, async () => {
    const V = 37;
    const n = 9;
    const B = 4;
    const rand = mulberry32(5);
    // Coarse logits (multiples of 0.5) so rows have tied maxima: the first maximum must win on both sides.
    const rowOf = () => Float32Array.from({ length: V }, () => Math.round((rand() * 8 - 4) * 2) / 2);
    const full = new Float32Array(n * V);
    for (let t = 0; t < n; t++) full.set(rowOf(), t * V);
    // b 0 = the full cache; with a shared first row (the prefill's last logits) every candidate's row 0 is the full one
    const cands = Array.from({ length: B }, (_, b) => {
      const c = new Float32Array(n * V);
      for (let t = 0; t < n; t++) c.set(b === 0 || (shared && t === 0) ? full.subarray(t * V, (t + 1) * V) : rowOf(), t * V);
      return c;
    });
    const targets = Array.from({ length: n }, () => Math.floor(rand() * V));
    const ref = new Float64Array(n * V);
    for (let t = 0; t < n; t++) ref.set(logSoftmaxRow(full, t * V, V), t * V);
    const k = shared ? 1 : 0;
    const rows = new Float32Array(B * (n - k) * V);
    cands.forEach((c, b) => rows.set(c.subarray(k * V), b * (n - k) * V));

    const scorer = await ContinuationScorer.create(V, 1);
    const m = await scorer.score(rows, shared ? full.slice(0, V) : null, B, targets, referenceDistribution(ref, n, V));
    const argmaxRow = (a: Float32Array, t: number) => {
      let best = 0;
      for (let v = 1; v < V; v++) if (a[t * V + v] > a[t * V + best]) best = v;
      return best;
    };
    cands.forEach((c, b) => {
      let ll = 0;
      let kl = 0;
      let agree = 0;
      for (let t = 0; t < n; t++) {
        ll += m.targetLogProb[b * n + t];
        kl += m.kl[b * n + t];
        assert.equal(m.argmax[b * n + t], argmaxRow(c, t), `argmax b ${b} t ${t}`);
        if (m.argmax[b * n + t] === argmaxRow(full, t)) agree++;
      }
      // log Z's exponentials are float32 (≤ 3e-7 relative each, see graph/scoring.ts), the rest float64
      assert.ok(Math.abs(ll / n - meanLogLikelihood(c, V, targets)) < 3e-7, `loglik b ${b}: ${ll / n - meanLogLikelihood(c, V, targets)}`);
      assert.ok(Math.abs(kl / n - meanKlDivergence(full, c, V)) < 3e-7, `kl b ${b}: ${kl / n - meanKlDivergence(full, c, V)}`);
      assert.equal(agree / n, top1Agreement(full, c, V), `top1 b ${b}`);
    });
    // KL of the reference against itself: 0 up to log Z's float32 exponentials
    assert.ok(Math.abs(m.kl[0]) < 3e-7, `KL of the reference against itself is 0: ${m.kl[0]}`);
    await scorer.release();
  });
}

test('scoring graph on a real vocabulary (32,000 logits per row): target log-probabilities within 2e-8 of float64', async () => {
  const V = 32000;
  const n = 4;
  const B = 2;
  const rand = mulberry32(9);
  // logits spread like a language model's: most far below the top few
  const rowOf = () => Float32Array.from({ length: V }, () => 12 * Math.log(rand() + 1e-9) * (rand() < 0.5 ? 1 : 0.25));
  const rows = new Float32Array(B * n * V);
  for (let r = 0; r < B * n; r++) rows.set(rowOf(), r * V);
  const full = rows.slice(0, n * V); // candidate 0 is the reference
  const ref = new Float64Array(n * V);
  for (let t = 0; t < n; t++) ref.set(logSoftmaxRow(full, t * V, V), t * V);
  const targets = Array.from({ length: n }, () => Math.floor(rand() * V));
  const scorer = await ContinuationScorer.create(V, 1);
  const m = await scorer.score(rows, null, B, targets, referenceDistribution(ref, n, V));
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < n; t++) {
      const exact = logSoftmaxRow(rows, (b * n + t) * V, V)[targets[t]];
      // measured up to 9e-9 here (float32 exp's rounding leans one way, so it does not average out entirely)
      assert.ok(Math.abs(m.targetLogProb[b * n + t] - exact) < 2e-8, `b ${b} t ${t}: ${m.targetLogProb[b * n + t] - exact}`);
    }
  }
  await scorer.release();
});
