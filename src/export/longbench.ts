/**
 * Predictions of a stored eval run in LongBench's pred.py layout, so LongBench's own eval.py can score
 * them: one folder per (method, budget, setting) playing the part of pred.py's `pred/<model>/`, holding one
 * `<dataset>.jsonl` per dataset with lines {"pred", "answers", "all_classes", "length"} (pred.py's fields;
 * `pred` is the raw generation, eval.py applies its own first-line rule). answers/all_classes/length come
 * from the run's data files, checked against the content hash stored with each sample.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExperimentConfig, TaskConfig } from '../config/schema.ts';
import { taskLabel } from '../config/task-label.ts';
import type { ReadOnlyStorage } from '../store/storage.ts';
import { loadLongBench, longBenchDataPath } from '../tasks/longbench.ts';
import { isLongBenchDataset } from '../tasks/longbench-config.ts';
import { contentHash } from '../tasks/sample-hash.ts';
import type { Sample } from '../tasks/types.ts';
import { KvoptError } from '../util/errors.ts';

export interface LongBenchExport {
  /** Folders written (one per method × budget × setting), each with its dataset files. */
  folders: { dir: string; method: string; budget: string; setting: string; files: string[] }[];
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9=.,()@_+-]+/g, '_');

export function exportLongBench(store: ReadOnlyStorage, runId: number, outDir: string): LongBenchExport {
  const run = store.getRun(runId);
  const config = JSON.parse(run.configJson) as ExperimentConfig;
  const tasks = (config.tasks ?? []).filter((t) => t.name.startsWith('longbench/'));
  if (tasks.length === 0) throw new KvoptError(`run ${runId} has no LongBench task (its tasks: ${(config.tasks ?? []).map((t) => t.name).join(', ')})`);
  const samples = store.samplesForRun(runId);
  const evals = store.evaluationsForRun(runId).filter((e) => e.status === 'ok');
  const multiSetting = new Set(evals.map((e) => e.setting)).size > 1;
  const groups = new Map<string, { method: string; budget: string; setting: string; byDataset: Map<string, string[]> }>();
  for (const task of tasks) {
    const dataset = task.name.slice('longbench/'.length);
    if (!isLongBenchDataset(dataset)) continue;
    const label = taskLabel(task as TaskConfig, config.tasks as TaskConfig[]);
    const mine = samples.filter((s) => s.task === label);
    let byId: Map<string, Sample>;
    try {
      byId = new Map(loadLongBench(longBenchDataPath(task.data, dataset), dataset).map((s) => [s.id, s]));
    } catch (e) {
      if (e instanceof KvoptError) throw new KvoptError(`${task.name}: cannot read its data to export answers: ${e.message}`);
      throw e;
    }
    const sampleById = new Map<number, Sample>();
    for (const s of mine) {
      const found = byId.get(s.key);
      // The hash covers the sample as the run loaded it: the same file gives the same hash.
      if (!found || contentHash(found) !== s.contentHash) {
        throw new KvoptError(
          `${task.data}: sample ${s.key} ${found ? 'differs from' : 'is missing from'} the one the run scored (the data changed since run ${runId})`,
        );
      }
      sampleById.set(s.id, found);
    }
    for (const e of evals.filter((x) => x.task === label)) {
      const s = sampleById.get(e.sampleId);
      if (!s) continue;
      const k = `${e.method}\u0000${e.budget}\u0000${e.setting}`;
      const g = groups.get(k) ?? { method: e.method, budget: e.budget, setting: e.setting, byDataset: new Map() };
      groups.set(k, g);
      const lines = g.byDataset.get(dataset) ?? [];
      g.byDataset.set(dataset, lines);
      lines.push(JSON.stringify({ pred: e.prediction ?? '', answers: s.answers, all_classes: s.allClasses ?? null, length: s.length ?? null }));
    }
  }
  if (groups.size === 0) throw new KvoptError(`run ${runId} has no scored LongBench prediction to export`);
  const out: LongBenchExport = { folders: [] };
  for (const g of groups.values()) {
    const dir = join(outDir, safe(`${g.method}@${g.budget}${multiSetting ? `_${g.setting}` : ''}`));
    mkdirSync(dir, { recursive: true });
    const files: string[] = [];
    for (const [dataset, lines] of g.byDataset) {
      const file = join(dir, `${dataset}.jsonl`);
      writeFileSync(file, lines.join('\n') + '\n');
      files.push(file);
    }
    out.folders.push({ dir, method: g.method, budget: g.budget, setting: g.setting, files });
  }
  return out;
}
