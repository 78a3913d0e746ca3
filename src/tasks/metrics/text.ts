/**
 * Text helpers that reproduce Python's string semantics, so metrics match the official Python scorers.
 * JS and Python disagree on what whitespace, digits and word characters are; these pin Python's choice.
 */

/** Characters for which Python's str.isspace() is true (what str.split() with no argument splits on). */
const PY_WHITESPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_WS_RUN = new RegExp(`[${PY_WHITESPACE}]+`, 'u');

/** Python `s.split()`: split on runs of whitespace, no empty strings. */
export function pySplit(s: string): string[] {
  return s.split(PY_WS_RUN).filter((t) => t.length > 0);
}

/** Python `s.lstrip('\n').split('\n')[0]`: LongBench's first-line rule for few-shot tasks. */
export function firstLine(s: string): string {
  return s.replace(/^\n+/, '').split('\n')[0];
}

/** Python `re.findall(r"\d+", s)` on a str: runs of Unicode decimal digits (Nd), not only ASCII. */
export function pyFindDigitRuns(s: string): string[] {
  return s.match(/\p{Nd}+/gu) ?? [];
}

/** Python's `string.punctuation`. */
export const PY_ASCII_PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

/** LongBench's `cn_punctuation` in normalize_zh_answer (metrics.py), copied as it is there. */
export const LONGBENCH_CN_PUNCTUATION =
  '！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏.';

const ASCII_PUNCT = new Set(Array.from(PY_ASCII_PUNCTUATION));
const ALL_PUNCT = new Set([...Array.from(PY_ASCII_PUNCTUATION), ...Array.from(LONGBENCH_CN_PUNCTUATION)]);

/** Python `re.sub(r"\b(a|an|the)\b", " ", s)` with Unicode word characters (letters, numbers, underscore). */
const ARTICLES = /(?<![\p{L}\p{N}_])(?:a|an|the)(?![\p{L}\p{N}_])/gu;

/**
 * SQuAD / LongBench `normalize_answer`: lower case, drop ASCII punctuation, replace the articles a/an/the
 * by a space, collapse whitespace.
 */
export function normalizeAnswer(s: string): string {
  let t = s.toLowerCase();
  t = Array.from(t)
    .filter((ch) => !ASCII_PUNCT.has(ch))
    .join('');
  t = t.replace(ARTICLES, ' ');
  return pySplit(t).join(' ');
}

/** LongBench `normalize_zh_answer`: lower case, drop Chinese and ASCII punctuation, remove all whitespace. */
export function normalizeZhAnswer(s: string): string {
  const t = Array.from(s.toLowerCase())
    .filter((ch) => !ALL_PUNCT.has(ch))
    .join('');
  return pySplit(t).join('');
}

/**
 * Python's built-in round(x, 2) as LongBench uses it: round half to even on the exact binary value.
 * `toFixed` rounds the exact value but breaks ties upward; an exact tie at 2 decimals happens only when
 * 8x is an odd integer (x = k + 0.125, 0.375, ...), and then the even neighbour wins.
 */
export function pyRound2(x: number): number {
  if (!Number.isFinite(x)) return x;
  const eighths = x * 8;
  if (Number.isInteger(eighths) && eighths % 2 !== 0) {
    const lo = Math.floor(x * 100);
    const hi = lo + 1;
    return (lo % 2 === 0 ? lo : hi) / 100;
  }
  return Number(x.toFixed(2));
}

/** Python's round(x) to an integer (half to even), for fuzz.ratio's `int(round(n))`. */
export function pyRoundInt(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
