// safetensors writer/reader round trip and the 16-bit float conversions (hand-computed bit patterns).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeBf16, decodeF16, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/model/half.ts';
import { SafetensorsFile, writeSafetensors } from '../../src/model/safetensors.ts';
import { dequantizeQ8_0 } from '../../src/model/gguf.ts';
import { quantizeQ8_0 } from './gguf-writer.ts';

const tmp = mkdtempSync(join(tmpdir(), 'kvopt-st-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

test('f16 encode/decode: hand-computed bit patterns, subnormals, overflow, ties to even', () => {
  const cases: [number, number][] = [
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff],
    [0, 0x0000],
    [-0, 0x8000],
    [2 ** -24, 0x0001],
    [2 ** -14, 0x0400],
    [1e6, 0x7c00],
    [-Infinity, 0xfc00],
    [0.1, 0x2e66],
    [1 + 2 ** -11, 0x3c00], // tie between 0x3c00 and 0x3c01 → even
    [1 + 3 * 2 ** -11, 0x3c02], // tie between 0x3c01 and 0x3c02 → even
    [2 ** -25, 0x0000], // exactly half the smallest subnormal → even (0)
    [3 * 2 ** -26, 0x0001],
  ];
  for (const [x, bits] of cases) assert.equal(f32ToF16(x), bits, `f32ToF16(${x})`);
  assert.equal(f16ToF32(0x3c00), 1);
  assert.equal(f16ToF32(0x0001), 2 ** -24);
  assert.equal(f16ToF32(0x7bff), 65504);
  assert.ok(Number.isNaN(f16ToF32(0x7e00)));
  assert.equal(f16ToF32(0x2e66), Math.fround(0.0999755859375));
  // every finite f16 survives decode → encode
  for (let h = 0; h < 0x10000; h++) {
    const v = f16ToF32(h);
    if (Number.isFinite(v)) assert.equal(f32ToF16(v), h, `bits ${h.toString(16)}`);
  }
  const bytes = new Uint8Array([0x00, 0x3c, 0x00, 0xc0]);
  assert.deepEqual(Array.from(decodeF16(bytes, 2)), [1, -2]);
});

test('bf16: upper half of float32 with round to nearest even', () => {
  assert.equal(f32ToBf16(1), 0x3f80);
  assert.equal(f32ToBf16(-2), 0xc000);
  assert.equal(f32ToBf16(1 + 2 ** -8), 0x3f80); // tie → even
  assert.equal(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82); // tie → even (up)
  assert.equal(f32ToBf16(1 + 2 ** -7), 0x3f81); // exact
  assert.deepEqual(Array.from(decodeBf16(new Uint8Array([0x80, 0x3f, 0x00, 0xc0]), 2)), [1, -2]);
});

test('Q8_0 quantize/dequantize: d = max|x|/127, x ≈ d·q', () => {
  const x = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * (i < 32 ? 1 : 0.01));
  const q = quantizeQ8_0(x);
  assert.equal(q.length, 68);
  const y = dequantizeQ8_0(new Uint8Array(q), 64);
  for (let i = 0; i < 64; i++) assert.ok(Math.abs(x[i] - y[i]) <= (i < 32 ? 1 : 0.01) / 127, `${i}`);
  assert.ok(Math.abs(y[0]) === 0);
});

test('writeSafetensors → SafetensorsFile: header layout, 8-byte aligned data, F32/F16/BF16 values', () => {
  const p = join(tmp, 'a.safetensors');
  const a = Float32Array.from([1, -2, 0.5, 3.25, 1e-3, 7]);
  writeSafetensors(
    p,
    {
      a32: { dtype: 'F32', shape: [2, 3], data: a },
      a16: { dtype: 'F16', shape: [6], data: a },
      ab16: { dtype: 'BF16', shape: [3, 2], data: a },
    },
    { format: 'pt' },
  );
  const raw = readFileSync(p);
  const n = Number(raw.readBigUInt64LE(0));
  assert.equal((8 + n) % 8, 0);
  const header = JSON.parse(raw.subarray(8, 8 + n).toString());
  assert.deepEqual(header.a32, { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] });
  assert.deepEqual(header.a16.data_offsets, [24, 36]);
  assert.deepEqual(header.__metadata__, { format: 'pt' });
  assert.equal(raw.length, 8 + n + 24 + 12 + 12);
  const f = new SafetensorsFile(p);
  try {
    assert.deepEqual(f.read('a32'), a);
    assert.deepEqual(Array.from(f.read('a16')), [1, -2, 0.5, 3.25, f16ToF32(f32ToF16(1e-3)), 7]);
    assert.deepEqual(Array.from(f.read('ab16')).slice(0, 4), [1, -2, 0.5, 3.25]);
    assert.deepEqual(f.tensors.get('ab16')?.shape, [3, 2]);
    assert.deepEqual(f.metadata, { format: 'pt' });
  } finally {
    f.close();
  }
});
