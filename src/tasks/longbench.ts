/**
 * LongBench v1: loader for the official JSONL files and the prompt of each of the 21 datasets.
 *
 * Context/question split of a prompt template (both settings use the same split point):
 *   context part  = the template up to and including `{context}` (instruction + document);
 *   question part = everything after `{context}` (the repeated instruction, `{input}`, "Answer:" ...).
 * For summaries the question part is only the closing instruction ("Now, write a one-page summary ...
 * Summary:"); for repobench-p it is `{input}Next line of code:\n`.
 * Order of operations follows pred.py: format the template, cut the middle of the whole prompt to
 * maxPromptTokens, then apply the chat template (not for trec, triviaqa, samsum, lsht, lcc, repobench-p).
 * If the cut reached into the question part (only when the question part alone is longer than half the
 * budget) the whole truncated prompt becomes the context part and the question part is empty.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KvoptError } from '../util/errors.ts';
import { renderChatSplit } from './chat-template.ts';
import { fieldNumber, fieldString, fieldStringArray, fieldStringArrayOrNull, readJsonl } from './jsonl.ts';
import { isLongBenchDataset, LONGBENCH_DATASETS, type LongBenchDataset } from './longbench-config.ts';
import { scorePrediction } from './metrics/index.ts';
import { firstLine } from './metrics/text.ts';
import { selectSamples } from './select.ts';
import { middleTruncateText } from './truncate.ts';
import type { LoadOptions, PromptOptions, PromptParts, Sample, TaskDefinition } from './types.ts';

/** Fill a LongBench template: Python str.format with the keys context and input. */
export function formatTemplate(template: string, values: { context: string; input: string }): string {
  return template.replace(/\{(context|input)\}/g, (_, key: 'context' | 'input') => values[key]);
}

/** The template split after `{context}`: [context part, question part], both still templates. */
export function splitTemplate(template: string): [string, string] {
  const i = template.indexOf('{context}');
  if (i < 0) throw new Error('LongBench template has no {context}');
  const end = i + '{context}'.length;
  return [template.slice(0, end), template.slice(end)];
}

export function loadLongBench(path: string, dataset: LongBenchDataset, opts: LoadOptions = {}): Sample[] {
  const cfg = LONGBENCH_DATASETS[dataset];
  const rows = readJsonl(path).map(({ line, value }) => {
    const id = typeof value._id === 'string' ? value._id : `${dataset}-${line}`;
    const s: Sample = {
      id,
      task: `longbench/${dataset}`,
      context: fieldString(path, line, value, 'context'),
      question: fieldString(path, line, value, 'input'),
      answers: fieldStringArray(path, line, value, 'answers'),
      allClasses: fieldStringArrayOrNull(path, line, value, 'all_classes'),
      length: fieldNumber(path, line, value, 'length'),
      maxNewTokens: cfg.maxNewTokens,
      metric: cfg.metric,
      meta: { line, language: value.language ?? null },
    };
    if (cfg.metric === 'classification' && !s.allClasses) {
      throw new KvoptError(`${path}:${line}: field "all_classes" must be a list of strings for ${dataset}`);
    }
    return s;
  });
  return selectSamples(rows, opts.samples, opts.seed);
}

export function buildLongBenchPrompt(dataset: LongBenchDataset, sample: Sample, opts: PromptOptions = {}): PromptParts {
  const cfg = LONGBENCH_DATASETS[dataset];
  const values = { context: sample.context, input: sample.question };
  const [ctxT, qT] = splitTemplate(cfg.prompt);
  let contextPart = formatTemplate(ctxT, values);
  let questionPart = formatTemplate(qT, values);
  let truncated = false;
  if (opts.maxPromptTokens != null) {
    if (!opts.tokenizer) throw new Error('maxPromptTokens needs a tokenizer');
    const cut = middleTruncateText(contextPart + questionPart, opts.tokenizer, opts.maxPromptTokens);
    if (cut.truncated) {
      truncated = true;
      if (questionPart !== '' && cut.text.endsWith(questionPart)) {
        contextPart = cut.text.slice(0, cut.text.length - questionPart.length);
      } else {
        contextPart = cut.text;
        questionPart = '';
      }
    }
  }
  const answerText = sample.answers[0] ?? null;
  if (cfg.chatTemplate && opts.chatTemplate) {
    const split = renderChatSplit(opts.chatTemplate, contextPart, questionPart, { bosToken: opts.bosToken, eosToken: opts.eosToken });
    const bosInText = opts.bosToken != null && opts.bosToken !== '' && split.contextText.startsWith(opts.bosToken);
    return { ...split, answerText, addBos: !bosInText, truncated };
  }
  return { contextText: contextPart, questionText: questionPart, answerText, addBos: true, truncated };
}

/** LongBench eval.py post-processing: first line for trec/triviaqa/samsum/lsht. */
export function postprocessLongBench(dataset: LongBenchDataset, prediction: string): string {
  return LONGBENCH_DATASETS[dataset].firstLine ? firstLine(prediction) : prediction;
}

/** Task options of longbench/<dataset>. */
export interface LongBenchOptions {
  /**
   * Prompt tokens before middle truncation: pred.py's model2maxlen entry for the model (e.g. 3500 for
   * llama2-7b-chat-4k, 31500 for chatglm2-6b-32k). Default: what fits the model's context with the answer.
   */
  maxLength?: number;
}

/** The folder form of `data:`: <folder>/<dataset>.jsonl, as LongBench ships its data. */
export function longBenchDataPath(path: string, dataset: string): string {
  return existsSync(path) && statSync(path).isDirectory() ? join(path, `${dataset}.jsonl`) : path;
}

export function longBenchTask(dataset: string, opts: LongBenchOptions = {}): TaskDefinition {
  if (!isLongBenchDataset(dataset)) {
    throw new KvoptError(`unknown LongBench dataset "${dataset}" (expected one of ${Object.keys(LONGBENCH_DATASETS).join(', ')})`);
  }
  const maxLength = opts.maxLength;
  if (maxLength !== undefined && (typeof maxLength !== 'number' || !Number.isInteger(maxLength) || maxLength < 16)) {
    throw new KvoptError(
      `longbench/${dataset} option maxLength: expected an integer >= 16 (prompt tokens, pred.py's model2maxlen), got ${JSON.stringify(maxLength)}`,
    );
  }
  const cfg = LONGBENCH_DATASETS[dataset];
  return {
    name: `longbench/${dataset}`,
    metric: cfg.metric,
    chatTemplate: cfg.chatTemplate,
    firstLine: cfg.firstLine,
    stopStrings: [],
    stopAtNewline: dataset === 'samsum',
    maxNewTokens: cfg.maxNewTokens,
    load: (path, lo) => loadLongBench(longBenchDataPath(path, dataset), dataset, lo),
    // pred.py cuts to model2maxlen; the model's own context (engine) bounds it too.
    buildPrompt: (sample, po) =>
      buildLongBenchPrompt(dataset, sample, maxLength === undefined ? po : { ...po, maxPromptTokens: Math.min(maxLength, po?.maxPromptTokens ?? maxLength) }),
    postprocess: (p) => postprocessLongBench(dataset, p),
    score: (p, s) => scorePrediction(cfg.metric, postprocessLongBench(dataset, p), s.answers, s.allClasses ?? null),
  };
}
