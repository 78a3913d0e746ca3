/**
 * GSM8K answer extraction and exact numeric match (lm-evaluation-harness gsm8k.yaml conventions).
 * - strict: the number after "#### " (regex `#### (-?[0-9.,]+)`), first occurrence.
 * - flexible: the last match of `(-?[$0-9.,]{2,})|(-?[0-9]+)` in the output.
 * - normalisation before comparing: remove ",", "$", everything up to "#### ", a trailing "." and
 *   surrounding whitespace; then compare as numbers when both parse, else as strings.
 */

export function extractStrict(output: string): string | null {
  const m = /#### (-?[0-9.,]+)/.exec(output);
  return m ? m[1] : null;
}

export function extractFlexible(output: string): string | null {
  const all = [...output.matchAll(/(-?[$0-9.,]{2,})|(-?[0-9]+)/g)];
  if (all.length === 0) return null;
  const last = all[all.length - 1];
  return (last[1] ?? last[2])!;
}

export function normalizeNumber(s: string): string {
  let t = s.replace(/,/g, '').replace(/\$/g, '');
  t = t.replace(/^[\s\S]*#### /, '');
  t = t.trim().replace(/\.$/, '');
  return t.trim();
}

/** The gold number of a GSM8K answer field (the text after "#### "). */
export function gsm8kGold(answerField: string): string {
  const i = answerField.lastIndexOf('####');
  if (i < 0) return normalizeNumber(answerField);
  return normalizeNumber(answerField.slice(i + 4));
}

/**
 * lm-evaluation-harness's gsm8k exact_match: the strings equal after its regexes_to_ignore (",", "$",
 * up to "#### ", a trailing "."), so "72.0" ≠ "72". The default match mode.
 */
export function exactAnswerMatch(extracted: string | null, gold: string): number {
  if (extracted == null) return 0;
  return normalizeNumber(extracted) === normalizeNumber(gold) ? 1 : 0;
}

/** Numeric mode (`match: numeric`), more lenient than the harness: also 1 when both parse to the same number ("72.0" = "72"). */
export function numericMatch(extracted: string | null, gold: string): number {
  if (extracted == null) return 0;
  const a = normalizeNumber(extracted);
  const b = normalizeNumber(gold);
  if (a === b) return 1;
  const na = Number(a);
  const nb = Number(b);
  return a !== '' && b !== '' && Number.isFinite(na) && Number.isFinite(nb) && na === nb ? 1 : 0;
}
