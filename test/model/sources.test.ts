// The same random weights saved as a Hugging Face folder (safetensors), a GGUF file (llama.cpp conversion:
// Q/K rows permuted, interleaved RoPE) and a llama2.c checkpoint load to models whose naive logits agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { naiveForward } from '../reference/naive-llama.ts';
import { randomWeights, tinySpec } from '../../src/model/random.ts';
import { writeHfFolder } from '../../src/model/hf.ts';
import { loadModel } from '../../src/model/load.ts';
import { writeLlama2cCheckpoint } from '../../src/model/llama2c.ts';
import { halfToInterleavedRows } from '../../src/model/rope-permute.ts';
import { weightsHash } from '../../src/model/hash.ts';
import type { ModelSpec, ModelWeights } from '../../src/model/spec.ts';
import { dummyLlamaTokenizerMetadata, writeModelGguf } from './gguf-writer.ts';

const tmp = mkdtempSync(join(tmpdir(), 'kvopt-sources-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const TOKENS = [1, 7, 30, 2, 45, 63, 12, 12, 5, 40];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function logitsDiff(sa: ModelSpec, wa: ModelWeights, sb: ModelSpec, wb: ModelWeights): number {
  const a = naiveForward(sa, wa, TOKENS).logits;
  const b = naiveForward(sb, wb, TOKENS).logits;
  return Math.max(...a.map((l, t) => maxAbsDiff(l, b[t])));
}

/** Weights in llama2.c / GGUF-llama row order (interleaved RoPE). */
function toInterleaved(spec: ModelSpec, w: ModelWeights): ModelWeights {
  const hd = spec.headDim;
  const D = spec.hiddenSize;
  return {
    ...w,
    layers: w.layers.map((l) => ({
      ...l,
      wq: halfToInterleavedRows(l.wq, spec.numHeads, hd, D),
      wk: halfToInterleavedRows(l.wk, spec.numKvHeads, hd, D),
    })),
  };
}

/** A llama2.c tokenizer.bin with `n` made-up pieces (format: int32 max_len, then score, len, bytes per token). */
function writeTinyLlama2cTokenizer(path: string, n: number): void {
  const parts: Buffer[] = [Buffer.from(Int32Array.of(8).buffer)];
  for (let i = 0; i < n; i++) {
    const piece = Buffer.from(i === 1 ? '\n<s>\n' : i === 2 ? '\n</s>\n' : ` p${i}`, 'latin1');
    const head = Buffer.alloc(8);
    head.writeFloatLE(-i, 0);
    head.writeInt32LE(piece.length, 4);
    parts.push(head, piece);
  }
  writeFileSync(path, Buffer.concat(parts));
}

const CASES: { name: string; spec: ModelSpec; llama2c: boolean }[] = [
  { name: 'GQA 4/2, untied', spec: tinySpec(), llama2c: true },
  { name: 'MHA 4/4, tied', spec: tinySpec({ numKvHeads: 4, tieWordEmbeddings: true }), llama2c: true },
  { name: 'MQA 4/1, untied, theta 5e5', spec: tinySpec({ numKvHeads: 1, ropeTheta: 500000 }), llama2c: false },
];

for (const c of CASES) {
  test(`same weights from safetensors, GGUF${c.llama2c ? ' and llama2.c' : ''} give the same logits (${c.name})`, async () => {
    const w = randomWeights(c.spec, 42);
    const dir = join(tmp, `hf-${c.name.replace(/\W+/g, '_')}`);
    writeHfFolder(dir, c.spec, w);
    const hf = await loadModel(dir);
    assert.equal(hf.source.kind, 'hf');
    assert.deepEqual(hf.spec, c.spec);
    assert.deepEqual(hf.weights, w);
    assert.equal(hf.weightsHash, weightsHash(c.spec, w));

    const ggufPath = join(tmp, `m-${c.name.replace(/\W+/g, '_')}.gguf`);
    writeModelGguf(ggufPath, c.spec, w);
    const gg = await loadModel(ggufPath);
    assert.equal(gg.source.kind, 'gguf');
    assert.equal(gg.spec.rope, 'interleaved');
    assert.deepEqual({ ...gg.spec, rope: 'half' }, c.spec);
    assert.equal(gg.tokenizer, null);
    assert.notEqual(gg.weightsHash, hf.weightsHash);
    const dGguf = logitsDiff(hf.spec, hf.weights, gg.spec, gg.weights);
    assert.ok(dGguf < 1e-4, `GGUF vs safetensors logits differ by ${dGguf}`);

    if (c.llama2c) {
      const spec2c: ModelSpec = { ...c.spec, rope: 'interleaved' };
      const sub = join(tmp, `l2c-${c.name.replace(/\W+/g, '_')}`);
      mkdirSync(sub);
      const binPath = join(sub, 'model.bin');
      writeLlama2cCheckpoint(binPath, spec2c, toInterleaved(c.spec, w));
      writeTinyLlama2cTokenizer(join(sub, 'tokenizer.bin'), c.spec.vocabSize);
      const ck = await loadModel(binPath);
      assert.equal(ck.source.kind, 'llama2c');
      assert.equal(ck.spec.rope, 'interleaved');
      assert.deepEqual({ ...ck.spec, rope: 'half' }, c.spec);
      assert.equal(ck.tokenizer?.vocabSize, c.spec.vocabSize);
      const d2c = logitsDiff(hf.spec, hf.weights, ck.spec, ck.weights);
      assert.ok(d2c < 1e-4, `llama2.c vs safetensors logits differ by ${d2c}`);
    }
  });
}

test('without the Q/K permutation, interleaved RoPE gives different logits (the permutation matters)', () => {
  const spec = tinySpec();
  const w = randomWeights(spec, 42);
  assert.ok(logitsDiff(spec, w, { ...spec, rope: 'interleaved' }, w) > 1e-2);
});

test('Qwen2 with q/k/v bias: safetensors and GGUF (qwen2 GGUFs are not permuted, rope half) agree', async () => {
  const spec = tinySpec({ architecture: 'qwen2', attentionBias: true, tieWordEmbeddings: true, rmsNormEps: 1e-6, ropeTheta: 1e6 });
  const w = randomWeights(spec, 3);
  const dir = join(tmp, 'hf-qwen2');
  writeHfFolder(dir, spec, w);
  const hf = await loadModel(dir);
  assert.deepEqual(hf.spec, spec);
  assert.ok(hf.weights.layers[1].bk && hf.weights.layers[1].bk.length === spec.numKvHeads * spec.headDim);
  const p = join(tmp, 'qwen2.gguf');
  writeModelGguf(p, spec, w);
  const gg = await loadModel(p);
  assert.equal(gg.spec.rope, 'half');
  assert.equal(gg.spec.attentionBias, true);
  const d = logitsDiff(hf.spec, hf.weights, gg.spec, gg.weights);
  assert.ok(d < 1e-5, `qwen2 GGUF differs by ${d}`);
  // bias really used: zeroing it changes the logits
  const noBias = { ...w, layers: w.layers.map((l) => ({ ...l, bq: l.bq!.map(() => 0), bk: l.bk!.map(() => 0), bv: l.bv!.map(() => 0) })) };
  assert.ok(logitsDiff(spec, w, spec, noBias) > 1e-3);
});

test('sharded safetensors (index.json) load the same weights; F16/BF16 within rounding', async () => {
  const spec = tinySpec({ attentionBias: true });
  const w = randomWeights(spec, 9);
  const sharded = join(tmp, 'hf-sharded');
  writeHfFolder(sharded, spec, w, { shards: 3 });
  const m = await loadModel(sharded);
  assert.deepEqual(m.weights, w);
  for (const [dtype, rel] of [
    ['F16', 2 ** -11],
    ['BF16', 2 ** -8],
  ] as const) {
    const dir = join(tmp, `hf-${dtype}`);
    writeHfFolder(dir, spec, w, { dtype });
    const h = await loadModel(dir);
    const a = w.layers[0].wq;
    const b = h.weights.layers[0].wq;
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.abs(a[i]));
    assert.ok(worst <= rel * 1.0001 && worst > 0, `${dtype} relative error ${worst}`);
    const d = logitsDiff(spec, w, h.spec, h.weights);
    assert.ok(d < (dtype === 'F16' ? 5e-3 : 5e-2) && d > 0, `${dtype} logits differ by ${d}`);
  }
});

