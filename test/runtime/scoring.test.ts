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
      assert.ok(Math.abs(ll / n - meanLogLikelihood(c, V, targets)) < 1e-12, `loglik b ${b}`);
      assert.ok(Math.abs(kl / n - meanKlDivergence(full, c, V)) < 1e-12, `kl b ${b}`);
      assert.equal(agree / n, top1Agreement(full, c, V), `top1 b ${b}`);
    });
    // Σ p log p − Σ p x + log Z Σ p cancels terms of size log Z (≈ 4 here): zero to a few ulp of those
    assert.ok(Math.abs(m.kl[0]) < 1e-14, `KL of the reference against itself is 0: ${m.kl[0]}`);
    await scorer.release();
  });
}
