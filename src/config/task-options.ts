/**
 * The options each task accepts (`tasks[].options` in YAML, `--task-option key=value` on the command
 * line), with their types and ranges, checked when the config is read: a wrong type, a value out of range
 * or an unknown key (with a did-you-mean) is one error naming the key, before any work starts. The tasks
 * themselves read the options as their declared TypeScript types and can rely on them.
 * Ranges also keep a run bounded: no option can ask for an unbounded loop or allocation.
 */
import type { ConfigReader, KeyPath, Mapping } from './reader.ts';
import { describeValue } from './reader.ts';
import { GSM8K_MATCH } from '../tasks/gsm8k.ts';
import type { TaskFamily } from './schema.ts';

type OptionSpec =
  | { type: 'int'; min: number; max: number }
  | { type: 'number'; min: number; max: number }
  | { type: 'string' }
  | { type: 'bool' }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'int[]'; min: number; max: number }
  | { type: 'number[]'; min: number; max: number }
  | { type: 'string[]' };

/** Tokens: no model kvopt runs has a longer context; a larger value is a typo, not a request. */
const MAX_TOKENS = 1 << 20;
const tokens = (min: number): OptionSpec => ({ type: 'int', min, max: MAX_TOKENS });

export const TASK_OPTIONS: Record<TaskFamily, Record<string, OptionSpec>> = {
  continuation: {
    contextTokens: tokens(1),
    continuationTokens: tokens(1),
    stride: tokens(1),
    windowsPerDocument: { type: 'int', min: 1, max: 10_000 },
    questionTokens: tokens(0),
  },
  gsm8k: {
    shots: { type: 'int', min: 0, max: 64 },
    trainPath: { type: 'string' },
    metric: { type: 'enum', values: ['gsm8k_flexible', 'gsm8k_strict'] },
    match: { type: 'enum', values: GSM8K_MATCH },
    stripCalculator: { type: 'bool' },
    maxNewTokens: { type: 'int', min: 1, max: 4096 },
  },
  needle: {
    needle: { type: 'string' },
    question: { type: 'string' },
    answers: { type: 'string[]' },
    lengths: { type: 'int[]', min: 1, max: MAX_TOKENS },
    depths: { type: 'number[]', min: 0, max: 100 },
    bufferTokens: tokens(0),
    metric: { type: 'enum', values: ['rouge1', 'substring_match', 'exact_match', 'string_match_all'] },
    maxNewTokens: { type: 'int', min: 1, max: 4096 },
  },
  passkey: {},
  retrieval: {},
  // pred.py's model2maxlen: prompt tokens kept (middle truncation); the loader checks the lower bound too.
  longbench: { maxLength: tokens(16) },
};

function what(spec: OptionSpec): string {
  switch (spec.type) {
    case 'int':
      return `an integer in [${spec.min}, ${spec.max}]`;
    case 'number':
      return `a number in [${spec.min}, ${spec.max}]`;
    case 'string':
      return 'a string';
    case 'bool':
      return 'true or false';
    case 'enum':
      return `one of ${spec.values.join(', ')}`;
    case 'int[]':
      return `a non-empty list of integers in [${spec.min}, ${spec.max}]`;
    case 'number[]':
      return `a non-empty list of numbers in [${spec.min}, ${spec.max}]`;
    case 'string[]':
      return 'a non-empty list of strings';
  }
}

function valid(spec: OptionSpec, v: unknown): boolean {
  const num = (x: unknown, int: boolean, min: number, max: number) =>
    typeof x === 'number' && Number.isFinite(x) && (!int || Number.isInteger(x)) && x >= min && x <= max;
  switch (spec.type) {
    case 'int':
      return num(v, true, spec.min, spec.max);
    case 'number':
      return num(v, false, spec.min, spec.max);
    case 'string':
      return typeof v === 'string' && v !== '';
    case 'bool':
      return typeof v === 'boolean';
    case 'enum':
      return typeof v === 'string' && spec.values.includes(v);
    case 'int[]':
    case 'number[]':
      return Array.isArray(v) && v.length > 0 && v.length <= 10_000 && v.every((x) => num(x, spec.type === 'int[]', spec.min, spec.max));
    case 'string[]':
      return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x !== '');
  }
}

/**
 * Checks a task's options against its declaration; errors go through `r` at `path` (`tasks[0].options`,
 * or `--task-option` on the command line). `haystackFolder`: needle over a folder of .txt files, where
 * lengths and depths are required; needle over a sample file takes no options.
 */
export function checkTaskOptions(r: ConfigReader, family: TaskFamily, options: Mapping, path: KeyPath, haystackFolder: boolean | null = null): void {
  const specs = family === 'needle' && haystackFolder === false ? {} : TASK_OPTIONS[family];
  const allowed = Object.keys(specs);
  if (allowed.length === 0 && Object.keys(options).length > 0) {
    const k = Object.keys(options)[0];
    const why =
      family === 'needle' ? 'needle over a sample file takes no options (lengths, depths, ... are for a haystack folder)' : `task ${family} takes no options`;
    r.fail([...path, k], `unknown key: ${why}`, true);
  }
  r.keys(options, path, allowed);
  for (const [k, v] of Object.entries(options)) {
    const spec = specs[k];
    if (!valid(spec, v)) r.fail([...path, k], `expected ${what(spec)}, got ${Array.isArray(v) ? JSON.stringify(v) : describeValue(v)}`);
  }
  if (family === 'continuation') {
    const ctx = (options.contextTokens as number | undefined) ?? 384;
    const q = options.questionTokens as number | undefined;
    if (q !== undefined && q >= ctx) r.fail([...path, 'questionTokens'], `expected fewer than contextTokens (${ctx}), got ${q}`);
  }
  if (family === 'needle' && haystackFolder === true) {
    for (const k of ['lengths', 'depths']) {
      if (options[k] === undefined) r.fail([...path, k], `required for needle over a haystack folder, expected ${what(specs[k])}`);
    }
  }
}
