/**
 * Substring and exact-match scores.
 * - RULER string_match_all: fraction of the references found (case-insensitive) in the prediction.
 * - RULER string_match_part: 1 if any reference is found, else 0.
 * - exact match: normalize_answer(pred) == normalize_answer(gold).
 * - substring match: normalize_answer(gold) occurs in normalize_answer(pred) (needle, passkey).
 */
import { normalizeAnswer } from './text.ts';

export function stringMatchAll(prediction: string, refs: readonly string[]): number {
  if (refs.length === 0) return 0;
  const p = prediction.toLowerCase();
  return refs.filter((r) => p.includes(r.toLowerCase())).length / refs.length;
}

export function stringMatchPart(prediction: string, refs: readonly string[]): number {
  const p = prediction.toLowerCase();
  return refs.some((r) => p.includes(r.toLowerCase())) ? 1 : 0;
}

export function exactMatch(prediction: string, gold: string): number {
  return normalizeAnswer(prediction) === normalizeAnswer(gold) ? 1 : 0;
}

export function substringMatch(prediction: string, gold: string): number {
  const g = normalizeAnswer(gold);
  if (g.length === 0) return 0;
  return ` ${normalizeAnswer(prediction)} `.includes(` ${g} `) ? 1 : 0;
}
