/**
 * Method options: each scorer / allocator / quantiser file declares a schema (name → kind, default, doc);
 * resolveOptions fills defaults, converts strings from the `name(key=value)` form and rejects unknown names.
 */
import { KvoptError } from '../util/errors.ts';

export type OptionKind =
  | { type: 'int'; min?: number; max?: number }
  | { type: 'number'; min?: number; max?: number }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'string' };

export type OptionSpec = OptionKind & { default: unknown; doc: string };
export type OptionSchema = Record<string, OptionSpec>;

/** The value type an option resolves to: numbers for int/number, the literal values of an enum, else string. */
type OptionValue<S extends OptionSpec> = S extends { type: 'int' | 'number' } ? number : S extends { type: 'enum'; values: readonly (infer V)[] } ? V : string;

/**
 * A method's options, typed from its schema (declared `as const satisfies OptionSchema` beside the method):
 * what resolveOptions returns for that schema, every key present (defaults filled, values converted).
 */
export type OptionsOf<S extends OptionSchema> = { readonly [K in keyof S]: OptionValue<S[K]> };

function convert(owner: string, key: string, spec: OptionSpec, raw: unknown): unknown {
  const where = `method ${owner}: option ${key}`;
  switch (spec.type) {
    case 'int':
    case 'number': {
      const v = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
      if (typeof v !== 'number' || !Number.isFinite(v) || (spec.type === 'int' && !Number.isInteger(v))) {
        throw new KvoptError(`${where} = ${JSON.stringify(raw)}: expected ${spec.type === 'int' ? 'an integer' : 'a number'}`);
      }
      if ((spec.min !== undefined && v < spec.min) || (spec.max !== undefined && v > spec.max)) {
        throw new KvoptError(`${where} = ${v}: expected a value in [${spec.min ?? '-inf'}, ${spec.max ?? 'inf'}]`);
      }
      return v;
    }
    case 'enum': {
      const v = typeof raw === 'number' ? String(raw) : raw;
      if (typeof v !== 'string' || !spec.values.includes(v)) {
        throw new KvoptError(`${where} = ${JSON.stringify(raw)}: expected one of ${spec.values.join(', ')}`);
      }
      return v;
    }
    case 'string': {
      const v = typeof raw === 'number' ? String(raw) : raw;
      if (typeof v !== 'string' || v === '') throw new KvoptError(`${where}: expected a non-empty string`);
      return v;
    }
  }
}

/** Defaults overlaid with `given`; every key of `given` must be in `schema`. */
export function resolveOptions(owner: string, schema: OptionSchema, given: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(schema)) out[k] = s.default;
  for (const [k, raw] of Object.entries(given)) {
    const spec = schema[k];
    if (!spec) {
      const valid = Object.keys(schema);
      throw new KvoptError(`method ${owner}: unknown option '${k}' (valid options: ${valid.length ? valid.join(', ') : 'none'})`);
    }
    out[k] = convert(owner, k, spec, raw);
  }
  for (const [k, s] of Object.entries(schema)) {
    if (out[k] === undefined && s.type === 'string') throw new KvoptError(`method ${owner}: option ${k} is required (${s.doc})`);
  }
  return out;
}
