/**
 * The real stories260K checkpoint (llama2.c format, shared data): greedy generation is deterministic, identical
 * across prefill chunk sizes and batch composition, and reads as TinyStories English (properties, not pasted text).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/model/load.ts';
import { ModelRuntime } from '../../src/runtime/runtime.ts';
import { sharedDataPath, testCacheDir } from './helpers.ts';

const model = await loadModel(sharedDataPath('stories260K', 'stories260K.bin'), {
  tokenizer: sharedDataPath('stories260K', 'tok512.bin'),
});
const tok = model.tokenizer!;
const rt = await ModelRuntime.create(model, { cacheDir: testCacheDir, intraOpNumThreads: 1 });
const prompt = tok.encode('Once upon a time, there was a little dog named Max. Max liked to', { addBos: true });

test('stories260K: greedy generation is deterministic and identical across chunk sizes and batching', async () => {
  const opts = { maxNewTokens: 80, stopTokens: [] };
  const a = await rt.generate(null, prompt, opts);
  const b = await rt.generate(null, prompt, opts);
  assert.deepEqual(b.tokens, a.tokens, 'two greedy runs differ');
  assert.equal(a.tokens.length, 80);
  for (const chunkSize of [1, 5, 16, 512]) {
    const rec = await rt.prefill(prompt, { chunkSize, window: 8 });
    const g = await rt.generate(rec.cache, [], { ...opts, lastLogits: [rec.lastLogits] });
    assert.deepEqual(g.tokens, a.tokens, `prefill chunk ${chunkSize} changes the generation`);
  }
  // a fresh runtime (graph from the build cache) gives the same tokens
  const rt2 = await ModelRuntime.create(model, { cacheDir: testCacheDir, intraOpNumThreads: 1 });
  assert.equal(rt2.graph.built, false);
  assert.deepEqual((await rt2.generate(null, prompt, opts)).tokens, a.tokens);
  await rt2.release();
  // the same prompt inside a batch with another prompt
  const other = tok.encode('Lily had a red ball.', { addBos: true });
  const batch = await rt.generateBatch([null, null], [prompt, other], opts);
  assert.deepEqual(batch[0].tokens, a.tokens, 'batched generation differs');
});

test('stories260K: greedy text reads as TinyStories English', async () => {
  const res = await rt.generate(null, tok.encode('', { addBos: true }), { maxNewTokens: 200 });
  const text = tok.decode(res.tokens);
  const words = text.match(/[A-Za-z']+/g) ?? [];
  assert.ok(words.length >= 40, `too few words: ${JSON.stringify(text)}`);
  // mostly plain words: letters only, short, lower case or Capitalised
  const wordLike = words.filter((w) => w.length <= 12 && /^[A-Z]?[a-z']+$|^[AI]$/.test(w)).length;
  assert.ok(wordLike / words.length >= 0.95, `only ${wordLike}/${words.length} word-like tokens: ${JSON.stringify(text)}`);
  // the function words of simple English stories
  const lower = new Set(words.map((w) => w.toLowerCase()));
  for (const common of ['the', 'was', 'a', 'and', 'she', 'to']) assert.ok(lower.has(common), `no '${common}' in ${JSON.stringify(text)}`);
  const common = new Set([
    'the',
    'a',
    'and',
    'was',
    'to',
    'she',
    'he',
    'her',
    'his',
    'it',
    'they',
    'in',
    'of',
    'with',
    'said',
    'day',
    'one',
    'i',
    'you',
    'is',
    'that',
    'so',
    'play',
    'had',
    'very',
    'little',
    'big',
    'on',
    'not',
    'happy',
    'saw',
    'mom',
    'friend',
    'friends',
    'wanted',
    'loved',
    'time',
    'there',
    'upon',
    'once',
    'named',
    'go',
    'did',
    'were',
    'but',
    'what',
    'can',
    'at',
    'up',
    'be',
    'all',
    'do',
    'for',
    'like',
    'too',
    'went',
    'them',
  ]);
  const covered = words.filter((w) => common.has(w.toLowerCase())).length;
  assert.ok(covered / words.length >= 0.3, `only ${covered}/${words.length} words are common story words`);
  // sentences end with punctuation and start with a capital letter
  const sentences = text.split(/(?<=[.!?])\s+/).filter((s) => s.trim().length > 0);
  assert.ok(sentences.length >= 4, `fewer than 4 sentences: ${JSON.stringify(text)}`);
  const closed = sentences.slice(0, -1);
  assert.ok(
    closed.every((s) => /[.!?]["']?$/.test(s.trim())),
    'a sentence does not end with . ! or ?',
  );
  const capitalised = sentences.filter((s) => /^["']?[A-Z]/.test(s.trim())).length;
  assert.ok(capitalised / sentences.length >= 0.8, `sentences not capitalised: ${JSON.stringify(text)}`);
  // not a loop: many distinct words
  assert.ok(lower.size / words.length >= 0.25, `degenerate repetition: ${JSON.stringify(text)}`);
});

test.after(async () => {
  await rt.release();
});
