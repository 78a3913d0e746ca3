/**
 * Score-greedy BPE tokenizer (SentencePiece BPE semantics, as llama2.c run.c and llama.cpp's SPM tokenizer):
 *  1. a dummy-prefix space is prepended to non-empty text;
 *  2. the text is split into UTF-8 codepoints;
 *  3. repeatedly, the adjacent pair whose concatenation is a vocab piece with the highest score is merged
 *     (ties: leftmost pair);
 *  4. each final symbol becomes its piece id, or, when it is not a piece, one byte token per UTF-8 byte.
 * Decoding maps byte tokens `<0xHH>` to raw bytes, skips special tokens and drops the leading space of the first
 * piece (the dummy prefix; run.c drops it after BOS).
 *
 * Used for llama2.c `tokenizer.bin` files and for GGUF files whose tokenizer.ggml.model is 'llama'.
 */
import { existsSync, readFileSync } from 'node:fs';
import { KvoptError } from '../util/errors.ts';
import type { TextTokenizer } from './spec.ts';

export interface ScoreMergeVocab {
  /** Piece bytes of every id, as a latin1 string (one char per byte). Spaces are ' ' (not '▁'). */
  pieces: string[];
  scores: Float32Array | number[];
  /** id of the byte token for each byte value 0..255 (−1 where absent). */
  byteIds: Int32Array;
  /** ids never produced by merging and skipped when decoding (BOS, EOS, UNK, control tokens). */
  specialIds: Set<number>;
  /** ids that take part in merging (normal and user-defined pieces); default: all non-special, non-byte. */
  mergeable?: (id: number) => boolean;
  unkId: number | null;
  bosId: number | null;
  eosId: number | null;
}

export class ScoreMergeTokenizer implements TextTokenizer {
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly vocabSize: number;
  readonly chatTemplate: string | null = null;
  private lookup = new Map<string, number>(); // piece bytes → id (mergeable pieces and byte tokens as raw bytes)
  private byteOfId = new Map<number, number>();

  constructor(private vocab: ScoreMergeVocab) {
    this.bosId = vocab.bosId;
    this.eosId = vocab.eosId;
    this.vocabSize = vocab.pieces.length;
    for (let b = 0; b < 256; b++) if (vocab.byteIds[b] >= 0) this.byteOfId.set(vocab.byteIds[b], b);
    const mergeable = vocab.mergeable ?? ((id: number) => !vocab.specialIds.has(id) && !this.byteOfId.has(id));
    // Byte tokens stand for their raw byte (SentencePiece byte fallback); later real pieces win over them.
    for (let b = 0; b < 256; b++) if (vocab.byteIds[b] >= 0) this.lookup.set(String.fromCharCode(b), vocab.byteIds[b]);
    vocab.pieces.forEach((p, id) => {
      if (!mergeable(id)) return;
      const prev = this.lookup.get(p);
      if (prev === undefined || this.byteOfId.has(prev)) this.lookup.set(p, id); // first occurrence wins, as run.c's bsearch on a stable sort
    });
  }

  encode(text: string, opts: { addBos?: boolean } = {}): number[] {
    const ids: number[] = [];
    if (opts.addBos && this.bosId !== null) ids.push(this.bosId);
    if (text.length === 0) return ids;
    // Symbols: the UTF-8 bytes of each codepoint as a latin1 string.
    const syms: string[] = [];
    const bytesOf = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
    syms.push(' ');
    for (const ch of text) syms.push(bytesOf(ch));
    const n = syms.length;
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    // Max-heap of candidate merges (score desc, left index asc); stale entries are skipped on pop.
    const heap = new PairHeap();
    const scores = this.vocab.scores;
    const consider = (i: number) => {
      const j = next[i];
      if (j < 0) return;
      const id = this.lookup.get(syms[i] + syms[j]);
      if (id === undefined) return;
      heap.push(scores[id], i, j, syms[i].length + syms[j].length);
    };
    for (let i = 0; i < n; i++) consider(i);
    for (;;) {
      const top = heap.pop();
      if (!top) break;
      const { left: i, right: j, len } = top;
      if (!alive[i] || !alive[j] || next[i] !== j || syms[i].length + syms[j].length !== len) continue;
      syms[i] += syms[j];
      alive[j] = 0;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      if (prev[i] >= 0) consider(prev[i]);
      consider(i);
    }
    for (let i = 0; i >= 0; i = next[i]) {
      const id = this.lookup.get(syms[i]);
      if (id !== undefined) {
        ids.push(id);
        continue;
      }
      for (let k = 0; k < syms[i].length; k++) {
        const b = syms[i].charCodeAt(k);
        const bid = this.vocab.byteIds[b];
        if (bid >= 0) ids.push(bid);
        else if (this.vocab.unkId !== null) ids.push(this.vocab.unkId);
        else throw new KvoptError(`tokenizer: byte 0x${b.toString(16)} has no byte token and the vocab has no <unk>`);
      }
    }
    return ids;
  }

