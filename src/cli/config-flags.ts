/**
 * One rule for every flag given together with --config: the flag OVERRIDES the file, and a note naming
 * the flag and the key it replaced is printed on stderr. Nothing given on the command line is ignored.
 *
 * Experiment-content flags (--model, --tokenizer, --task, --data, --task-option, --methods, --budgets,
 * --setting) are applied to the YAML document, which is then parsed and validated once as a whole;
 * run flags (--db, --workers, --device, --samples, --seed) go through config/overrides.ts as before.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import YAML from 'yaml';
import { parseExperiment } from '../config/load.ts';
import { KvoptError } from '../util/errors.ts';

export interface ContentFlags {
  model?: string;
  tokenizer?: string;
  task?: string;
  data?: string;
  /** Already parsed key=value task options. */
  taskOptions?: Record<string, unknown>;
  /** Method list as YAML values (splitMethodList). */
  methods?: unknown[];
  budgets?: number[];
  /** question-aware | question-agnostic | both */
  setting?: string;
}

export interface RunFlags {
  db?: string;
  workers?: string;
  device?: string;
  samples?: string;
  seed?: string;
  queue?: string | boolean;
  selfExtend?: string;
  dtype?: string;
}

const note = (flag: string, key: string, file: string) => `kvopt: note: ${flag} overrides ${key} of ${file}\n`;

/** The experiment file with the content flags applied (notes written to `out`); the YAML parsed once. */
export function loadWithFlags(file: string, f: ContentFlags, out: (s: string) => void = (s) => process.stderr.write(s)) {
  let text: string;
  try {
    text = readFileSync(resolve(file), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KvoptError(code === 'ENOENT' ? `${file}: no such experiment file` : `${file}: cannot read experiment file (${code ?? String(err)})`);
  }
  const given = Object.entries(f).filter(([, v]) => v !== undefined);
  if (given.length === 0) return parseExperiment(text, file);
  const doc = YAML.parseDocument(text);
  if (doc.errors.length) return parseExperiment(text, file); // the parser reports the syntax error with its position
  const raw = (doc.toJS() ?? {}) as Record<string, unknown>;
  const abs = (p: string) => resolve(p); // command-line paths are relative to the working directory
  if (f.model !== undefined || f.tokenizer !== undefined) {
    const model = { ...((raw.model as Record<string, unknown>) ?? {}) };
    if (f.model !== undefined) {
      model.path = abs(f.model);
      out(note('--model', 'model.path', file));
    }
    if (f.tokenizer !== undefined) {
      model.tokenizer = abs(f.tokenizer);
      out(note('--tokenizer', 'model.tokenizer', file));
    }
    raw.model = model;
  }
  if (f.task !== undefined || f.data !== undefined || f.taskOptions !== undefined) {
    const tasks = Array.isArray(raw.tasks) ? (raw.tasks as Record<string, unknown>[]) : [];
    if (tasks.length > 1) {
      const flags = [f.task !== undefined && '--task', f.data !== undefined && '--data', f.taskOptions !== undefined && '--task-option']
        .filter(Boolean)
        .join(', ');
      throw new KvoptError(
        `${flags}: ${file} has ${tasks.length} tasks; these flags override a single task (edit tasks[] in the file, or give the whole run on the command line)`,
      );
    }
    const t = { ...(tasks[0] ?? {}) };
    if (f.task !== undefined) {
      t.name = f.task;
      out(note('--task', 'tasks[0].name', file));
    }
    if (f.data !== undefined) {
      t.data = abs(f.data);
      out(note('--data', 'tasks[0].data', file));
    }
    if (f.taskOptions !== undefined) {
      t.options = { ...((t.options as Record<string, unknown>) ?? {}), ...f.taskOptions };
      out(note('--task-option', `tasks[0].options.{${Object.keys(f.taskOptions).join(',')}}`, file));
    }
    raw.tasks = [t];
  }
  if (f.methods !== undefined) {
    raw.methods = f.methods;
    out(note('--methods', 'methods', file));
  }
  if (f.budgets !== undefined) {
    raw.budgets = f.budgets;
    out(note('--budgets', 'budgets', file));
  }
  if (f.setting !== undefined) {
    raw.setting = f.setting === 'both' ? ['question-aware', 'question-agnostic'] : f.setting;
    out(note('--setting', 'setting', file));
  }
  // Relative paths the file itself gives still resolve against the file's directory: parse it as that file.
  return parseExperiment(YAML.stringify(raw), file);
}

/** Notes for the run flags that override the file (the values are applied by applyOverrides). */
export function noteRunFlags(file: string, f: RunFlags, out: (s: string) => void = (s) => process.stderr.write(s)): void {
  const keys: [keyof RunFlags, string, string][] = [
    ['db', '--db', 'db'],
    ['workers', '--workers', 'workers'],
    ['device', '--device', 'model.device'],
    ['samples', '--samples', 'tasks[].samples'],
    ['seed', '--seed', 'seed (and every task and search seed)'],
    ['queue', '--queue', 'queue'],
    ['selfExtend', '--self-extend', 'model.self_extend'],
    ['dtype', '--dtype', 'model.dtype'],
  ];
  for (const [k, flag, key] of keys) if (f[k] !== undefined) out(note(flag, key, file));
}
