/**
 * Method registry: names (with options) → MethodSpec → scorer ▸ allocator ▸ quantiser instances.
 *
 * Forms accepted (design.md §4.6a `methods:`):
 *   'snapkv'                                  a preset with its defaults
 *   'snapkv(window=16,kernel=5,pooling=avg)'  options inline
 *   'snapkv+kivi4', 'h2o+kivi(bits=4,residual=32)', 'kivi2'   eviction ▸ quantiser
 *   { snapkv: { window: 32, kernel: 7, pooling: 'max' } }, { adakv: { scorer: 'snapkv', alpha: 0.2 } },
 *   { 'snapkv+kivi4': { window: 16, residual: 32 } }        (each option goes to the stage that declares it)
 * Every eviction preset also takes `scorer` and `allocator` to swap a stage (e.g. { profile: { file, scorer: 'defensivekv' } }).
 *
 * | method            | scorer                              | allocator                   | quantiser |
 * |-------------------|-------------------------------------|-----------------------------|-----------|
 * | full              | full                                | all (keeps everything)      |           |
 * | streaming         | streaming (sinks 4)                 | uniform                     |           |
 * | h2o               | h2o (recent = B/2, GQA mean)        | uniform                     |           |
 * | snapkv            | snapkv (w 32, k 7, max, sum, mean)  | uniform                     |           |
 * | pyramidkv         | snapkv                              | pyramid (β 20, clamp)       |           |
 * | adakv             | snapkv                              | adakv (α 0.2)               |           |
 * | criticalkv        | criticalkv (w 32, k 7, max, MEAN; 0.5, 1e-4) | uniform           |           |
 * | ada-criticalkv    | criticalkv                          | adakv (α 0.2)               |           |
 * | defensivekv       | defensivekv (w 32, k 5, 0.9)        | adakv (α 0: plain top-k)    |           |
 * | layer-defensivekv | defensivekv                         | layer-global                |           |
 * | profile           | snapkv                              | profile (file required)     |           |
 * | kivi, kivi2/4/8/16| full                                | all                         | kivi (bits, group 32, R 128) |
 */
import { KvoptError } from '../util/errors.ts';
import { adakvAllocator, adakvOptions } from './allocators/adakv.ts';
import { allAllocator, allOptions } from './allocators/all.ts';
import { layerGlobalAllocator, layerGlobalOptions } from './allocators/layer-global.ts';
import { profileAllocator, profileOptions } from './allocators/profile.ts';
import { pyramidAllocator, pyramidOptions } from './allocators/pyramid.ts';
import { uniformAllocator, uniformOptions } from './allocators/uniform.ts';
import { type OptionSchema, type OptionsOf, resolveOptions } from './options.ts';
import { kiviOptions, kiviQuantizer } from './quantizers/kivi.ts';
import { criticalkvOptions, criticalkvScorer } from './scorers/criticalkv.ts';
import { defensivekvOptions, defensivekvScorer } from './scorers/defensivekv.ts';
import { fullOptions, fullScorer } from './scorers/full.ts';
import { h2oOptions, h2oScorer } from './scorers/h2o.ts';
import { snapkvOptions, snapkvScorer } from './scorers/snapkv.ts';
import { streamingOptions, streamingScorer } from './scorers/streaming.ts';
import type { Allocator, MethodSpec, Quantizer, Scorer } from './types.ts';

type Opts = Record<string, unknown>;
interface Entry<T> {
  schema: OptionSchema;
  create(opts: Opts): T;
}
/** What a scorer needs from the prefill: the rows of observation-window attention it reads (0: none). */
interface ScorerEntry extends Entry<Scorer> {
  observationWindow?(opts: Opts): number;
}
/** headWise: the allocator gives the KV heads of a layer different budgets (reports draw its head heatmap). */
interface AllocatorEntry extends Entry<Allocator> {
  headWise?: boolean;
}

/**
 * Typed registry entries: the factory (and each declared need) takes exactly the options its schema declares.
 * The one conversion: resolveOptions has filled every key of `schema` with a checked value of its kind.
 */