test('GGUF F16 and Q8_0 tensors dequantize within their rounding bounds', async () => {
  const spec = tinySpec();
  const w = randomWeights(spec, 5);
  const ref = toInterleaved(spec, w).layers[1].wq;
  for (const type of ['F16', 'Q8_0'] as const) {
    const p = join(tmp, `q-${type}.gguf`);
    writeModelGguf(p, spec, w, { type });
    const m = await loadModel(p);
    const got = m.weights.layers[1].wq;
    for (let b = 0; b < ref.length / 32; b++) {
      let amax = 0;
      for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(ref[b * 32 + i]));
      for (let i = 0; i < 32; i++) {
        const x = ref[b * 32 + i];
        const err = Math.abs(got[b * 32 + i] - x);
        // F16: half an ulp (2^-11 relative); Q8_0: half a step d = amax/127 plus the f16 rounding of d
        const bound = type === 'F16' ? Math.abs(x) * 2 ** -11 + 1e-12 : (amax / 127) * (0.5 + 127 * 2 ** -11) + 1e-12;
        assert.ok(err <= bound, `${type} block ${b}: |${got[b * 32 + i]} - ${x}| > ${bound}`);
      }
    }
    const d = logitsDiff({ ...spec, rope: 'interleaved' }, toInterleaved(spec, w), m.spec, m.weights);
    assert.ok(d > 0 && d < (type === 'F16' ? 5e-3 : 5e-2), `${type} logits differ by ${d}`);
  }
});

