/**
 * The project's own sample files (datasets/*.jsonl): one prepared sample per line,
 *   {"id": str, "context": str, "question": str, "answers": [str], "metric": MetricName,
 *    "max_new_tokens": int, "meta"?: {...}}
 * A task may give defaults for metric and max_new_tokens (the retrieval set of models/tiny has none).
 * The prompt is taken verbatim: contextText = context, questionText = question (the file carries its own
 * framing, e.g. "...\nWhat is the pass key? The pass key is").
 */
import { KvoptError } from '../util/errors.ts';
import { fieldNumber, fieldString, fieldStringArray, readJsonl } from './jsonl.ts';
import { isMetricName, scorePrediction, type MetricName } from './metrics/index.ts';
import { selectSamples } from './select.ts';
import type { LoadOptions, Sample, TaskDefinition } from './types.ts';

export interface SampleFileDefaults {
  metric: MetricName;
  maxNewTokens: number;
}

export function loadSampleFile(path: string, task: string, opts: LoadOptions = {}, defaults?: SampleFileDefaults): Sample[] {
  const rows = readJsonl(path).map(({ line, value }): Sample => {
    const metric = defaults && value.metric === undefined ? defaults.metric : fieldString(path, line, value, 'metric');
    if (!isMetricName(metric)) throw new KvoptError(`${path}:${line}: field "metric" is "${metric}", not a known metric`);
    return {
      id: fieldString(path, line, value, 'id'),
      task,
      context: fieldString(path, line, value, 'context'),
      question: fieldString(path, line, value, 'question'),
      answers: fieldStringArray(path, line, value, 'answers'),
      maxNewTokens: defaults && value.max_new_tokens === undefined ? defaults.maxNewTokens : fieldNumber(path, line, value, 'max_new_tokens'),
      metric,
      meta:
        typeof value.meta === 'object' && value.meta !== null
          ? (value.meta as Record<string, unknown>)
          : typeof value.kind === 'string'
            ? { kind: value.kind }
            : {},
    };
  });
  return selectSamples(rows, opts.samples, opts.seed);
}

/** A task over a sample file; the metric comes from each sample (the first sample's is the task's). */
export function sampleFileTask(name: string, defaultMaxNewTokens = 16, defaults?: SampleFileDefaults): TaskDefinition {
  return {
    name,
    metric: 'substring_match',
    chatTemplate: false,
    firstLine: false,
    stopStrings: [],
    stopAtNewline: false,
    maxNewTokens: defaultMaxNewTokens,
    load: (path, opts) => loadSampleFile(path, name, opts, defaults),
    buildPrompt: (s) => ({
      contextText: s.context,
      questionText: s.question,
      answerText: s.answers[0] != null ? ` ${s.answers[0]}` : null,
      addBos: true,
      truncated: false,
    }),
    postprocess: (p) => p,
    score: (p, s) => scorePrediction(s.metric, p, s.answers),
  };
}
