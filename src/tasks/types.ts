/**
 * Tasks: what a sample is and how its prompt splits into the part that is prefilled and compressed
 * (context) and the part that comes after it (question).
 *
 * Settings (design.md §4.4), and what each does with the two parts:
 * - question-aware: contextText + questionText are prefilled together; the question is the end of the
 *   prefill, so it sits inside the scorers' observation window. Compression then applies to the whole
 *   prefill; generation starts after the question.
 * - question-agnostic: contextText alone is prefilled and compressed; questionText is then fed through the
 *   compressed cache (as decode input) before generation starts.
 * Either way the engine tokenizes the two parts separately and concatenates the ids, so the split point is
 * exactly the boundary between contextText and questionText in both settings.
 */
import type { MetricName } from './metrics/index.ts';

export interface Sample {
  id: string;
  /** task name, e.g. 'longbench/multi_news', 'gsm8k', 'needle', 'continuation' */
  task: string;
  /** the long part (document, few-shot examples, haystack) */
  context: string;
  /** the short query (LongBench `input`, GSM8K question, needle question); '' when none */
  question: string;
  /** gold answers; a sample scores the max over them */
  answers: string[];
  /** LongBench all_classes (trec, lsht); null otherwise */
  allClasses?: string[] | null;
  /** LongBench `length` (words or characters), for LongBench-E buckets */
  length?: number;
  maxNewTokens: number;
  metric: MetricName;
  meta?: Record<string, unknown>;
}

/** The part of a tokenizer that prompt building needs (TextTokenizer from model/spec.ts satisfies it). */
export interface TokenCodec {
  encode(text: string, opts?: { addBos?: boolean }): number[];
  decode(ids: number[]): string;
}

export interface PromptOptions {
  /** needed for middle truncation (maxPromptTokens) and token-length tasks */
  tokenizer?: TokenCodec;
  /** LongBench model2maxlen: prompts longer than this (in tokens, before the chat template) are cut in the middle */
  maxPromptTokens?: number;
  /** the model's Jinja chat template; applied only when the task uses one (TaskDefinition.chatTemplate) */
  chatTemplate?: string | null;
  /** special-token strings the template may reference */
  bosToken?: string;
  eosToken?: string;
}

export interface PromptParts {
  /** prefilled (and compressed) text */
  contextText: string;
  /** text after the context: question-aware prefills it too, question-agnostic decodes it through the compressed cache */
  questionText: string;
  /** gold answer text to score by likelihood (answers[0]); null when the task has none */
  answerText: string | null;
  /**
   * Whether the engine should prepend BOS when tokenizing contextText. false when a chat template already
   * wrote the BOS token as text (tokenize that text with special tokens recognised and no extra BOS).
   */
  addBos: boolean;
  /** true when middle truncation removed tokens */
  truncated: boolean;
}

export interface LoadOptions {
  /** how many samples to keep; all when absent */
  samples?: number;
  /** seed of the subset choice (and of few-shot choices); absent: the first `samples` in file order */
  seed?: number;
}

export interface TaskDefinition {
  name: string;
  metric: MetricName;
  /** LongBench applies the chat template to all tasks except trec, triviaqa, samsum, lsht, lcc, repobench-p */
  chatTemplate: boolean;
  /** keep only the first line of the prediction (leading newlines stripped) before scoring */
  firstLine: boolean;
  /** generation stops when the output contains one of these (the stop string is cut off) */
  stopStrings: string[];
  /** stop generating at the first "\n" (LongBench samsum adds "\n" as an extra EOS) */
  stopAtNewline: boolean;
  maxNewTokens: number;
  load(path: string, opts?: LoadOptions): Sample[];
  buildPrompt(sample: Sample, opts?: PromptOptions): PromptParts;
  /** prediction as scored: stop strings cut, first-line rule applied */
  postprocess(prediction: string): string;
  /** score of a raw prediction in [0, 1] (postprocess applied inside) */
  score(prediction: string, sample: Sample): number;
}
