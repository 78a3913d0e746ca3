/**
 * Output paths given on the command line (--json, --csv, --out, --write-baseline) are checked before any
 * work starts, so a typo does not cost a finished run its output (and a stack trace after it).
 */
import { accessSync, constants, type Stats, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { KvoptError } from '../util/errors.ts';

/** Throws unless `path` can be written as a file: its folder exists and is writable, and it is not a folder. */
export function checkOutputFile(flag: string, path: string): void {
  if (path.trim() === '') throw new KvoptError(`${flag}: expected a file path, got ""`);
  const abs = resolve(path);
  let st: Stats | null;
  try {
    st = statSync(abs);
  } catch {
    st = null;
  }
  if (st?.isDirectory()) throw new KvoptError(`${flag}: ${path} is a folder, expected a file path`);
  const dir = dirname(abs);
  let dst: Stats;
  try {
    dst = statSync(dir);
  } catch {
    throw new KvoptError(`${flag}: cannot write ${path}: no such folder ${dir}`);
  }
  if (!dst.isDirectory()) throw new KvoptError(`${flag}: cannot write ${path}: ${dir} is not a folder`);
  try {
    accessSync(st ? abs : dir, constants.W_OK);
  } catch {
    throw new KvoptError(`${flag}: cannot write ${path}: permission denied`);
  }
}

/** Throws unless `path` is (or can be created as) a writable folder: its nearest existing ancestor is a writable folder. */
export function checkOutputFolder(flag: string, path: string): void {
  if (path.trim() === '') throw new KvoptError(`${flag}: expected a folder path, got ""`);
  let p = resolve(path);
  for (;;) {
    let st: Stats;
    try {
      st = statSync(p);
    } catch {
      const up = dirname(p);
      if (up === p) throw new KvoptError(`${flag}: cannot create ${path}`);
      p = up;
      continue;
    }
    if (!st.isDirectory()) throw new KvoptError(`${flag}: cannot create ${path}: ${p} is a file, not a folder`);
    try {
      accessSync(p, constants.W_OK);
    } catch {
      throw new KvoptError(`${flag}: cannot write into ${path}: permission denied on ${p}`);
    }
    return;
  }
}
