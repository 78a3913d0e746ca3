// Tokenizers: Hugging Face tokenizer.json (Llama-2 BPE, WordLevel, ByteLevel from GGUF 'gpt2' metadata),
// chunked encoding of long text, and the score-greedy (SentencePiece/llama2.c) encoder on the Llama-2 vocab.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { HfTokenizer, loadHfTokenizer, splitForEncoding } from '../../src/model/tokenizer-hf.ts';
import { ScoreMergeTokenizer } from '../../src/model/tokenizer-llama2c.ts';
import { byteLevelTokenizerJson, ggufTokenizer } from '../../src/model/gguf.ts';
import { sharedDataPath } from '../helpers/shared-data.ts';

// karpathy/llama2.c test.c (expected ids from Meta's Llama-2 tokenizer), BOS included.
const TEST_C: [string, number[]][] = [
  ['', [1]],
  ['I believe the meaning of life is', [1, 306, 4658, 278, 6593, 310, 2834, 338]],
  ['Simply put, the theory of relativity states that ', [1, 3439, 17632, 1925, 29892, 278, 6368, 310, 14215, 537, 5922, 393, 29871]],
  [
    'A brief message congratulating the team on the launch:\n\n        Hi everyone,\n\n        I just ',
    [1, 319, 11473, 2643, 378, 629, 271, 18099, 278, 3815, 373, 278, 6826, 29901, 13, 13, 4706, 6324, 14332, 29892, 13, 13, 4706, 306, 925, 29871],
  ],
  [
    'Translate English to French:\n\n        sea otter => loutre de mer\n        peppermint => menthe poivrée\n        plush girafe => girafe peluche\n        cheese =>',
    [
      1, 4103, 9632, 4223, 304, 5176, 29901, 13, 13, 4706, 7205, 4932, 357, 1149, 301, 449, 276, 316, 2778, 13, 4706, 1236, 407, 837, 524, 1149, 6042, 354, 772,
      440, 29878, 1318, 13, 4706, 715, 1878, 330, 3055, 1725, 1149, 330, 3055, 1725, 4639, 28754, 13, 4706, 923, 968, 1149,
    ],
  ],
];

const llamaDir = sharedDataPath('tiny-random-llama-onnx-fp16');
const llama = loadHfTokenizer(llamaDir);

test('Llama-2 tokenizer.json reproduces the llama2.c test.c encodings and round-trips them', () => {
  assert.equal(llama.bosId, 1);
  assert.equal(llama.eosId, 2);
  assert.equal(llama.vocabSize, 32000);
  assert.match(llama.chatTemplate ?? '', /\[INST\]/);
  for (const [text, ids] of TEST_C) {
    assert.deepEqual(llama.encode(text, { addBos: true }), ids, text);
    assert.equal(llama.decode(ids), text);
  }
  assert.deepEqual(llama.encode('I believe'), [306, 4658]); // no BOS unless asked
});

test('chunked encoding of long text equals whole-string encoding (Llama-2) and is used', () => {
  assert.equal(llama.chunked, true);
  const dir = sharedDataPath('paul_graham_essays');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.txt'))
    .sort()
    .slice(0, 2);
  const text =
    files
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('\n\n')
      .slice(0, 6000) + '\n  indented é\n\n\nx  y';
  const chunks = splitForEncoding(text, 512);
  assert.ok(chunks.length > 5);
  assert.equal(chunks.join(''), text);
  const whole = (llama as unknown as { first: { encode(t: string, o: object): { ids: number[] } } }).first.encode(text, { add_special_tokens: false }).ids;
  assert.deepEqual(llama.encodeChunks(text), whole);
  assert.deepEqual(llama.encode(text), whole);
});