test('GGUF with tokenizer metadata loads a tokenizer; vocab comes from tokenizer.ggml.tokens', async () => {
  const spec = tinySpec({ vocabSize: 300 });
  const w = randomWeights(spec, 1);
  const p = join(tmp, 'tok.gguf');
  writeModelGguf(p, spec, w, { tokenizer: dummyLlamaTokenizerMetadata(300) });
  const m = await loadModel(p);
  assert.equal(m.spec.vocabSize, 300);
  assert.equal(m.spec.bosTokenId, 1);
  assert.equal(m.spec.eosTokenId, 2);
  assert.ok(m.tokenizer);
  assert.equal(m.tokenizer.bosId, 1);
  // "Hi" → dummy prefix ▁ (no piece ▁ alone... byte fallback) then H, i as byte tokens
  const ids = m.tokenizer.encode('Hi', { addBos: true });
  assert.deepEqual(ids, [1, 3 + 0x20, 3 + 0x48, 3 + 0x69]);
  assert.equal(m.tokenizer.decode(ids), 'Hi'); // the dummy-prefix space is dropped
});

test('weightsHash changes with any weight byte or spec field', () => {
  const spec = tinySpec();
  const w = randomWeights(spec, 2);
  const h = weightsHash(spec, w);
  assert.match(h, /^[0-9a-f]{64}$/);
  assert.equal(weightsHash({ ...spec }, randomWeights(spec, 2)), h);
  const w2 = randomWeights(spec, 2);
  w2.layers[1].wDown[17] += 1e-6;
  assert.notEqual(weightsHash(spec, w2), h);
  assert.notEqual(weightsHash({ ...spec, ropeTheta: 10001 }, w), h);
});

test('HF folder with a WordLevel tokenizer.json and no tokenizer_config.json: BOS/EOS come from config.json', async () => {
  const spec = tinySpec({ vocabSize: 8, bosTokenId: 1, eosTokenId: 2 });
  const dir = join(tmp, 'hf-wordlevel');
  writeHfFolder(dir, spec, randomWeights(spec, 4));
  const words = ['<unk>', '<s>', '</s>', 'a', 'b', 'c', 'd', 'e'];
  writeFileSync(
    join(dir, 'tokenizer.json'),
    JSON.stringify({
      version: '1.0',
      added_tokens: [0, 1, 2].map((id) => ({ id, content: words[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
      normalizer: null,
      pre_tokenizer: { type: 'WhitespaceSplit' },
      post_processor: null,
      decoder: null,
      model: { type: 'WordLevel', vocab: Object.fromEntries(words.map((w, i) => [w, i])), unk_token: '<unk>' },
    }),
  );
  const m = await loadModel(dir);
  assert.ok(m.tokenizer);
  assert.equal(m.tokenizer.bosId, 1);
  assert.equal(m.tokenizer.eosId, 2);
  assert.deepEqual(m.tokenizer.encode('a b zz e', { addBos: true }), [1, 3, 4, 0, 7]);
  // an explicit --tokenizer path (a .json) replaces the folder's tokenizer
  const other = await loadModel(dir, { tokenizer: join(dir, 'tokenizer.json') });
  assert.deepEqual(other.tokenizer?.encode('c d'), [5, 6]);
});
