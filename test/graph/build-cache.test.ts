/**
 * The graph build cache: a second ensureGraph with the same weights and options loads the cached files
 * (no rebuild), other weights or options get another key, builds leave no temporary folders, and the weights are
 * external data at 64-byte aligned offsets.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DATA_FILE, ensureGraph, graphKey } from '../../src/graph/cache.ts';
import { ModelProto } from '../../src/graph/onnx-proto.ts';
import { tinyModel } from '../runtime/helpers.ts';

const dirs: string[] = [];
const scratch = () => {
  const d = mkdtempSync(join(tmpdir(), 'kvopt-cache-test-'));
  dirs.push(d);
  return d;
};
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

test('second ensureGraph reuses the cached graph; other weights or options rebuild', () => {
  const dir = scratch();
  const model = tinyModel({}, 21);
  const first = ensureGraph(model, { precision: 'fp32' }, dir);
  assert.equal(first.built, true);
  const mtime = statSync(first.modelPath).mtimeMs;
  const second = ensureGraph(model, { precision: 'fp32' }, dir);
  assert.equal(second.built, false);
  assert.equal(second.buildMs, 0);
  assert.equal(second.modelPath, first.modelPath);
  assert.equal(statSync(second.modelPath).mtimeMs, mtime, 'cached model file was rewritten');

  const other = ensureGraph(tinyModel({}, 22), { precision: 'fp32' }, dir);
  assert.equal(other.built, true);
  assert.notEqual(other.key, first.key);
  assert.notEqual(graphKey(model.weightsHash, { precision: 'fp32' }), graphKey(model.weightsHash, { precision: 'fp16' as 'fp32' }));
  // only finished graphs, no temporary build folders
  assert.deepEqual(readdirSync(dir).sort(), [first.key, other.key].sort());
});

test('weights are stored as external data at 64-byte aligned offsets', () => {
  const dir = scratch();
  const model = tinyModel({ attentionBias: true }, 23);
  const g = ensureGraph(model, { precision: 'fp32' }, dir);
  const decoded = ModelProto.toObject(ModelProto.decode(readFileSync(g.modelPath)), { longs: Number }) as {
    ir_version: number;
    graph: { initializer: { name: string; data_location?: number; external_data?: { key: string; value: string }[]; dims: number[] }[] };
  };
  assert.equal(decoded.ir_version, 10);
  const external = decoded.graph.initializer.filter((t) => t.data_location === 1);
  const embed = external.find((t) => t.name === 'embed');
  assert.ok(embed, 'embedding is external');
  const dataBytes = readFileSync(join(dir, g.key, DATA_FILE));
  for (const t of external) {
    const kv = Object.fromEntries(t.external_data!.map((e) => [e.key, e.value]));
    assert.equal(kv.location, DATA_FILE);
    assert.equal(Number(kv.offset) % 64, 0, `${t.name} offset ${kv.offset} not 64-aligned`);
    assert.equal(Number(kv.length), t.dims.reduce((a, b) => a * b, 1) * 4);
    assert.ok(Number(kv.offset) + Number(kv.length) <= dataBytes.length);
  }
  // the embedding bytes are the weights, little-endian float32
  const kv = Object.fromEntries(embed.external_data!.map((e) => [e.key, e.value]));
  const stored = new Float32Array(
    dataBytes.buffer.slice(dataBytes.byteOffset + Number(kv.offset), dataBytes.byteOffset + Number(kv.offset) + Number(kv.length)),
  );
  assert.deepEqual(stored, model.weights.embed);
  assert.ok(statSync(g.modelPath).size < 64 * 1024, 'protobuf holds no weights');
});
