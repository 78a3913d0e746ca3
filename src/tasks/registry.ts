/**
 * Task names (design.md §4.6a: continuation | needle | gsm8k | longbench/<dataset>, plus passkey) → task
 * definitions. Tasks whose samples depend on the tokenizer (continuation, needle grids) need one.
 */
import { statSync } from 'node:fs';
import { KvoptError } from '../util/errors.ts';
import { continuationTask, type ContinuationOptions } from './continuation.ts';
import { gsm8kTask, type Gsm8kOptions } from './gsm8k.ts';
import type { LongBenchOptions } from './longbench.ts';
import { longBenchTask } from './longbench.ts';
import { needleTask, type NeedleOptions } from './needle.ts';
import { sampleFileTask } from './sample-file.ts';
import type { TaskDefinition, TokenCodec } from './types.ts';

export interface TaskContext {
  /** the data path of the task (file or folder) */
  data: string;
  tokenizer?: TokenCodec;
  /** task options: GSM8K shots, needle grid, continuation token counts ... */
  options?: Record<string, unknown>;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export function createTask(name: string, ctx: TaskContext): TaskDefinition {
  const opts = ctx.options ?? {};
  if (name.startsWith('longbench/')) return longBenchTask(name.slice('longbench/'.length), opts as LongBenchOptions);
  switch (name) {
    case 'gsm8k':
      return gsm8kTask(opts as Gsm8kOptions);
    case 'continuation':
      if (!ctx.tokenizer) throw new KvoptError('task continuation needs the model tokenizer');
      return continuationTask(ctx.tokenizer, opts as ContinuationOptions);
    case 'needle':
      if (!isDir(ctx.data)) return sampleFileTask('needle');
      if (!ctx.tokenizer) throw new KvoptError('task needle over a haystack folder needs the model tokenizer');
      if (!Array.isArray(opts.lengths) || !Array.isArray(opts.depths)) {
        throw new KvoptError('task needle over a haystack folder needs options lengths (tokens) and depths (percent)');
      }
      return needleTask(ctx.tokenizer, opts as unknown as NeedleOptions);
    case 'passkey':
      return sampleFileTask(name);
    case 'retrieval':
      // The synthetic retrieval set of models/tiny (scripts/train-tiny): the model answers with the value
      // words, then </s>; exact match after normalisation.
      return sampleFileTask(name, 8, { metric: 'exact_match', maxNewTokens: 8 });
    default:
      throw new KvoptError(`unknown task "${name}" (expected continuation, needle, passkey, retrieval, gsm8k or longbench/<dataset>)`);
  }
}