const typed = <S extends OptionSchema>(_schema: S, opts: Opts) => opts as OptionsOf<S>;
function stage<S extends OptionSchema, T>(schema: S, create: (opts: OptionsOf<S>) => T): Entry<T> {
  return { schema, create: (opts) => create(typed(schema, opts)) };
}
function scorer<S extends OptionSchema>(
  schema: S,
  create: (opts: OptionsOf<S>) => Scorer,
  needs: { observationWindow?(opts: OptionsOf<S>): number } = {},
): ScorerEntry {
  const window = needs.observationWindow;
  return { ...stage(schema, create), ...(window ? { observationWindow: (opts: Opts) => window(typed(schema, opts)) } : {}) };
}
function allocator<S extends OptionSchema>(schema: S, create: (opts: OptionsOf<S>) => Allocator, needs: { headWise?: boolean } = {}): AllocatorEntry {
  return { ...stage(schema, create), ...needs };
}

export const SCORERS: Record<string, ScorerEntry> = {
  full: scorer(fullOptions, fullScorer),
  streaming: scorer(streamingOptions, streamingScorer),
  h2o: scorer(h2oOptions, h2oScorer),
  snapkv: scorer(snapkvOptions, snapkvScorer, { observationWindow: (o) => o.window }),
  criticalkv: scorer(criticalkvOptions, criticalkvScorer, { observationWindow: (o) => o.window }),
  defensivekv: scorer(defensivekvOptions, defensivekvScorer, { observationWindow: (o) => o.window }),
};

export const ALLOCATORS: Record<string, AllocatorEntry> = {
  all: allocator(allOptions, allAllocator),
  uniform: allocator(uniformOptions, uniformAllocator),
  pyramid: allocator(pyramidOptions, pyramidAllocator),
  adakv: allocator(adakvOptions, adakvAllocator, { headWise: true }),
  'layer-global': allocator(layerGlobalOptions, layerGlobalAllocator, { headWise: true }),
  profile: allocator(profileOptions, profileAllocator),
};

export const QUANTIZERS: Record<string, Entry<Quantizer>> = {
  kivi: stage(kiviOptions, kiviQuantizer),
};

interface Preset {
  scorer: string;
  allocator: string;
  scorerDefaults?: Opts;
  allocatorDefaults?: Opts;
  quantizer?: Opts;
}

export const METHODS: Record<string, Preset> = {
  full: { scorer: 'full', allocator: 'all' },
  streaming: { scorer: 'streaming', allocator: 'uniform' },
  h2o: { scorer: 'h2o', allocator: 'uniform' },
  snapkv: { scorer: 'snapkv', allocator: 'uniform' },
  pyramidkv: { scorer: 'snapkv', allocator: 'pyramid' },
  // AdaKV's reference (AdaptiveSnapKVCluster, gqa_support) averages the GQA group before pooling.
  adakv: { scorer: 'snapkv', allocator: 'adakv', scorerDefaults: { gqa_order: 'group-then-pool' } },
  criticalkv: { scorer: 'criticalkv', allocator: 'uniform' },
  'ada-criticalkv': { scorer: 'criticalkv', allocator: 'adakv' },
  defensivekv: { scorer: 'defensivekv', allocator: 'adakv', allocatorDefaults: { alpha: 0 } },
  'layer-defensivekv': { scorer: 'defensivekv', allocator: 'layer-global' },
  profile: { scorer: 'snapkv', allocator: 'profile' },
  kivi: { scorer: 'full', allocator: 'all', quantizer: {} },
  kivi2: { scorer: 'full', allocator: 'all', quantizer: { bits: '2' } },
  kivi4: { scorer: 'full', allocator: 'all', quantizer: { bits: '4' } },
  kivi8: { scorer: 'full', allocator: 'all', quantizer: { bits: '8' } },
  kivi16: { scorer: 'full', allocator: 'all', quantizer: { bits: '16' } },
};

export type MethodInput = string | Record<string, Opts | null | undefined>;

const validNames = () => Object.keys(METHODS).join(', ');

/** Splits a CLI method list on commas outside parentheses: 'snapkv(window=16,kernel=5),adakv' → 2 items. */
export function splitMethodList(list: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of list) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** 'name(k=v,k2=v2)' → { name, options } (values stay strings; the schema converts them). */
function parsePart(part: string, whole: string): { name: string; options: Opts } {
  const m = /^\s*([A-Za-z0-9_-]+)\s*(?:\((.*)\))?\s*$/.exec(part);
  if (!m) throw new KvoptError(`method '${whole}': cannot parse '${part}' (expected name or name(key=value,...))`);
  const options: Opts = {};
  if (m[2] !== undefined && m[2].trim() !== '') {
    for (const kv of m[2].split(',')) {
      const eq = kv.indexOf('=');
      if (eq < 0) throw new KvoptError(`method '${whole}': option '${kv.trim()}' must be key=value`);
      options[kv.slice(0, eq).trim()] = kv.slice(eq + 1).trim();
    }
  }
  return { name: m[1].toLowerCase(), options };
}

