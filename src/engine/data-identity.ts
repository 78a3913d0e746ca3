/**
 * The data part of a run's identity: sha256 of every file under each task's `data` path (a file, or the
 * files of a folder, recursively), and of the budget profiles methods read. A run stores them when it starts; `--resume` refuses when any
 * differs, naming the file, so a resumed run never mixes samples of two versions of a dataset.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, type Stats, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ExperimentConfig } from '../config/schema.ts';
import { KvoptError } from '../util/errors.ts';

/** path → sha256 hex (absolute paths). A missing path maps to 'missing'. */
export type DataHashes = Record<string, string>;

const MAX_FILES = 10_000;

function filesUnder(p: string, out: string[]): void {
  let st: Stats;
  try {
    st = statSync(p);
  } catch {
    return;
  }
  if (st.isFile()) out.push(p);
  else if (st.isDirectory()) {
    for (const name of readdirSync(p).sort()) {
      if (name.startsWith('.')) continue;
      if (out.length >= MAX_FILES) return;
      filesUnder(join(p, name), out);
    }
  }
}

export function hashFile(p: string): string {
  return createHash('sha256').update(readFileSync(p)).digest('hex');
}

/** Content hashes of every data file the config's tasks read. */
export function dataHashes(config: ExperimentConfig): DataHashes {
  const out: DataHashes = {};
  for (const t of config.tasks) {
    const files: string[] = [];
    filesUnder(t.data, files);
    if (files.length === 0) out[t.data] = 'missing';
    for (const f of files) out[f] ??= hashFile(f);
  }
  // Budget profiles read by the profile allocator are data too.
  for (const m of [...config.methods, ...(config.search ? [config.search.scorer] : [])]) {
    const file = m.options.file;
    if (typeof file === 'string') out[file] ??= existsSync(file) ? hashFile(file) : 'missing';
  }
  return out;
}

/** Throws naming the first data file whose content differs from what the run was started with. */
export function checkDataUnchanged(runId: number, stored: DataHashes | undefined, now: DataHashes): void {
  if (!stored) return; // a run stored before data hashes were kept
  for (const [file, hash] of Object.entries(stored)) {
    const cur = now[file];
    if (cur === hash) continue;
    const what = cur === undefined || cur === 'missing' ? 'is gone' : 'changed';
    throw new KvoptError(`--resume: ${file} ${what} since run ${runId} started; start a new run instead of --resume (results would mix two datasets)`);
  }
  for (const file of Object.keys(now)) {
    if (!(file in stored))
      throw new KvoptError(`--resume: ${file} is new since run ${runId} started; start a new run instead of --resume (results would mix two datasets)`);
  }
}
