// Bad model inputs throw a KvoptError whose one-line message names the file and the problem.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../src/model/load.ts';
import { randomWeights, tinySpec } from '../../src/model/random.ts';
import { writeHfFolder } from '../../src/model/hf.ts';
import { writeSafetensors, SafetensorsFile } from '../../src/model/safetensors.ts';
import { writeLlama2cCheckpoint } from '../../src/model/llama2c.ts';
import { KvoptError } from '../../src/util/errors.ts';
import { writeModelGguf } from './gguf-writer.ts';

const tmp = mkdtempSync(join(tmpdir(), 'kvopt-bad-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/** Asserts `p` rejects with a one-line KvoptError matching every pattern. */
async function rejectsWith(p: Promise<unknown> | (() => unknown), ...patterns: RegExp[]): Promise<void> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof KvoptError, `expected a KvoptError, got ${String(err)}`);
  assert.ok(!err.message.includes('\n'), `message is not one line: ${err.message}`);
  for (const re of patterns) assert.match(err.message, re);
}

const spec = tinySpec();
const w = randomWeights(spec, 1);

test('missing model path', async () => {
  await rejectsWith(loadModel(join(tmp, 'nope.gguf')), /nope\.gguf/, /not found/);
});

test('HF folder without config.json / without safetensors', async () => {
  const d = join(tmp, 'empty');
  mkdirSync(d);
  await rejectsWith(loadModel(d), /empty\/config\.json/, /not found/);
  writeFileSync(
    join(d, 'config.json'),
    JSON.stringify({
      ...JSON.parse('{}'),
      architectures: ['LlamaForCausalLM'],
      vocab_size: 8,
      hidden_size: 8,
      intermediate_size: 8,
      num_hidden_layers: 1,
      num_attention_heads: 2,
    }),
  );
  await rejectsWith(loadModel(d), /empty/, /no model\.safetensors/);
});

test('truncated safetensors names the file and the tensor cut off', async () => {
  const d = join(tmp, 'trunc');
  writeHfFolder(d, spec, w);
  const f = join(d, 'model.safetensors');
  truncateSync(f, statSync(f).size - 10);
  await rejectsWith(loadModel(d), /trunc\/model\.safetensors/, /truncated/, /lm_head\.weight/);
});

test('safetensors with an unsupported dtype (I8) names the dtype and the tensor', async () => {
  const d = join(tmp, 'i8');
  writeHfFolder(d, spec, w);
  const f = join(d, 'model.safetensors');
  // Rewrite the header: same byte sizes, q_proj of layer 0 declared as I8 with 4x the elements.
  const buf = readFileSync(f);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const name = 'model.layers.0.self_attn.q_proj.weight';
  header[name].dtype = 'I8';
  header[name].shape = [header[name].shape[0] * 4, header[name].shape[1]];
  let json = JSON.stringify(header);
  json += ' '.repeat(n - Buffer.byteLength(json));
  assert.equal(Buffer.byteLength(json), n);
  buf.write(json, 8, 'utf8');
  writeFileSync(f, buf);
  await rejectsWith(loadModel(d), /i8\/model\.safetensors/, /'model\.layers\.0\.self_attn\.q_proj\.weight'/, /unsupported dtype I8/);
  const sf = new SafetensorsFile(f);
  try {
    await rejectsWith(() => sf.read(name), /model\.safetensors/, /unsupported dtype I8/, /q_proj/);
  } finally {
    sf.close();
  }
});

test('safetensors header that is not JSON, or that claims more bytes than the file has', async () => {
  const f = join(tmp, 'garbage.safetensors');
  const b = Buffer.alloc(64, 0x41);
  b.writeBigUInt64LE(40n, 0);
  writeFileSync(f, b);
  await rejectsWith(() => new SafetensorsFile(f), /garbage\.safetensors/, /not valid JSON/);
  b.writeBigUInt64LE(4000n, 0);
  writeFileSync(f, b);
  await rejectsWith(() => new SafetensorsFile(f), /garbage\.safetensors/, /header length 4000/);
  writeSafetensors(f, { x: { dtype: 'F32', shape: [2, 3], data: new Float32Array(6) } });
  const sf = new SafetensorsFile(f);
  assert.deepEqual(Array.from(sf.read('x')), [0, 0, 0, 0, 0, 0]);
  await rejectsWith(() => sf.read('y'), /garbage\.safetensors/, /no tensor 'y'/);
  sf.close();
});

test('unsupported architecture in config.json', async () => {
  const d = join(tmp, 'arch');
  writeHfFolder(d, spec, w);
  const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
  cfg.architectures = ['FalconForCausalLM'];
  writeFileSync(join(d, 'config.json'), JSON.stringify(cfg));
  await rejectsWith(loadModel(d), /arch\/config\.json/, /FalconForCausalLM/, /supported: LlamaForCausalLM/);
});

test('HF tensor with the wrong shape names the tensor and both shapes', async () => {
  const d = join(tmp, 'shape');
  writeHfFolder(d, spec, w);
  const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
  cfg.intermediate_size = 40;
  writeFileSync(join(d, 'config.json'), JSON.stringify(cfg));
  await rejectsWith(loadModel(d), /model\.safetensors/, /mlp\.gate_proj\.weight/, /\[48,32\]/, /\[40,32\]/);
});

test('GGUF: wrong magic, unsupported architecture, truncated', async () => {
  const p = join(tmp, 'bad.gguf');
  writeModelGguf(p, spec, w);
  const good = readFileSync(p);
  writeFileSync(p, Buffer.concat([Buffer.from('GGUX'), good.subarray(4)]));
  await rejectsWith(loadModel(p), /bad\.gguf/, /wrong magic/);
  writeFileSync(p, good.subarray(0, good.length - 100));
  await rejectsWith(loadModel(p), /bad\.gguf/, /truncated/, /output\.weight/);
  const p2 = join(tmp, 'falcon.gguf');
  writeFileSync(
    p2,
    Buffer.from(
      good.toString('latin1').replace('\u0005\u0000\u0000\u0000\u0000\u0000\u0000\u0000llama', '\u0005\u0000\u0000\u0000\u0000\u0000\u0000\u0000bloom'),
      'latin1',
    ),
  );
  await rejectsWith(loadModel(p2), /falcon\.gguf/, /unsupported general\.architecture "bloom"/, /supported: llama, qwen2/);
});

test('llama2.c: truncated checkpoint, garbage header, missing tokenizer (names what was tried)', async () => {
  const d = join(tmp, 'l2c');
  mkdirSync(d);
  const p = join(d, 'model.bin');
  writeLlama2cCheckpoint(p, { ...spec, rope: 'interleaved' }, w);
  await rejectsWith(loadModel(p), /model\.bin/, /tokenizer\.bin/, /tok\*\.bin/, /--tokenizer/);
  await rejectsWith(loadModel(p, { tokenizer: join(d, 'missing-tok.bin') }), /missing-tok\.bin/, /not found/);
  truncateSync(p, statSync(p).size - 4);
  await rejectsWith(loadModel(p), /model\.bin/, /truncated/);
  writeFileSync(p, Buffer.from('this is not a checkpoint at all, just text'));
  await rejectsWith(loadModel(p), /model\.bin/, /not a llama2\.c checkpoint/);
});