function canonical(name: string, options: Opts): string {
  const keys = Object.keys(options).sort();
  return keys.length ? `${name}(${keys.map((k) => `${k}=${String(options[k])}`).join(',')})` : name;
}

/** A method already resolved (a MethodSpec, e.g. from the config loader) as it is; any other form parsed. */
export function resolveMethod(method: MethodSpec | MethodInput): MethodSpec {
  const resolved = typeof method === 'object' && method !== null && 'scorer' in method && 'allocator' in method && 'label' in method;
  return resolved ? (method as MethodSpec) : parseMethod(method as MethodInput);
}

/**
 * The method `name` with `options` and PyramidKV's layer schedule in place of its own allocator: the search's
 * `pyramid:<scorer>` comparison, and the report's line that redraws it.
 */
export function withPyramidSchedule(name: string, options: Record<string, unknown>): MethodSpec {
  return parseMethod({ [name]: { ...options, allocator: 'pyramid' } });
}

/** Parses a method name / name with options / object form into a MethodSpec with every option resolved. */
export function parseMethod(input: MethodInput): MethodSpec {
  let parts: { name: string; options: Opts }[];
  let shared: Opts = {};
  let whole: string;
  if (typeof input === 'string') {
    whole = input;
    parts = input.split('+').map((p) => parsePart(p, input));
  } else if (typeof input === 'object' && input !== null && !Array.isArray(input) && Object.keys(input).length === 1) {
    const [key, value] = Object.entries(input)[0];
    whole = key;
    if (value !== null && value !== undefined && (typeof value !== 'object' || Array.isArray(value))) {
      throw new KvoptError(`method ${key}: options must be a mapping of option names to values`);
    }
    parts = key.split('+').map((p) => parsePart(p, key));
    shared = { ...(value ?? {}) };
  } else {
    throw new KvoptError(`method ${JSON.stringify(input)}: expected a name or { name: { options } } (methods: ${validNames()})`);
  }
  if (parts.length > 2) throw new KvoptError(`method '${whole}': at most one eviction method and one quantiser ('snapkv+kivi4')`);
  for (const p of parts) {
    if (!METHODS[p.name]) throw new KvoptError(`unknown method '${p.name}' in '${whole}' (valid methods: ${validNames()})`);
  }
  const isQuant = (n: string) => METHODS[n].quantizer !== undefined;
  let evict = parts[0];
  let quant: { name: string; options: Opts } | undefined;
  if (parts.length === 2) {
    quant = parts[1];
    if (isQuant(evict.name) || !isQuant(quant.name)) {
      throw new KvoptError(`method '${whole}': compose as <eviction>+<quantiser>, e.g. snapkv+kivi4`);
    }
  } else if (isQuant(evict.name)) {
    quant = evict;
    evict = { name: 'full', options: {} };
  }
  const preset = METHODS[evict.name];
  const evictGiven: Opts = { ...evict.options };
  const quantGiven: Opts = { ...(quant?.options ?? {}) };

  // Object-form options: route each to the stage whose schema declares it.
  let scorerName = preset.scorer;
  let allocName = preset.allocator;
  const pick = (o: Opts, k: string) => {
    const v = o[k];
    delete o[k];
    return v;
  };
  const swappable = evict.name !== 'full';
  for (const src of [evictGiven, shared]) {
    if (swappable && src.scorer !== undefined) scorerName = String(pick(src, 'scorer'));
    if (swappable && src.allocator !== undefined) allocName = String(pick(src, 'allocator'));
  }
  if (!SCORERS[scorerName]) throw new KvoptError(`method ${evict.name}: unknown scorer '${scorerName}' (valid: ${Object.keys(SCORERS).join(', ')})`);
  if (!ALLOCATORS[allocName]) throw new KvoptError(`method ${evict.name}: unknown allocator '${allocName}' (valid: ${Object.keys(ALLOCATORS).join(', ')})`);
  const sSchema = SCORERS[scorerName].schema;
  const aSchema = ALLOCATORS[allocName].schema;
  const qSchema = quant ? QUANTIZERS.kivi!.schema : {};
  const sGiven: Opts = {};
  const aGiven: Opts = {};
  const route = (o: Opts, allowQuant: boolean, owner: string) => {
    for (const [k, v] of Object.entries(o)) {
      if (k in sSchema) sGiven[k] = v;
      else if (k in aSchema) aGiven[k] = v;
      else if (allowQuant && k in qSchema) quantGiven[k] = v;
      else {
        const valid = [
          ...Object.keys(sSchema),
          ...Object.keys(aSchema),
          ...(allowQuant ? Object.keys(qSchema) : []),
          ...(swappable ? ['scorer', 'allocator'] : []),
        ];
        throw new KvoptError(`method ${owner}: unknown option '${k}' (valid options: ${valid.length ? valid.join(', ') : 'none'})`);
      }
    }
  };
  route(evictGiven, false, evict.name);
  route(shared, true, whole);
  const sDefaults = scorerName === preset.scorer ? Object.fromEntries(Object.entries(preset.scorerDefaults ?? {}).filter(([k]) => k in sSchema)) : {};
  const sOpts = resolveOptions(`${evict.name} (scorer ${scorerName})`, sSchema, { ...sDefaults, ...sGiven });
  const aOpts = resolveOptions(`${evict.name} (allocator ${allocName})`, aSchema, { ...(preset.allocatorDefaults ?? {}), ...aGiven });
  const qOpts = quant ? resolveOptions(quant.name, qSchema, { ...METHODS[quant.name].quantizer, ...quantGiven }) : null;

  const evictLabelOpts: Opts = { ...evict.options, ...Object.fromEntries(Object.entries(shared).filter(([k]) => !(k in qSchema))) };
  if (scorerName !== preset.scorer) evictLabelOpts.scorer = scorerName;
  if (allocName !== preset.allocator) evictLabelOpts.allocator = allocName;
  const qLabelOpts: Opts = {
    ...(quant?.options ?? {}),
    ...Object.fromEntries(Object.entries(shared).filter(([k]) => k in qSchema && !(k in sSchema) && !(k in aSchema))),
  };
  const evictLabel = canonical(evict.name, evictLabelOpts);
  const label = quant
    ? evict.name === 'full' && Object.keys(evictLabelOpts).length === 0
      ? canonical(quant.name, qLabelOpts)
      : `${evictLabel}+${canonical(quant.name, qLabelOpts)}`
    : evictLabel;
  const spec: MethodSpec = {
    label,
    scorer: { name: scorerName, options: sOpts },
    allocator: { name: allocName, options: aOpts },
    quantizer: qOpts ? { name: 'kivi', options: qOpts } : null,
  };
  buildMethod(spec); // cross-option checks (odd kernel, residual vs group size, profile file) fail here, early
  return spec;
}

