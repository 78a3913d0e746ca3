/**
 * The BudgetProfile file: per-layer budgets found by a search (or written by hand), read by the `profile`
 * allocator and written by `kvopt export`.
 *
 *   { "format": "kvopt-budget-profile/1", "target": c, "layers": [b_0, ..., b_{L-1}],
 *     "meta": { "model": ..., "method": ..., "fitness": ..., "searchRunId": ..., ... } }
 *
 * Budgets are tokens kept per KV head per layer, observation window included (design.md §4.3); their mean must
 * equal `target`. Read/written as JSON or YAML. Export-only formats: csv (`layer,budget`, also readable back)
 * and kvpress (see toKvpressRatios()).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { extname } from 'node:path';
import YAML from 'yaml';
import { KvoptError } from '../util/errors.ts';

export const PROFILE_FORMAT = 'kvopt-budget-profile/1';

export interface BudgetProfileMeta {
  model?: string;
  method?: string;
  fitness?: number;
  searchRunId?: string | number;
  [key: string]: unknown;
}

export interface BudgetProfile {
  format: typeof PROFILE_FORMAT;
  target: number;
  layers: number[];
  meta: BudgetProfileMeta;
}

export type ProfileFileFormat = 'json' | 'yaml' | 'csv';
export type ProfileExportFormat = ProfileFileFormat | 'kvpress';

export function makeProfile(layers: readonly number[], meta: BudgetProfileMeta = {}, target?: number): BudgetProfile {
  const t = target ?? layers.reduce((a, b) => a + b, 0) / layers.length;
  return validateProfile({ format: PROFILE_FORMAT, target: t, layers: [...layers], meta: { ...meta } }, '<profile>');
}

/** Checks a parsed object; errors name the file and the field. */
export function validateProfile(value: unknown, file: string): BudgetProfile {
  const fail = (field: string, msg: string): never => {
    throw new KvoptError(`${file}: ${field}: ${msg}`);
  };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('(top level)', 'expected a mapping with format, target, layers, meta');
  const v = value as Record<string, unknown>;
  if (v.format !== PROFILE_FORMAT) fail('format', `expected "${PROFILE_FORMAT}", got ${JSON.stringify(v.format)}`);
  if (typeof v.target !== 'number' || !Number.isFinite(v.target) || v.target <= 0) fail('target', `expected a number > 0, got ${JSON.stringify(v.target)}`);
  if (!Array.isArray(v.layers) || v.layers.length === 0) fail('layers', 'expected a non-empty list of per-layer budgets');
  const layers = v.layers as unknown[];
  layers.forEach((b, i) => {
    if (typeof b !== 'number' || !Number.isInteger(b) || b < 0) fail(`layers[${i}]`, `expected an integer >= 0, got ${JSON.stringify(b)}`);
  });
  const m = (layers as number[]).reduce((a, b) => a + b, 0) / layers.length;
  const target = v.target as number;
  if (Math.abs(m - target) > 1e-9 * target) fail('target', `is ${target} but the mean of layers is ${m} (they must match; complete the profile to its target)`);
  const meta = v.meta ?? {};
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) fail('meta', 'expected a mapping');
  const known = new Set(['format', 'target', 'layers', 'meta']);
  for (const k of Object.keys(v)) if (!known.has(k)) fail(k, 'unknown field (expected format, target, layers, meta)');
  return { format: PROFILE_FORMAT, target, layers: [...(layers as number[])], meta: { ...(meta as BudgetProfileMeta) } };
}

/** Format from a file name: .json, .yaml/.yml, .csv. */
export function formatFromPath(path: string): ProfileFileFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.json') return 'json';
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  if (ext === '.csv') return 'csv';
  throw new KvoptError(`${path}: cannot tell the profile format from the extension "${ext}" (expected .json, .yaml, .yml or .csv)`);
}

export function parseProfile(text: string, file: string, format: ProfileFileFormat): BudgetProfile {
  if (format === 'csv') return parseCsv(text, file);
  let parsed: unknown;
  try {
    parsed = format === 'json' ? JSON.parse(text) : YAML.parse(text);
  } catch (e) {
    throw new KvoptError(`${file}: not valid ${format.toUpperCase()}: ${(e as Error).message.split('\n')[0]}`);
  }
  return validateProfile(parsed, file);
}

