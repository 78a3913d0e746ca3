// The small EvolKV search on stories260K that several test suites run (resume, crash schedules, the queue):
// 4 continuation samples (1 held out), CMA-ES with population 4 over one group of 5 layers.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, sharedDataPath } from './shared-data.ts';

export interface StoriesSearchOptions {
  name: string;
  generations: number;
  /** Budgets the found profile is carried to (search.transfer). */
  transfer?: number[];
  /** model.threads (intra-op threads of a worker's session). */
  threads?: number;
}

/** Writes `<dir>/search.yaml` and returns its path. */
export function writeStoriesSearch(dir: string, o: StoriesSearchOptions): string {
  const file = join(dir, 'search.yaml');
  writeFileSync(
    file,
    `name: ${o.name}
model:
  path: ${sharedDataPath('stories260K', 'stories260K.bin')}
  tokenizer: ${sharedDataPath('stories260K', 'tok512.bin')}${o.threads ? `\n  threads: ${o.threads}` : ''}
tasks:
  - name: continuation
    data: ${join(repoRoot, 'datasets/stories260k-samples.jsonl')}
    samples: 4
    heldout: 1
    seed: 5
    options: { contextTokens: 160, continuationTokens: 16 }
setting: question-agnostic
search:
  scorer: snapkv
  budget: 24
  group_size: 5
  generations: ${o.generations}
  population: 4
  fitness: task
  seed: 11${o.transfer ? `\n  transfer: [${o.transfer.join(', ')}]` : ''}
window: 32
workers: 1
`,
  );
  return file;
}
