/** JSONL reading with errors that name the file, the line and the field. */
import { readFileSync } from 'node:fs';
import { KvoptError } from '../util/errors.ts';

/** Parsed objects of a JSONL file, each with its 1-based line number. Blank lines are skipped. */
export function readJsonl(path: string): { line: number; value: Record<string, unknown> }[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new KvoptError(`${path}: cannot read file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const out: { line: number; value: Record<string, unknown> }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (e) {
      throw new KvoptError(`${path}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      throw new KvoptError(`${path}:${i + 1}: expected a JSON object per line`);
    }
    out.push({ line: i + 1, value: v as Record<string, unknown> });
  }
  return out;
}

export function fieldString(path: string, line: number, obj: Record<string, unknown>, key: string): string {
  const v = obj[key];
  if (typeof v !== 'string') throw new KvoptError(`${path}:${line}: field "${key}" must be a string, got ${describe(v)}`);
  return v;
}

export function fieldStringArray(path: string, line: number, obj: Record<string, unknown>, key: string): string[] {
  const v = obj[key];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
    throw new KvoptError(`${path}:${line}: field "${key}" must be a list of strings, got ${describe(v)}`);
  }
  return v as string[];
}

/** A list of strings or null (LongBench all_classes); absent counts as null. */
export function fieldStringArrayOrNull(path: string, line: number, obj: Record<string, unknown>, key: string): string[] | null {
  const v = obj[key];
  if (v === null || v === undefined) return null;
  return fieldStringArray(path, line, obj, key);
}

export function fieldNumber(path: string, line: number, obj: Record<string, unknown>, key: string): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new KvoptError(`${path}:${line}: field "${key}" must be a number, got ${describe(v)}`);
  return v;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing (missing)';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'string' ? `a string` : `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;
}
