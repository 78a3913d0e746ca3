/**
 * ROUGE as the Python `rouge` package (pltrdy/rouge 1.0.1, the one LongBench imports) computes it, default
 * options (exclusive=True). Its definitions, reproduced here on purpose:
 * - Sentences: the text is split on "." (empty pieces dropped), each piece has its whitespace collapsed
 *   (" ".join(s.split())); words are the pieces split on " " (an empty sentence is one empty word).
 * - ROUGE-N: n-grams are SETS (distinct n-grams), over all words of all sentences joined.
 *   P = |E∩R|/|E|, R = |E∩R|/|R|, F = 2PR/(P+R+1e-8).
 * - ROUGE-L is summary-level union-LCS over sets of words: for every (reference sentence, candidate
 *   sentence) pair one LCS is reconstructed (backtracking: match → diagonal; else up when
 *   table[i-1][j] > table[i][j-1], else left) and its WORDS are added to one set U;
 *   LCS_u = |U|, m = distinct reference words, n = distinct candidate words,
 *   R = |U|/m, P = |U|/n, F = 2PR/(P+R+1e-8).
 * - An empty candidate or reference (no sentence) raises in Python; LongBench catches it and scores 0.
 * - The reconstruction is recursive in Python; deeper than the interpreter's recursion limit it raises
 *   RecursionError, also caught as 0 by LongBench. `pythonRecursionLimit` reproduces that (see below).
 */
import { pySplit } from './text.ts';

export interface RougeScore {
  f: number;
  p: number;
  r: number;
}

export class RougeError extends Error {}

/** The `rouge` package's sentence split: on ".", drop empty pieces, collapse whitespace in each. */
export function rougeSentences(text: string): string[] {
  return text
    .split('.')
    .filter((s) => s.length > 0)
    .map((s) => pySplit(s).join(' '));
}

function words(sentences: string[]): string[] {
  return sentences.flatMap((s) => s.split(' '));
}

function frp(evaluated: number, reference: number, overlap: number): RougeScore {
  const p = evaluated === 0 ? 0 : overlap / evaluated;
  const r = reference === 0 ? 0 : overlap / reference;
  return { f: 2 * ((p * r) / (p + r + 1e-8)), p, r };
}

/** ROUGE-N over sentence lists (sets of n-grams). Throws RougeError on an empty side, as Python does. */
export function rougeN(hyp: string[], ref: string[], n: number): RougeScore {
  if (hyp.length === 0) throw new RougeError('Hypothesis is empty.');
  if (ref.length === 0) throw new RougeError('Reference is empty.');
  const grams = (ws: string[]) => {
    const set = new Set<string>();
    for (let i = 0; i + n <= ws.length; i++) set.add(JSON.stringify(ws.slice(i, i + n)));
    return set;
  };
  const e = grams(words(hyp));
  const r = grams(words(ref));
  let overlap = 0;
  for (const g of e) if (r.has(g)) overlap++;
  return frp(e.size, r.size, overlap);
}

/**
 * Words of one LCS of x (reference words) and y (candidate words), reconstructed with the package's
 * tie-breaking. Returns also the number of recursive calls Python's `_recon` would make.
 */
export function reconLcs(x: string[], y: string[]): { lcs: string[]; calls: number } {
  const n = x.length;
  const m = y.length;
  const w = m + 1;
  const table = new Int32Array((n + 1) * (m + 1)); // [n+1, m+1], table[i][j] = LCS length of x[:i], y[:j]
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      table[i * w + j] = x[i - 1] === y[j - 1] ? table[(i - 1) * w + j - 1] + 1 : Math.max(table[(i - 1) * w + j], table[i * w + j - 1]);
    }
  }
  const out: string[] = [];
  let i = n;
  let j = m;
  let calls = 1;
  while (i > 0 && j > 0) {
    calls++;
    if (x[i - 1] === y[j - 1]) {
      out.push(x[i - 1]);
      i--;
      j--;
    } else if (table[(i - 1) * w + j] > table[i * w + j - 1]) i--;
    else j--;
  }
  out.reverse();
  return { lcs: out, calls };
}

export interface RougeOptions {
  /**
   * Reproduce Python's RecursionError in `_recon`: when one reconstruction needs more than this many
   * nested calls, the score raises (LongBench: 0). Python's default limit is 1000 frames, of which about 9
   * are taken by eval.py → metrics → rouge before `_recon` starts, hence 991 (approximate, ±2).
   * null: no limit.
   */
  maxReconCalls?: number | null;
}

/** ROUGE-L summary level (union LCS over word sets). */
export function rougeLSummary(hyp: string[], ref: string[], opts: RougeOptions = {}): RougeScore {
  if (hyp.length === 0 || ref.length === 0) throw new RougeError('Collections must contain at least 1 sentence.');
  const m = new Set(words(ref)).size;
  const n = new Set(words(hyp)).size;
  const union = new Set<string>();
  const hypWords = hyp.map((s) => s.split(' '));
  for (const refS of ref) {
    const refWords = refS.split(' ');
    for (const hw of hypWords) {
      const { lcs, calls } = reconLcs(refWords, hw);
      if (opts.maxReconCalls != null && calls > opts.maxReconCalls) {
        throw new RougeError('maximum recursion depth exceeded (Python _recon)');
      }
      for (const t of lcs) union.add(t);
    }
  }
  const llcs = union.size;
  const r = llcs / m;
  const p = llcs / n;
  return { f: 2 * ((p * r) / (p + r + 1e-8)), p, r };
}

/** Default limit used by the LongBench scorers (see RougeOptions). */
export const PYTHON_RECON_CALL_LIMIT = 991;

/** `Rouge().get_scores([pred], [gold], avg=True)` → {rouge-1, rouge-2, rouge-l}; throws like Python. */
export function rougeScores(prediction: string, gold: string, opts: RougeOptions = {}): { rouge1: RougeScore; rouge2: RougeScore; rougeL: RougeScore } {
  const hyp = rougeSentences(prediction);
  const ref = rougeSentences(gold);
  return { rouge1: rougeN(hyp, ref, 1), rouge2: rougeN(hyp, ref, 2), rougeL: rougeLSummary(hyp, ref, opts) };
}

/** LongBench rouge_score: ROUGE-L F, 0 if the package would raise. */
export function rougeLF(prediction: string, gold: string, opts: RougeOptions = { maxReconCalls: PYTHON_RECON_CALL_LIMIT }): number {
  try {
    return rougeScores(prediction, gold, opts).rougeL.f;
  } catch (e) {
    if (e instanceof RougeError) return 0;
    throw e;
  }
}

/** ROUGE-1 F of the `rouge` package (distinct unigrams), 0 when a side is empty: the needle score. */
export function rouge1F(prediction: string, gold: string): number {
  try {
    return rougeN(rougeSentences(prediction), rougeSentences(gold), 1).f;
  } catch (e) {
    if (e instanceof RougeError) return 0;
    throw e;
  }
}