test('a hand-made WordLevel tokenizer.json with a WhitespaceSplit pre-tokenizer loads and encodes', () => {
  const words = ['<unk>', '<bos>', '<eos>', 'the', 'cat', 'sat', 'on', 'mat', '.'];
  const tj = {
    version: '1.0',
    added_tokens: [0, 1, 2].map((id) => ({ id, content: words[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'Lowercase' },
    pre_tokenizer: { type: 'WhitespaceSplit' },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab: Object.fromEntries(words.map((w, i) => [w, i])), unk_token: '<unk>' },
  };
  const tok = new HfTokenizer(tj, { bos_token: '<bos>', eos_token: '<eos>' });
  assert.equal(tok.bosId, 1);
  assert.equal(tok.eosId, 2);
  assert.equal(tok.vocabSize, 9);
  assert.deepEqual(tok.encode('The cat sat on the mat .', { addBos: true }), [1, 3, 4, 5, 6, 3, 7, 8]);
  assert.deepEqual(tok.encode('the dog sat'), [3, 0, 5]);
  assert.deepEqual(tok.encode('the cat\nsat\n\non the mat . '.repeat(100)), Array(100).fill([3, 4, 5, 6, 3, 7, 8]).flat());
  const dec = tok.decode([1, 3, 4, 5, 2]);
  assert.match(dec, /^the ?cat ?sat$/); // special tokens skipped (no decoder: words joined as the library does)
  // the same with the Whitespace pre-tokenizer (splits punctuation off words)
  const tok2 = new HfTokenizer({ ...tj, pre_tokenizer: { type: 'Whitespace' } }, {});
  assert.deepEqual(tok2.encode('the mat.'), [3, 7, 8]);
  assert.equal(tok2.bosId, null);
});

test('GGUF "llama" (SentencePiece) metadata: the score-greedy encoder gives the test.c ids on the Llama-2 vocab', () => {
  // tokens/types as a GGUF made from Llama-2 stores them. tokenizer.json has no SentencePiece scores, but its merges
  // are sorted by the merged piece's score (HF's SentencePieceExtractor), so score = −(rank of its first merge).
  const tj = JSON.parse(readFileSync(join(llamaDir, 'tokenizer.json'), 'utf8'));
  const vocab: Record<string, number> = tj.model.vocab;
  const tokens: string[] = [];
  for (const [p, id] of Object.entries(vocab)) tokens[id] = p;
  const scores = tokens.map(() => -1e9);
  (tj.model.merges as (string | string[])[]).forEach((m, rank) => {
    const id = vocab[(typeof m === 'string' ? m.split(' ') : m).join('')];
    if (scores[id] === -1e9) scores[id] = -rank;
  });
  const types = tokens.map((t, i) => (i === 0 ? 2 : i < 3 ? 3 : /^<0x[0-9A-F]{2}>$/.test(t) ? 6 : 1));
  const tok = ggufTokenizer(
    {
      'tokenizer.ggml.model': 'llama',
      'tokenizer.ggml.tokens': tokens,
      'tokenizer.ggml.scores': scores,
      'tokenizer.ggml.token_type': types,
      'tokenizer.ggml.bos_token_id': 1,
      'tokenizer.ggml.eos_token_id': 2,
      'tokenizer.ggml.unknown_token_id': 0,
    },
    'test.gguf',
  );
  assert.ok(tok instanceof ScoreMergeTokenizer);
  for (const [text, ids] of TEST_C) {
    assert.deepEqual(tok.encode(text, { addBos: true }), ids, text);
    assert.equal(tok.decode(ids), text);
  }
  // a character outside the vocab falls back to its UTF-8 byte tokens
  const ids = tok.encode('𝄞');
  assert.deepEqual(
    ids.slice(-4),
    [...Buffer.from('𝄞', 'utf8')].map((b) => vocab[`<0x${b.toString(16).toUpperCase()}>`]),
  );
  assert.equal(tok.decode(ids), '𝄞');
});

test('GGUF "gpt2" metadata becomes a ByteLevel BPE tokenizer (hand-checked merges)', () => {
  // ByteLevel alphabet: ' ' is 'Ġ', '\n' is 'Ċ'; printable ASCII maps to itself.
  const base = ['<|bos|>', '<|eos|>', 'Ġ', 'Ċ', 'a', 'b', 'c', 'h', 'e', 't', '!'];
  const merged = ['th', 'the', 'Ġthe', 'ab', 'abc'];
  const tokens = [...base, ...merged];
  const types = tokens.map((_, i) => (i < 2 ? 3 : 1));
  const merges = ['t h', 'th e', 'Ġ the', 'a b', 'ab c'];
  const tok = ggufTokenizer(
    {
      'tokenizer.ggml.model': 'gpt2',
      'tokenizer.ggml.pre': 'llama-bpe',
      'tokenizer.ggml.tokens': tokens,
      'tokenizer.ggml.token_type': types,
      'tokenizer.ggml.merges': merges,
      'tokenizer.ggml.bos_token_id': 0,
      'tokenizer.ggml.eos_token_id': 1,
    },
    'test.gguf',
  )!;
  const id = (t: string) => tokens.indexOf(t);
  assert.equal(tok.bosId, 0);
  assert.equal(tok.eosId, 1);
  assert.deepEqual(tok.encode('the abc!\nthe', { addBos: true }), [0, id('the'), id('Ġ'), id('abc'), id('!'), id('Ċ'), id('the')]);
  assert.deepEqual(tok.encode(' the'), [id('Ġthe')]);
  assert.equal(tok.decode([0, id('the'), id('Ġthe'), id('Ċ'), 1]), 'the the\n');
  // the JSON object itself carries the Llama-3 split regex and ignore_merges
  const j = byteLevelTokenizerJson(tokens, types, merges, 'llama-bpe') as { model: { ignore_merges: boolean } };
  assert.equal(j.model.ignore_merges, true);
});
