/**
 * The identity of an experiment's results.
 *
 * configHash = sha256 (hex) of the canonical JSON (keys sorted at every depth) of the resolved config,
 * defaults filled in, leaving out what cannot change a result:
 *   - name, description (labels), db (where results go), workers and model.threads (scheduling),
 *   - the top-level seed (its effect is carried by every task seed and the search seed, which stay in),
 *   - the YAML text itself (comments and formatting).
 * Paths enter relative to the YAML file's directory ('/'-separated), so a clone elsewhere hashes the same;
 * a moved config whose paths still point at the same files does not. The model's identity is stored
 * separately (the weights hash), so a changed model file is caught even when its path is not.
 * A file that spells out a default hashes the same as one that leaves it out.
 */
import { createHash } from 'node:crypto';
import { relative, sep } from 'node:path';
import { budgetKey, canonicalValue, type ExperimentConfig } from './schema.ts';

function rel(dir: string, p: string): string {
  return relative(dir, p).split(sep).join('/') || '.';
}

/** The object whose canonical JSON is hashed. */
export function hashedConfig(c: ExperimentConfig): unknown {
  const dir = c.source.dir;
  return {
    model: {
      path: rel(dir, c.model.path),
      tokenizer: c.model.tokenizer === null ? null : rel(dir, c.model.tokenizer),
      device: c.model.device,
      dtype: c.model.dtype,
      // only when on, so configs without SelfExtend keep their hash
      ...(c.model.selfExtend.some((x) => x !== null) ? { selfExtend: c.model.selfExtend } : {}),
    },
    tasks: c.tasks.map((t) => ({
      name: t.name,
      data: rel(dir, t.data),
      samples: t.samples,
      seed: t.seed,
      heldout: t.heldout,
      options: t.options,
    })),
    settings: c.settings,
    methods: c.methods.map((m) => ({ name: m.name, options: m.options })),
    budgets: c.budgets.map(budgetKey),
    search: c.search && { ...c.search, scorer: { name: c.search.scorer.name, options: c.search.scorer.options } },
    chunkSize: c.chunkSize,
    window: c.window,
  };
}

/** JSON with object keys sorted at every depth. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(canonicalValue(v));
}

export function configHash(c: ExperimentConfig): string {
  return createHash('sha256')
    .update(canonicalJson(hashedConfig(c)))
    .digest('hex');
}

/** The whole resolved config (absolute paths, db and workers included, YAML text left out) as canonical JSON, for the runs table. */
export function resolvedConfigJson(c: ExperimentConfig): string {
  const { source, ...rest } = c;
  return canonicalJson({ ...rest, source: { file: source.file, dir: source.dir } });
}
