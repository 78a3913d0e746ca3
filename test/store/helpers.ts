/** Shared bits of the store tests: temp databases and a minimal run. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '../../src/store/store.ts';
import type { NewRun } from '../../src/store/types.ts';

export function tempDb(name = 'kvopt.db'): string {
  return join(mkdtempSync(join(tmpdir(), 'kvopt-store-')), 'sub', name);
}

export function newRun(over: Partial<NewRun> = {}): NewRun {
  return {
    experiment: 'exp',
    kind: 'eval',
    configJson: '{"a":1}',
    configYaml: 'name: exp\n',
    configHash: 'h1',
    modelPath: '/models/tiny',
    modelHash: null,
    codeVersion: 'test',
    seed: 0,
    ...over,
  };
}

export function sampleIds(store: Store, runId: number, task: string, n: number, split: 'eval' | 'calibration' | 'heldout' = 'eval'): number[] {
  return store.registerSamples(
    runId,
    Array.from({ length: n }, (_, i) => ({ task, key: String(i), contentHash: `${task}-${i}`, split })),
  );
}
