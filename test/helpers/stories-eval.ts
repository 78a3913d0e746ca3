// The small eval on stories260K that several test suites run (resume, batches, reliability, the queue):
// continuation samples of datasets/stories260k-samples.jsonl, a few methods × budgets, one worker.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, sharedDataPath } from './shared-data.ts';

export interface StoriesEvalOptions {
  name: string;
  /** File name without .yaml (default: the name). */
  file?: string;
  samples: number;
  seed: number;
  settings: string[];
  methods: string[];
  budgets: number[];
  window?: number;
  /** Continuation task options. */
  contextTokens?: number;
  questionTokens?: number;
  continuationTokens?: number;
  /** model.threads (intra-op threads of a worker's session). */
  threads?: number;
  data?: string;
  db?: string;
}

/** Writes `<dir>/<file>.yaml` and returns its path. */
export function writeStoriesEval(dir: string, o: StoriesEvalOptions): string {
  const file = join(dir, `${o.file ?? o.name}.yaml`);
  const options = [
    `contextTokens: ${o.contextTokens ?? 160}`,
    o.questionTokens ? `questionTokens: ${o.questionTokens}` : '',
    `continuationTokens: ${o.continuationTokens ?? 16}`,
  ];
  writeFileSync(
    file,
    `name: ${o.name}
model:
  path: ${sharedDataPath('stories260K', 'stories260K.bin')}
  tokenizer: ${sharedDataPath('stories260K', 'tok512.bin')}${o.threads ? `\n  threads: ${o.threads}` : ''}
tasks:
  - name: continuation
    data: ${o.data ?? join(repoRoot, 'datasets/stories260k-samples.jsonl')}
    samples: ${o.samples}
    seed: ${o.seed}
    options: { ${options.filter(Boolean).join(', ')} }
setting: ${o.settings.length === 1 ? o.settings[0] : `[${o.settings.join(', ')}]`}
methods: [${o.methods.join(', ')}]
budgets: [${o.budgets.join(', ')}]
window: ${o.window ?? 32}
workers: 1${o.db ? `\ndb: ${o.db}` : ''}
`,
  );
  return file;
}
