/**
 * GSM8K, k-shot chain of thought in the lm-evaluation-harness `gsm8k` style (pinned here):
 *   each shot:  "Question: {question}\nAnswer: {answer}\n\n"   (answer = the train solution verbatim,
 *               calculator annotations «<<a*b=c>>» kept, ending "#### N")
 *   target:     "Question: {question}\nAnswer:"
 * Shots: k distinct train examples (default 8), drawn per test sample with a PRNG seeded by
 * (seed, sample index), so every sample has its own few-shot context and a rerun draws the same ones.
 * Context part = the k shots; question part = the target. Generation is greedy, stops at "Question:"
 * (also "</s>", "<|im_end|>"), max 256 new tokens.
 * Scoring: strict (`#### N`) or flexible (last number) extraction, normalised (",", "$", up to "#### ",
 * trailing "."), then `match: exact` (default: lm-evaluation-harness's exact_match, "72.0" ≠ "72") or
 * `match: numeric` (equal as numbers). The default extraction is flexible. The metric name stored with
 * every result says both: gsm8k_flexible (exact) or gsm8k_flexible_numeric.
 */
import { KvoptError } from '../util/errors.ts';
import { fieldString, readJsonl } from './jsonl.ts';
import { gsm8kGold } from './metrics/numeric.ts';
import { scorePrediction, type MetricName } from './metrics/index.ts';
import { cutAtStop, sampleIndices, selectSamples } from './select.ts';
import { mulberry32 } from '../util/mulberry32.ts';
import type { LoadOptions, PromptParts, Sample, TaskDefinition } from './types.ts';
import { existsSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';

export interface GsmExample {
  question: string;
  answer: string;
}

export interface Gsm8kOptions {
  /** shots per prompt (default 8) */
  shots?: number;
  /** path of train.jsonl (default: train.jsonl beside the test file) */
  trainPath?: string;
  /** 'gsm8k_flexible' (default) or 'gsm8k_strict' */
  metric?: Extract<MetricName, 'gsm8k_flexible' | 'gsm8k_strict'>;
  /** answer comparison: 'exact' (default, lm-evaluation-harness exact_match) or 'numeric' ("72.0" = "72") */
  match?: Gsm8kMatch;
  /** remove the «<<...>>» calculator annotations from the shots (default false: kept, as lm-eval does) */
  stripCalculator?: boolean;
  maxNewTokens?: number;
}

export const GSM8K_MATCH = ['exact', 'numeric'] as const;
export type Gsm8kMatch = (typeof GSM8K_MATCH)[number];

/** The metric of an extraction and a match mode: gsm8k_flexible (exact) or gsm8k_flexible_numeric. */
export function gsm8kMetric(opts: Gsm8kOptions): MetricName {
  const match = opts.match ?? 'exact';
  if (!(GSM8K_MATCH as readonly string[]).includes(match)) throw new KvoptError(`gsm8k option match: expected exact or numeric, got ${JSON.stringify(match)}`);
  const base = opts.metric ?? 'gsm8k_flexible';
  if (base !== 'gsm8k_flexible' && base !== 'gsm8k_strict')
    throw new KvoptError(`gsm8k option metric: expected gsm8k_flexible or gsm8k_strict, got ${JSON.stringify(base)}`);
  return match === 'numeric' ? `${base}_numeric` : base;
}

export const GSM8K_STOP = ['Question:', '</s>', '<|im_end|>'];

export function readGsm8k(path: string): GsmExample[] {
  return readJsonl(path).map(({ line, value }) => ({
    question: fieldString(path, line, value, 'question'),
    answer: fieldString(path, line, value, 'answer'),
  }));
}

export function formatShot(ex: GsmExample, stripCalculator = false): string {
  const answer = stripCalculator ? ex.answer.replace(/<<[^>]*>>/g, '') : ex.answer;
  return `Question: ${ex.question}\nAnswer: ${answer}\n\n`;
}

export function formatTarget(question: string): string {
  return `Question: ${question}\nAnswer:`;
}

/** The test file's split: a directory → test.jsonl inside it. */
function resolveTestPath(path: string): string {
  return existsSync(path) && statSync(path).isDirectory() ? join(path, 'test.jsonl') : path;
}

export function loadGsm8k(path: string, opts: LoadOptions & Gsm8kOptions = {}): Sample[] {
  const testPath = resolveTestPath(path);
  const trainPath = opts.trainPath ?? join(dirname(testPath), 'train.jsonl');
  if (!existsSync(trainPath)) throw new KvoptError(`${trainPath}: GSM8K train split not found (needed for the few-shot examples; set trainPath)`);
  const test = readGsm8k(testPath);
  const train = readGsm8k(trainPath);
  const k = opts.shots ?? 8;
  const seed = opts.seed ?? 1234;
  const metric = gsm8kMetric(opts);
  const samples = test.map((ex, i): Sample => {
    const shots = sampleIndices(train.length, k, mulberry32((seed * 1_000_003 + i) >>> 0));
    return {
      id: `gsm8k-${i}`,
      task: 'gsm8k',
      context: shots.map((j) => formatShot(train[j], opts.stripCalculator)).join(''),
      question: ex.question,
      answers: [gsm8kGold(ex.answer)],
      maxNewTokens: opts.maxNewTokens ?? 256,
      metric,
      meta: { index: i, shots, solution: ex.answer },
    };
  });
  return selectSamples(samples, opts.samples, opts.seed);
}

export function gsm8kTask(opts: Gsm8kOptions = {}): TaskDefinition {
  const metric = gsm8kMetric(opts);
  const postprocess = (p: string) => cutAtStop(p, GSM8K_STOP);
  return {
    name: 'gsm8k',
    metric,
    chatTemplate: false,
    firstLine: false,
    stopStrings: GSM8K_STOP,
    stopAtNewline: false,
    maxNewTokens: opts.maxNewTokens ?? 256,
    load: (path, lo) => loadGsm8k(path, { ...opts, ...lo }),
    buildPrompt: (s): PromptParts => ({
      contextText: s.context,
      questionText: formatTarget(s.question),
      // the gold solution as the model should continue it (" " after "Answer:")
      answerText: typeof s.meta?.solution === 'string' ? ` ${s.meta.solution}` : ` #### ${s.answers[0]}`,
      addBos: true,
      truncated: false,
    }),
    postprocess,
    score: (p, s) => scorePrediction(s.metric, postprocess(p), s.answers),
  };
}
