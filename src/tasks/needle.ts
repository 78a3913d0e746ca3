/**
 * Needle-in-a-haystack (gkamradt/LLMTest_NeedleInAHaystack insertion rule, ROUGE-1 and match scoring).
 *
 * Haystack: every `.txt` file of a folder, in sorted name order, concatenated and repeated until it is
 * long enough. For a context length L (tokens of the given tokenizer, BOS not counted) and depth d (%):
 *   1. haystack tokens are cut to L − bufferTokens − |needle tokens|;
 *   2. d = 100: the needle goes at the end; otherwise the insertion index starts at floor(n·d/100) and
 *      moves back until the token before it is a "." token (see periodTest), so the needle starts a
 *      sentence; if no "." exists before it, the index reaches 0 (start);
 *   3. context = decode(haystack[:i] + needle + haystack[i:]).
 * The needle is surrounded by newlines as in the original. Context part = the framed haystack
 * ("This is a very long story book: <book> ... </book>.\n", the KV-compression variant); question part =
 * "\nBased on the content of the book, Question: {question}\nAnswer:". Score: ROUGE-1 F (the `rouge`
 * package) of the prediction against the needle answer (metric 'rouge1'); substring and exact match are
 * offered as 'substring_match' / 'exact_match'.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KvoptError } from '../util/errors.ts';
import { scorePrediction, type MetricName } from './metrics/index.ts';
import type { PromptParts, Sample, TaskDefinition, TokenCodec } from './types.ts';
import { encodePrefix } from './continuation.ts';

export const DEFAULT_NEEDLE = 'The best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.';
export const DEFAULT_QUESTION = 'What is the best thing to do in San Francisco?';
export const CONTEXT_PREFIX = 'This is a very long story book: <book> ';
export const CONTEXT_SUFFIX = ' </book>.\n';

export interface NeedleOptions {
  needle?: string;
  question?: string;
  /** gold answers (default: the needle itself) */
  answers?: string[];
  /** context lengths in tokens (haystack + needle) */
  lengths: number[];
  /** depths in percent, 0..100 */
  depths: number[];
  /** tokens kept free inside each length (the original leaves 200 for prompt and answer); default 0 */
  bufferTokens?: number;
  metric?: Extract<MetricName, 'rouge1' | 'substring_match' | 'exact_match' | 'string_match_all'>;
  maxNewTokens?: number;
}