  decode(ids: number[]): string {
    const bytes: number[] = [];
    let first = true;
    for (const id of ids) {
      if (this.vocab.specialIds.has(id) || id < 0 || id >= this.vocabSize) continue;
      const b = this.byteOfId.get(id);
      if (b !== undefined) {
        if (!(first && b === 0x20)) bytes.push(b);
      } else {
        let p = this.vocab.pieces[id];
        if (first && p.startsWith(' ')) p = p.slice(1);
        for (let k = 0; k < p.length; k++) bytes.push(p.charCodeAt(k));
      }
      first = false;
    }
    return new TextDecoder('utf-8').decode(Uint8Array.from(bytes));
  }
}

/** Binary max-heap keyed by (score desc, left asc). */
class PairHeap {
  private items: { score: number; left: number; right: number; len: number }[] = [];
  private better(a: { score: number; left: number }, b: { score: number; left: number }): boolean {
    return a.score > b.score || (a.score === b.score && a.left < b.left);
  }
  push(score: number, left: number, right: number, len: number): void {
    const it = this.items;
    it.push({ score, left, right, len });
    let k = it.length - 1;
    while (k > 0) {
      const p = (k - 1) >> 1;
      if (!this.better(it[k], it[p])) break;
      [it[k], it[p]] = [it[p], it[k]];
      k = p;
    }
  }
  pop(): { score: number; left: number; right: number; len: number } | undefined {
    const it = this.items;
    if (it.length === 0) return undefined;
    const top = it[0];
    const last = it.pop()!;
    if (it.length > 0) {
      it[0] = last;
      let k = 0;
      for (;;) {
        const l = 2 * k + 1;
        const r = l + 1;
        let m = k;
        if (l < it.length && this.better(it[l], it[m])) m = l;
        if (r < it.length && this.better(it[r], it[m])) m = r;
        if (m === k) break;
        [it[k], it[m]] = [it[m], it[k]];
        k = m;
      }
    }
    return top;
  }
}

/**
 * llama2.c tokenizer.bin: int32 max_token_length, then per token float32 score, int32 length, bytes (to EOF).
 * Ids 0 <unk>, 1 BOS, 2 EOS, 3..258 the byte tokens <0x00>..<0xFF> (run.c's byte fallback is byte + 3).
 */
export function loadLlama2cTokenizer(path: string, expectedVocab?: number): ScoreMergeTokenizer {
  if (!existsSync(path)) throw new KvoptError(`${path}: tokenizer file not found`);
  const buf = readFileSync(path);
  if (buf.length < 4) throw new KvoptError(`${path}: not a llama2.c tokenizer (${buf.length} bytes)`);
  const maxLen = buf.readInt32LE(0);
  if (maxLen <= 0 || maxLen > 1024) throw new KvoptError(`${path}: not a llama2.c tokenizer (max_token_length ${maxLen})`);
  const pieces: string[] = [];
  const scores: number[] = [];
  let o = 4;
  while (o < buf.length) {
    if (o + 8 > buf.length) throw new KvoptError(`${path}: truncated at token ${pieces.length}`);
    const score = buf.readFloatLE(o);
    const len = buf.readInt32LE(o + 4);
    o += 8;
    if (len < 0 || len > maxLen || o + len > buf.length) {
      throw new KvoptError(
        `${path}: token ${pieces.length} has length ${len} (max_token_length ${maxLen}, file ${buf.length} bytes): truncated or not a llama2.c tokenizer`,
      );
    }
    pieces.push(buf.toString('latin1', o, o + len));
    scores.push(score);
    o += len;
  }
  if (expectedVocab !== undefined && pieces.length !== expectedVocab) {
    throw new KvoptError(`${path}: tokenizer has ${pieces.length} tokens but the checkpoint's vocab_size is ${expectedVocab}`);
  }
  const byteIds = new Int32Array(256).fill(-1);
  for (let id = 0; id < pieces.length; id++) {
    const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(pieces[id]);
    if (m) byteIds[parseInt(m[1], 16)] = id;
  }
  return new ScoreMergeTokenizer({
    pieces,
    scores: Float32Array.from(scores),
    byteIds,
    specialIds: new Set([0, 1, 2].filter((i) => i < pieces.length)),
    unkId: 0,
    bosId: 1,
    eosId: 2,
  });
}