function parseCsv(text: string, file: string): BudgetProfile {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0 || lines[0].replace(/\s/g, '') !== 'layer,budget') throw new KvoptError(`${file}: line 1: expected the header "layer,budget"`);
  const layers: number[] = [];
  lines.slice(1).forEach((line, k) => {
    const cells = line.split(',').map((c) => c.trim());
    const lineNo = k + 2;
    if (cells.length !== 2) throw new KvoptError(`${file}: line ${lineNo}: expected "layer,budget"`);
    const layer = Number(cells[0]);
    const budget = Number(cells[1]);
    if (cells[0] === '' || layer !== layers.length) throw new KvoptError(`${file}: line ${lineNo}: layer: expected ${layers.length}, got "${cells[0]}"`);
    if (cells[1] === '' || !Number.isInteger(budget) || budget < 0)
      throw new KvoptError(`${file}: line ${lineNo}: budget: expected an integer >= 0, got "${cells[1]}"`);
    layers.push(budget);
  });
  if (layers.length === 0) throw new KvoptError(`${file}: no layers`);
  const target = layers.reduce((a, b) => a + b, 0) / layers.length;
  return validateProfile({ format: PROFILE_FORMAT, target, layers, meta: {} }, file);
}

export interface ExportOptions {
  /** kvpress only: the prompt length T the ratios are computed for. */
  contextLength?: number;
}

/**
 * kvpress per-layer compression ratios for PerLayerCompressionPress(press, compression_ratios=[...]) (NVIDIA/kvpress
 * kvpress/presses/per_layer_compression_press.py: `compression_ratios: List[float]`, indexed by layer_idx).
 * kvpress's ratio is the fraction REMOVED and its ScorerPress keeps n_kept = int(q_len·(1 − r)) tokens per head, so
 * ratio_l = 1 − b_l / T for a prompt of T tokens (b_l ≥ T gives 0: nothing removed). Since kvpress truncates, each
 * ratio is nudged down by ulps until int(T·(1 − r)) == b_l holds in double arithmetic (Python floats are the same
 * IEEE doubles), so kvpress keeps exactly b_l tokens. The ratios hold for prompts of length T only.
 */
export function toKvpressRatios(layers: readonly number[], contextLength: number): number[] {
  if (!Number.isInteger(contextLength) || contextLength < 1)
    throw new KvoptError(`kvpress export: --context-length must be an integer >= 1, got ${contextLength}`);
  return layers.map((b) => {
    if (b >= contextLength) return 0;
    let r = 1 - b / contextLength;
    for (let guard = 0; Math.trunc(contextLength * (1 - r)) < b && guard < 64; guard++) r = nextDown(r);
    return r;
  });
}

function nextDown(x: number): number {
  if (x <= 0) return x;
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, x);
  buf.setBigUint64(0, buf.getBigUint64(0) - 1n);
  return buf.getFloat64(0);
}

export function serializeProfile(profile: BudgetProfile, format: ProfileExportFormat, options: ExportOptions = {}): string {
  const p = validateProfile(profile, '<profile>');
  switch (format) {
    case 'json':
      return JSON.stringify(p, null, 2) + '\n';
    case 'yaml':
      return YAML.stringify(p, { lineWidth: 0, flowCollectionPadding: false });
    case 'csv':
      return 'layer,budget\n' + p.layers.map((b, i) => `${i},${b}`).join('\n') + '\n';
    case 'kvpress': {
      if (options.contextLength === undefined) throw new KvoptError('kvpress export: a context length is needed (ratio = 1 - budget / context length)');
      // A Python list literal (also valid JSON) that a kvpress user can paste as compression_ratios.
      return (
        '[' +
        toKvpressRatios(p.layers, options.contextLength)
          .map((r) => String(r))
          .join(', ') +
        ']\n'
      );
    }
    default:
      throw new KvoptError(`export: unknown format "${String(format)}" (expected json | yaml | csv | kvpress)`);
  }
}

/** Reads a profile file (.json, .yaml/.yml or .csv, or `format` to override). */
export function readProfile(path: string, format?: ProfileFileFormat): BudgetProfile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new KvoptError(`${path}: cannot read the profile file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseProfile(text, path, format ?? formatFromPath(path));
}

/** Writes a profile; the format defaults to the one the extension names. */
export function writeProfile(path: string, profile: BudgetProfile, format?: ProfileExportFormat, options: ExportOptions = {}): void {
  writeFileSync(path, serializeProfile(profile, format ?? formatFromPath(path), options));
}
