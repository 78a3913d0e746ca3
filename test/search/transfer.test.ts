import { test } from 'node:test';
import assert from 'node:assert/strict';
import { transferPlan, transferProfile } from '../../src/search/transfer.ts';

test("transfer rescales b_i = k_i·c'/c and completes to the exact new target", () => {
  // [64, 128, 192] at c = 128 → ×2 at 256: exactly [128, 256, 384]
  assert.deepEqual(transferProfile([64, 128, 192], 128, 256, { minBudget: 8 }), [128, 256, 384]);
  // to c' = 10: [5, 10, 15]
  assert.deepEqual(transferProfile([64, 128, 192], 128, 10, { minBudget: 1 }), [5, 10, 15]);
  // to c' = 11 (T = 33): real [5.5, 11, 16.5] → floors 5, 11, 16 + 1 token to the tie at layer 0
  assert.deepEqual(transferProfile([64, 128, 192], 128, 11, { minBudget: 1 }), [6, 11, 16]);
  // bounds bind: minBudget 8 at c' = 10 → layer 0 to 8, the remaining 22 split 10:15 → 8.8, 13.2 → 9, 13
  assert.deepEqual(transferProfile([64, 128, 192], 128, 10, { minBudget: 8 }), [8, 9, 13]);
});

test('transfer plan: rescale from one searched target, or search again at each budget', () => {
  assert.deepEqual(transferPlan(128, [512, 256, 128], 'rescale'), [
    { target: 128, action: 'source' },
    { target: 256, action: 'rescale', from: 128 },
    { target: 512, action: 'rescale', from: 128 },
  ]);
  assert.deepEqual(transferPlan(128, [256], 'search'), [
    { target: 128, action: 'search' },
    { target: 256, action: 'search' },
  ]);
  assert.throws(() => transferPlan(128, [0], 'rescale'), /> 0/);
});