/**
 * The observation window (rows of windowAttention) a method reads: the prefill must record at least this many
 * (the engine takes the max over its methods). 0 for methods that read no window rows.
 */
export function methodWindow(m: MethodSpec): number {
  return SCORERS[m.scorer.name]?.observationWindow?.(m.scorer.options) ?? 0;
}

/** Whether a method's allocator gives the KV heads of a layer different budgets (declared in ALLOCATORS). */
export function isHeadWise(m: MethodSpec): boolean {
  return ALLOCATORS[m.allocator.name]?.headWise === true;
}

/** True when the method's scorer reads the value-output norms (PrefillRecord.valueNorms, filled by the runtime). */
export function methodNeedsValueNorms(m: MethodSpec): boolean {
  return m.scorer.name === 'criticalkv' || m.scorer.name === 'defensivekv';
}

/** The three stage instances of a MethodSpec (reads the profile file for the profile allocator). */
export function buildMethod(m: MethodSpec): { scorer: Scorer; allocator: Allocator; quantizer: Quantizer | null } {
  const s = SCORERS[m.scorer.name];
  const a = ALLOCATORS[m.allocator.name];
  if (!s) throw new KvoptError(`unknown scorer '${m.scorer.name}' (valid: ${Object.keys(SCORERS).join(', ')})`);
  if (!a) throw new KvoptError(`unknown allocator '${m.allocator.name}' (valid: ${Object.keys(ALLOCATORS).join(', ')})`);
  const q = m.quantizer ? QUANTIZERS[m.quantizer.name] : null;
  if (m.quantizer && !q) throw new KvoptError(`unknown quantiser '${m.quantizer.name}' (valid: ${Object.keys(QUANTIZERS).join(', ')})`);
  return {
    scorer: s.create(m.scorer.options),
    allocator: a.create(m.allocator.options),
    quantizer: q ? q.create(m.quantizer!.options) : null,
  };
}
