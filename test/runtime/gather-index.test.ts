/**
 * The gather graph's index (device-gather.ts gatherIndex), by hand: row h·T + t of the flattened (head, token) rows
 * for each kept entry, −1 on the padding up to the batch's longest head, per layer. Runs without a GPU.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gatherIndex } from '../../src/runtime/device-gather.ts';

test('gatherIndex: flattened rows per head, −1 padding to the longest head of the batch, per layer', () => {
  const T = 5;
  // kept[b][l][h]: two rows, two layers, two KV heads
  const kept = [
    [
      [Int32Array.of(0, 3), Int32Array.of(1, 2, 4)],
      [Int32Array.of(4), Int32Array.of()],
    ],
    [
      [Int32Array.of(2), Int32Array.of(0)],
      [Int32Array.of(0, 1), Int32Array.of(3)],
    ],
  ];
  const l0 = gatherIndex(kept, 0, 2, T);
  assert.equal(l0.P, 3);
  // row 0: head 0 → 0, 3; head 1 → 5+1, 5+2, 5+4; row 1: head 0 → 2; head 1 → 5+0
  assert.deepEqual(Array.from(l0.index), [0, 3, -1, 6, 7, 9, 2, -1, -1, 5, -1, -1]);
  const l1 = gatherIndex(kept, 1, 2, T);
  assert.equal(l1.P, 2);
  assert.deepEqual(Array.from(l1.index), [4, -1, -1, -1, 0, 1, 8, -1]);
});
