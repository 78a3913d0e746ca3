/**
 * Command-line flags that override the experiment file (design.md §4.6a): --db, --workers, --device, --dtype,
 * --samples, --seed. Flag values arrive as strings from commander; errors name the flag.
 * A relative --db resolves against the working directory (as any command-line path does).
 */
import { resolve } from 'node:path';
import { KvoptError } from '../util/errors.ts';
import { DTYPES, type ExperimentConfig } from './schema.ts';
import { parseDeviceRequest } from '../runtime/device.ts';
import { didYouMean } from '../util/suggest.ts';
import { parseSelfExtendFlag } from '../model/self-extend.ts';

export interface Overrides {
  db?: string;
  /** 'auto' or a positive integer. */
  workers?: string | number;
  /** cpu, cuda or webgpu; a trailing ! makes an unavailable GPU an error. */
  device?: string;
  /** fp32 or fp16 (graph weights and KV cache). */
  dtype?: string;
  /** Samples per task (every task). */
  samples?: string | number;
  /** Replaces the run seed, every task seed and the search seed. */
  seed?: string | number;
  /** `G,W` or `off`: replaces model.self_extend. */
  selfExtend?: string;
  /** Directory a relative --db is resolved against; default process.cwd(). */
  cwd?: string;
}

function intFlag(flag: string, v: string | number, min: number, what: string): number {
  const n = typeof v === 'number' ? v : /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min) throw new KvoptError(`${flag}: expected ${what}, got ${JSON.stringify(v)}`);
  return n;
}

/** A new config with the overrides applied; `config` is not modified. */
export function applyOverrides(config: ExperimentConfig, o: Overrides): ExperimentConfig {
  const out: ExperimentConfig = {
    ...config,
    model: { ...config.model },
    tasks: config.tasks.map((t) => ({ ...t })),
    search: config.search ? { ...config.search } : null,
  };
  if (o.db !== undefined) {
    if (o.db.trim() === '') throw new KvoptError('--db: expected a file path, got ""');
    out.db = resolve(o.cwd ?? process.cwd(), o.db);
  }
  if (o.workers !== undefined) {
    out.workers = o.workers === 'auto' ? null : intFlag('--workers', o.workers, 1, '"auto" or a positive integer');
  }
  if (o.device !== undefined) {
    const req = parseDeviceRequest(o.device, '--device');
    out.model.device = req.device;
    out.model.requireDevice = req.required;
  }
  if (o.dtype !== undefined) {
    if (!(DTYPES as readonly string[]).includes(o.dtype)) {
      throw new KvoptError(`--dtype: expected one of ${DTYPES.join(', ')}, got ${JSON.stringify(o.dtype)}${didYouMean(o.dtype, DTYPES)}`);
    }
    out.model.dtype = o.dtype as ExperimentConfig['model']['dtype'];
  }
  if (o.selfExtend !== undefined) out.model.selfExtend = [o.selfExtend.trim() === 'off' ? null : parseSelfExtendFlag(o.selfExtend)];
  if (o.samples !== undefined) {
    const n = intFlag('--samples', o.samples, 1, 'a positive integer');
    out.tasks.forEach((t, i) => {
      if (t.heldout >= n) {
        throw new KvoptError(`--samples: tasks[${i}] (${t.name}) holds out ${t.heldout} samples; expected more than ${t.heldout}, got ${n}`);
      }
      t.samples = n;
    });
  }
  if (o.seed !== undefined) {
    const s = intFlag('--seed', o.seed, 0, 'a non-negative integer');
    out.seed = s;
    for (const t of out.tasks) t.seed = s;
    if (out.search) out.search.seed = s;
  }
  return out;
}
