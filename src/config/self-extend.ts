/**
 * `model.self_extend` in an experiment file: one SelfExtend setting, `off`, or a list of them (variants). Every
 * task runs once per variant (the engine expands them with `taskVariants`), so one experiment compares a model
 * with and without SelfExtend, or several (G, W), on the same samples.
 *
 *   self_extend: {group: 8, window: 128}
 *   self_extend: [off, {group: 4, window: 128}, {group: 8, window: 128}]
 */
import { checkSelfExtendValues, selfExtendLabel, type SelfExtendOptions } from '../model/self-extend.ts';
import { KvoptError } from '../util/errors.ts';
import type { ConfigReader, KeyPath } from './reader.ts';
import type { ExperimentConfig, TaskConfig } from './schema.ts';

const KEYS = ['group', 'window'];

function readOne(r: ConfigReader, v: unknown, path: KeyPath): SelfExtendOptions | null {
  if (v === 'off' || v === false) return null;
  const m = r.mapping(v, path, '{group: G, window: W} or off');
  r.keys(m, path, KEYS);
  const se = {
    group: r.integer(r.required(m, 'group', path, 'the group size G (an integer >= 1)'), [...path, 'group'], 1),
    window: r.integer(r.required(m, 'window', path, 'the neighbour window W (an integer >= 1)'), [...path, 'window'], 1),
  };
  checkSelfExtendValues(se, path.join('.'));
  return se;
}

/** The variants of `model.self_extend` (absent: [null], SelfExtend off). */
export function readSelfExtend(r: ConfigReader, v: unknown, path: KeyPath): (SelfExtendOptions | null)[] {
  if (v == null) return [null];
  if (!Array.isArray(v)) return [readOne(r, v, path)];
  if (v.length === 0) r.fail(path, 'expected {group: G, window: W}, off, or a list of them, got an empty list');
  const out = v.map((x, i) => readOne(r, x, [...path, i]));
  const keys = out.map((x) => (x ? selfExtendLabel(x) : 'off'));
  keys.forEach((k, i) => {
    if (keys.indexOf(k) !== i) r.fail([...path, i], `duplicate SelfExtend setting ${k}`);
  });
  return out;
}

/** Every task once per SelfExtend variant, variant-major (all tasks without SelfExtend first when `off` is first). */
export function taskVariants(config: ExperimentConfig): TaskConfig[] {
  const variants = config.model.selfExtend;
  return variants.flatMap((se) => config.tasks.map((t) => (se ? { ...t, selfExtend: se } : t)));
}

/** A search tunes one model: at most one SelfExtend setting. */
export function checkSearchSelfExtend(config: ExperimentConfig): void {
  if (config.model.selfExtend.length > 1) {
    throw new KvoptError(
      `${config.source.file}: model.self_extend: kvopt search takes one SelfExtend setting, got a list of ${config.model.selfExtend.length}`,
    );
  }
}
