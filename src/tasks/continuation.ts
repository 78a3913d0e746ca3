/**
 * The `continuation` task (issue 3): a text is split into a context of `contextTokens` tokens and the
 * following `continuationTokens` tokens. Scores need no labels and work with any model:
 *   - mean log-likelihood of the continuation given the (compressed) context,
 *   - top-1 agreement and KL(full ‖ compressed) against the full-cache run, over continuation positions
 * (the functions are in metrics/logits.ts).
 * Data: a .txt file, a directory of .txt files (sorted by name; one document each), or a JSONL file with
 * {"text": ...} per line. Each document gives up to `windowsPerDocument` samples: windows of
 * contextTokens + continuationTokens tokens starting at 0, stride, 2·stride, ... (stride defaults to the
 * window size, so windows do not overlap). Documents shorter than one window are skipped.
 * Token ids are kept in meta (contextIds, continuationIds) so the engine scores exactly these tokens
 * (re-encoding decoded text need not give the same ids); context/answers hold the decoded text.
 * Setting: by default the continuation has no question (questionText ''), so both settings are the same;
 * with `questionTokens` the end of the context plays the question's part (see ContinuationOptions).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KvoptError } from '../util/errors.ts';
import { fieldString, readJsonl } from './jsonl.ts';
import { selectSamples } from './select.ts';
import type { LoadOptions, PromptParts, Sample, TaskDefinition, TokenCodec } from './types.ts';

export interface ContinuationOptions {
  contextTokens?: number; // default 384
  continuationTokens?: number; // default 64
  /** window start step within a document (default contextTokens + continuationTokens) */
  stride?: number;
  /** at most this many windows per document (default 1) */
  windowsPerDocument?: number;
  /**
   * The last `questionTokens` of the context play the question's part (default 0): question-aware prefills
   * them with the context (they sit in the observation window), question-agnostic compresses the context
   * without them and decodes them through the compressed cache before the continuation is scored.
   */
  questionTokens?: number;
}

export interface ContinuationMeta {
  doc: string;
  start: number;
  contextIds: number[];
  /** the last questionTokens of the window's context (empty by default) */
  questionIds: number[];
  continuationIds: number[];
}

/** Documents of a .txt file, a folder of .txt files or a JSONL of {text}: [name, text][]. */
export function readDocuments(path: string): [string, string][] {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (e) {
    throw new KvoptError(`${path}: cannot read continuation data (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (st.isDirectory()) {
    const names = readdirSync(path)
      .filter((n) => n.endsWith('.txt'))
      .sort();
    if (names.length === 0) throw new KvoptError(`${path}: no .txt files`);
    return names.map((n) => [n, readFileSync(join(path, n), 'utf8')]);
  }
  if (path.endsWith('.jsonl')) {
    return readJsonl(path).map(({ line, value }) => [`line ${line}`, fieldString(path, line, value, 'text')]);
  }
  return [[path, readFileSync(path, 'utf8')]];
}

/** Windows of one token sequence: [start, contextIds, continuationIds][]. */
export function splitWindows(
  ids: readonly number[],
  contextTokens: number,
  continuationTokens: number,
  stride = contextTokens + continuationTokens,
  maxWindows = 1,
): { start: number; contextIds: number[]; continuationIds: number[] }[] {
  if (contextTokens < 1 || continuationTokens < 1 || stride < 1) throw new RangeError('token counts and stride must be >= 1');
  const win = contextTokens + continuationTokens;
  const out = [];
  for (let s = 0; s + win <= ids.length && out.length < maxWindows; s += stride) {
    out.push({ start: s, contextIds: ids.slice(s, s + contextTokens), continuationIds: ids.slice(s + contextTokens, s + win) });
  }
  return out;
}

/**
 * Tokens of the start of `text`, at least `needed` of them when the text has that many. Only a prefix is
 * tokenized (long strings tokenize slowly); a margin of 16 tokens is dropped at the cut, so the kept
 * tokens equal those of the whole text unless a merge spans more than 16 tokens.
 */
export function encodePrefix(text: string, tokenizer: TokenCodec, needed: number): number[] {
  const margin = 16;
  for (let chars = (needed + margin) * 8; ; chars *= 2) {
    if (chars >= text.length) return tokenizer.encode(text, { addBos: false });
    const ids = tokenizer.encode(text.slice(0, chars), { addBos: false });
    if (ids.length >= needed + margin) return ids.slice(0, ids.length - margin);
  }
}

export function loadContinuation(path: string, tokenizer: TokenCodec, opts: ContinuationOptions & LoadOptions = {}): Sample[] {
  const ctx = opts.contextTokens ?? 384;
  const cont = opts.continuationTokens ?? 64;
  const q = opts.questionTokens ?? 0;
  if (!Number.isInteger(q) || q < 0 || q >= ctx) throw new KvoptError(`continuation: questionTokens must be an integer in [0, contextTokens), got ${q}`);
  const samples: Sample[] = [];
  const maxWindows = opts.windowsPerDocument ?? 1;
  const stride = opts.stride ?? ctx + cont;
  const needed = (maxWindows - 1) * stride + ctx + cont;
  for (const [doc, text] of readDocuments(path)) {
    const ids = encodePrefix(text, tokenizer, needed);
    for (const w of splitWindows(ids, ctx, cont, stride, maxWindows)) {
      const meta: ContinuationMeta = {
        doc,
        start: w.start,
        contextIds: w.contextIds.slice(0, ctx - q),
        questionIds: w.contextIds.slice(ctx - q),
        continuationIds: w.continuationIds,
      };
      samples.push({
        id: `${doc}@${w.start}`,
        task: 'continuation',
        context: tokenizer.decode(meta.contextIds),
        question: tokenizer.decode(meta.questionIds),
        answers: [tokenizer.decode(w.continuationIds)],
        maxNewTokens: cont,
        metric: 'loglik',
        meta: meta as unknown as Record<string, unknown>,
      });
    }
  }
  if (samples.length === 0) throw new KvoptError(`${path}: no document has ${ctx + cont} tokens (context ${ctx} + continuation ${cont})`);
  return selectSamples(samples, opts.samples, opts.seed);
}

export function continuationTask(tokenizer: TokenCodec, opts: ContinuationOptions = {}): TaskDefinition {
  return {
    name: 'continuation',
    metric: 'loglik',
    chatTemplate: false,
    firstLine: false,
    stopStrings: [],
    stopAtNewline: false,
    maxNewTokens: opts.continuationTokens ?? 64,
    load: (path, lo) => loadContinuation(path, tokenizer, { ...opts, ...lo }),
    buildPrompt: (s): PromptParts => ({ contextText: s.context, questionText: s.question, answerText: s.answers[0] ?? null, addBos: true, truncated: false }),
    postprocess: (p) => p,
    score: () => {
      throw new Error('continuation is scored from logits (metrics/logits.ts), not from generated text');
    },
  };
}
