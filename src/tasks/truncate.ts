/**
 * Middle truncation (LongBench pred.py): when a prompt has more than maxLen tokens, keep the first
 * floor(maxLen/2) and the last floor(maxLen/2) tokens.
 */
import type { TokenCodec } from './types.ts';

/** ids unchanged when ids.length <= maxLen, else first half + last half (half = floor(maxLen/2)). */
export function middleTruncateIds(ids: readonly number[], maxLen: number): number[] {
  if (!Number.isInteger(maxLen) || maxLen < 2) throw new RangeError(`maxLen must be an integer >= 2, got ${maxLen}`);
  if (ids.length <= maxLen) return ids.slice();
  const half = Math.floor(maxLen / 2);
  return ids.slice(0, half).concat(ids.slice(ids.length - half));
}

/**
 * pred.py on text: tokenize (with BOS, as `tokenizer(prompt)` does), and when longer than maxLen return
 * decode(first half) + decode(last half) (special tokens skipped by decode).
 */
export function middleTruncateText(text: string, tokenizer: TokenCodec, maxLen: number): { text: string; truncated: boolean } {
  const ids = tokenizer.encode(text, { addBos: true });
  if (ids.length <= maxLen) return { text, truncated: false };
  const half = Math.floor(maxLen / 2);
  return {
    text: tokenizer.decode(ids.slice(0, half)) + tokenizer.decode(ids.slice(ids.length - half)),
    truncated: true,
  };
}