/** Concatenated text of the folder's .txt files, sorted by name. */
export function readHaystack(dir: string): string {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith('.txt'))
      .sort();
  } catch (e) {
    throw new KvoptError(`${dir}: cannot read the haystack folder (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (names.length === 0) throw new KvoptError(`${dir}: no .txt files for the haystack`);
  return names.map((n) => readFileSync(join(dir, n), 'utf8')).join('');
}

/** The first `minTokens` tokens of the haystack repeated as often as needed (only a prefix is tokenized). */
export function haystackTokens(haystack: string, tokenizer: TokenCodec, minTokens: number): number[] {
  if (haystack.length === 0) throw new KvoptError('haystack is empty');
  for (let text = haystack; ; text += text) {
    const ids = encodePrefix(text, tokenizer, minTokens);
    if (ids.length >= minTokens) return ids.slice(0, minTokens);
  }
}

/**
 * Index where the needle goes: floor(n·d/100), moved back until the token before it is a period token;
 * d = 100 → n. `isPeriod` decides what a period token is.
 */
export function insertionIndex(tokens: readonly number[], depthPercent: number, isPeriod: (id: number) => boolean): number {
  if (depthPercent >= 100) return tokens.length;
  let i = Math.floor((tokens.length * depthPercent) / 100);
  while (i > 0 && !isPeriod(tokens[i - 1])) i--;
  return i;
}

/**
 * The original tests membership in encode('.'). With SentencePiece tokenizers encode('.') is the
 * word-initial form ("▁." or "▁" + "."), which is not the "." that ends a sentence inside text, so the
 * walk would run back to 0. Here a token is a period token when it is in encode('.') and is not a bare
 * space, or when its own decoded text, trimmed, ends with ".".
 */
export function periodTest(tokenizer: TokenCodec): (id: number) => boolean {
  const cache = new Map<number, boolean>();
  const fromEncode = new Set(tokenizer.encode('.', { addBos: false }).filter((id) => tokenizer.decode([id]).trim() !== ''));
  return (id) => {
    let v = cache.get(id);
    if (v === undefined) {
      v = fromEncode.has(id) || tokenizer.decode([id]).trim().endsWith('.');
      cache.set(id, v);
    }
    return v;
  };
}

/**
 * Haystack context of `length` tokens with the needle at `depth` (see file comment). `haystack` is the text,
 * or its tokens already (at least enough of them), so that a grid tokenizes the haystack once.
 */
export function buildNeedleContext(
  haystack: string | readonly number[],
  tokenizer: TokenCodec,
  needle: string,
  length: number,
  depthPercent: number,
  bufferTokens = 0,
): { context: string; insertedAt: number; haystackTokens: number } {
  const needleIds = tokenizer.encode(`\n${needle}\n`, { addBos: false });
  const n = length - bufferTokens - needleIds.length;
  if (n <= 0) throw new KvoptError(`needle context length ${length} is too small for the needle (${needleIds.length} tokens) and buffer (${bufferTokens})`);
  const hay = typeof haystack === 'string' ? haystackTokens(haystack, tokenizer, n) : haystack.slice(0, n);
  if (hay.length < n) throw new KvoptError(`needle context length ${length}: only ${hay.length} haystack tokens given`);
  const at = insertionIndex(hay, depthPercent, periodTest(tokenizer));
  const ids = hay.slice(0, at).concat(needleIds, hay.slice(at));
  return { context: tokenizer.decode(ids), insertedAt: at, haystackTokens: hay.length };
}

/** The length × depth grid as samples (one per cell). */
export function needleSamples(haystackDir: string, tokenizer: TokenCodec, opts: NeedleOptions): Sample[] {
  const needle = opts.needle ?? DEFAULT_NEEDLE;
  const question = opts.question ?? DEFAULT_QUESTION;
  const haystack = haystackTokens(readHaystack(haystackDir), tokenizer, Math.max(...opts.lengths));
  const out: Sample[] = [];
  for (const L of opts.lengths) {
    for (const d of opts.depths) {
      if (!(d >= 0 && d <= 100)) throw new KvoptError(`needle depth ${d} must be between 0 and 100`);
      const c = buildNeedleContext(haystack, tokenizer, needle, L, d, opts.bufferTokens ?? 0);
      out.push({
        id: `needle-L${L}-d${d}`,
        task: 'needle',
        context: c.context,
        question,
        answers: opts.answers ?? [needle],
        maxNewTokens: opts.maxNewTokens ?? 32,
        metric: opts.metric ?? 'rouge1',
        meta: { length: L, depth: d, insertedAt: c.insertedAt },
      });
    }
  }
  return out;
}

export function buildNeedlePrompt(s: Sample): PromptParts {
  return {
    contextText: `${CONTEXT_PREFIX}${s.context}${CONTEXT_SUFFIX}`,
    questionText: `\nBased on the content of the book, Question: ${s.question}\nAnswer:`,
    answerText: s.answers[0] != null ? ` ${s.answers[0]}` : null,
    addBos: true,
    truncated: false,
  };
}

/**
 * The needle task. Its samples depend on a tokenizer, so `load` needs one: use `needleTask(tokenizer, opts)`.
 * `load(path)` takes the haystack folder.
 */
export function needleTask(tokenizer: TokenCodec, opts: NeedleOptions): TaskDefinition {
  const metric = opts.metric ?? 'rouge1';
  return {
    name: 'needle',
    metric,
    chatTemplate: false,
    firstLine: false,
    stopStrings: [],
    stopAtNewline: false,
    maxNewTokens: opts.maxNewTokens ?? 32,
    load: (path) => needleSamples(path, tokenizer, opts),
    buildPrompt: (s) => buildNeedlePrompt(s),
    postprocess: (p) => p,
    score: (p, s) => scorePrediction(s.metric, p, s.answers),
  };
}
