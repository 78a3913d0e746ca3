/**
 * Typed reading of a parsed YAML document with errors that name the file, the key path and what was
 * expected: `experiments/x.yaml: tasks[1].samples: expected a positive integer, got "ten" (line 14)`.
 */
import { isMap, isScalar, isSeq, type Document, type LineCounter } from 'yaml';
import { KvoptError } from '../util/errors.ts';
import { didYouMean } from '../util/suggest.ts';

export type KeyPath = (string | number)[];

/** `tasks[1].samples` */
export function formatPath(path: KeyPath): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${p}` : p;
  return s;
}

/** How a value reads in an error: strings quoted, lists and mappings named. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing (null)';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

export type Mapping = Record<string, unknown>;

export function isMapping(v: unknown): v is Mapping {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export class ConfigReader {
  /** `doc`/`lines` are optional: without them errors carry no line number (e.g. for checks after parsing). */
  constructor(
    readonly file: string,
    private readonly doc: Document | null = null,
    private readonly lines: LineCounter | null = null,
  ) {}

  /** Throws `file: path: message (line N)`. `atKey` points the line at the key itself (unknown keys). */
  fail(path: KeyPath, message: string, atKey = false): never {
    const line = this.lineOf(path, atKey);
    const where = path.length ? `${formatPath(path)}: ` : '';
    throw new KvoptError(`${this.file}: ${where}${message}${line !== null ? ` (line ${line})` : ''}`);
  }

  /** 1-based line of the node at `path`, or of its deepest existing ancestor. */
  private lineOf(path: KeyPath, atKey: boolean): number | null {
    if (!this.doc || !this.lines) return null;
    let node: unknown = this.doc.contents;
    let offset: number | null = rangeStart(node);
    for (let i = 0; i < path.length; i++) {
      const p = path[i];
      if (isMap(node)) {
        const pair = node.items.find((it) => (isScalar(it.key) ? String(it.key.value) : String(it.key)) === String(p));
        if (!pair) break;
        if (atKey && i === path.length - 1) {
          offset = rangeStart(pair.key) ?? offset;
          break;
        }
        node = pair.value;
      } else if (isSeq(node) && typeof p === 'number') {
        node = node.items[p];
      } else break;
      offset = rangeStart(node) ?? offset;
    }
    return offset === null ? null : this.lines.linePos(offset).line;
  }

  mapping(v: unknown, path: KeyPath, what = 'a mapping'): Mapping {
    if (!isMapping(v)) this.fail(path, `expected ${what}, got ${describeValue(v)}`);
    return v;
  }

  /** Unknown keys are errors, with a suggestion when one of `allowed` is close. */
  keys(obj: Mapping, path: KeyPath, allowed: readonly string[], hint = ''): void {
    for (const k of Object.keys(obj)) {
      if (allowed.includes(k)) continue;
      const dym = didYouMean(k, allowed);
      const rest = dym || ` (expected one of: ${allowed.join(', ')})`;
      this.fail([...path, k], `unknown key${rest}${hint}`, true);
    }
  }

  required(obj: Mapping, key: string, path: KeyPath, what: string): unknown {
    const v = obj[key];
    if (v === undefined || v === null) this.fail([...path, key], `required, expected ${what}`);
    return v;
  }

  string(v: unknown, path: KeyPath, what = 'a string'): string {
    if (typeof v !== 'string' || v.trim() === '') this.fail(path, `expected ${what}, got ${describeValue(v)}`);
    return v;
  }

  /** Integer in [min, max]; the message names the range the way a reader expects it. */
  integer(v: unknown, path: KeyPath, min = -Infinity, max = Infinity): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.fail(path, `expected ${integerWhat(min, max)}, got ${describeValue(v)}`);
    }
    return v;
  }

  /** Finite number in the interval; `openMin`/`openMax` exclude the end points. */
  number(v: unknown, path: KeyPath, min = -Infinity, max = Infinity, openMin = false, openMax = false): number {
    const ok = typeof v === 'number' && Number.isFinite(v) && (openMin ? v > min : v >= min) && (openMax ? v < max : v <= max);
    if (!ok) this.fail(path, `expected ${numberWhat(min, max, openMin, openMax)}, got ${describeValue(v)}`);
    return v as number;
  }

  oneOf<T extends string>(v: unknown, path: KeyPath, values: readonly T[]): T {
    if (typeof v !== 'string' || !values.includes(v as T)) {
      const dym = typeof v === 'string' ? didYouMean(v, values) : '';
      this.fail(path, `expected one of ${values.join(', ')}, got ${describeValue(v)}${dym}`);
    }
    return v as T;
  }

  list(v: unknown, path: KeyPath, what = 'a list'): unknown[] {
    if (!Array.isArray(v)) this.fail(path, `expected ${what}, got ${describeValue(v)}`);
    return v;
  }
}

function rangeStart(node: unknown): number | null {
  const r = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return r ? r[0] : null;
}

export function integerWhat(min: number, max: number): string {
  if (max === Infinity) {
    if (min === 1) return 'a positive integer';
    if (min === 0) return 'a non-negative integer';
    if (min === -Infinity) return 'an integer';
    return `an integer >= ${min}`;
  }
  return `an integer in [${min}, ${max}]`;
}

function numberWhat(min: number, max: number, openMin: boolean, openMax: boolean): string {
  if (max === Infinity && min === -Infinity) return 'a number';
  if (max === Infinity) return min === 0 && openMin ? 'a positive number' : `a number ${openMin ? '>' : '>='} ${min}`;
  return `a number in ${openMin ? '(' : '['}${min}, ${max}${openMax ? ')' : ']'}`;
}
