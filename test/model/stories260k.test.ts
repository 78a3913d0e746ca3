// The real stories260K llama2.c checkpoint + tok512.bin (shared data): header, tokenizer, greedy text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/model/load.ts';
import { parameterCount } from '../../src/model/spec.ts';
import { naiveForward } from '../reference/naive-llama.ts';
import { sharedDataPath } from '../helpers/shared-data.ts';

const model = await loadModel(sharedDataPath('stories260K', 'stories260K.bin'));

test('spec matches the SOURCE.md header; tokenizer tok512.bin found beside it', () => {
  const s = model.spec;
  assert.deepEqual(
    [s.hiddenSize, s.intermediateSize, s.numLayers, s.numHeads, s.numKvHeads, s.vocabSize, s.maxPositionEmbeddings],
    [64, 172, 5, 8, 4, 512, 512],
  );
  assert.equal(s.headDim, 8);
  assert.equal(s.tieWordEmbeddings, true);
  assert.equal(model.weights.lmHead, null);
  assert.equal(s.rope, 'interleaved');
  assert.equal(model.source.kind, 'llama2c');
  // 264,128 floats in the file minus the 2 × 512 × 4 freq_cis values, which are recomputed
  assert.equal(parameterCount(model.weights), 264128 - 4096);
  assert.ok(model.tokenizer);
  assert.equal(model.tokenizer.vocabSize, 512);
  assert.equal(model.tokenizer.bosId, 1);
  assert.equal(model.tokenizer.eosId, 2);
});

test('tokenizer round-trips text and uses merged pieces, with byte fallback for unknown characters', () => {
  const tok = model.tokenizer!;
  const text = 'Once upon a time, there was a little girl named Lily.';
  const ids = tok.encode(text, { addBos: true });
  assert.equal(ids[0], 1);
  assert.ok(ids.length < text.length / 2, `${ids.length} tokens for ${text.length} chars: merges not applied`);
  assert.equal(tok.decode(ids), text);
  const odd = 'Zoë 中 ~{x}';
  const oddIds = tok.encode(odd);
  assert.equal(tok.decode(oddIds), odd);
  // '中' is not a piece: its 3 UTF-8 bytes become byte tokens (id = byte + 3)
  const zhong = [...Buffer.from('中', 'utf8')].map((b) => b + 3);
  assert.ok(oddIds.join(',').includes(zhong.join(',')));
});

test('naive greedy decoding from BOS starts "Once upon a time" and re-encodes to the same ids', () => {
  const tokens = [1];
  for (let i = 0; i < 30; i++) {
    const logits = naiveForward(model.spec, model.weights, tokens).logits.at(-1)!;
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
    tokens.push(best);
  }
  const text = model.tokenizer!.decode(tokens);
  assert.ok(text.startsWith('Once upon a time, there was a little girl named Lily'), text);
  assert.deepEqual(model.tokenizer!.encode(text, { addBos: true }), tokens);
});
