/**
 * LongBench code_sim_score (lcc, repobench-p): the first line of the prediction (leading newlines
 * stripped) that contains none of "`", "#", "//" (empty string if none), scored by fuzzywuzzy
 * fuzz.ratio / 100.
 */
import { sequenceMatcherRatio } from './sequence-matcher.ts';
import { pyRoundInt } from './text.ts';

/**
 * fuzzywuzzy 0.18 fuzz.ratio without python-Levenshtein (LongBench's requirements install fuzzywuzzy
 * alone, so difflib is what runs): equal strings → 100 (checked before emptiness, so ratio('', '') = 100),
 * an empty side → 0, else int(round(100 · SequenceMatcher(None, s1, s2).ratio())) with Python's
 * half-to-even round.
 * 'levenshtein' gives python-Levenshtein's ratio instead, (|a|+|b| − indel distance)/(|a|+|b|) =
 * 2·LCS/(|a|+|b|), for runs made with that package installed.
 */
export function fuzzRatio(s1: string, s2: string, backend: 'difflib' | 'levenshtein' = 'difflib'): number {
  if (s1 === s2) return 100;
  if (s1.length === 0 || s2.length === 0) return 0;
  const r = backend === 'difflib' ? sequenceMatcherRatio(s1, s2) : lcsRatio(s1, s2);
  return pyRoundInt(100 * r);
}

function lcsRatio(s1: string, s2: string): number {
  const a = Array.from(s1);
  const b = Array.from(s2);
  let prev = new Int32Array(b.length + 1);
  let cur = new Int32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    }
    [prev, cur] = [cur, prev];
  }
  return (2 * prev[b.length]) / (a.length + b.length);
}

/** The line code_sim scores: first line without a backtick, "#" or "//". */
export function codeLine(prediction: string): string {
  for (const line of prediction.replace(/^\n+/, '').split('\n')) {
    if (!line.includes('`') && !line.includes('#') && !line.includes('//')) return line;
  }
  return '';
}

export function codeSimScore(prediction: string, gold: string, backend: 'difflib' | 'levenshtein' = 'difflib'): number {
  return fuzzRatio(codeLine(prediction), gold, backend) / 100;
}
