/**
 * Prefill records on disk, so that "prefill once" survives a killed run: a resumed eval or search
 * loads the record instead of prefilling the sample again.
 *
 * File layout (little-endian): magic "KVPF", u32 header length, JSON header, then the float32 arrays
 * back to back in header order, each starting at a 4-byte-aligned offset.
 * On disk the record is sealed (record-seal.ts: length + sha256 trailer) and checked on read: a record
 * that fails the check is treated as absent and recomputed. Written fully (short writes continued),
 * fsynced, then renamed into place, so a kill or a full disk never leaves a partial record under its name;
 * a full disk is reported as such (ENOSPC), never renamed into place.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { PrefillRecord } from '../runtime/types.ts';
import { diskFullError, isDiskFull } from '../util/disk-full.ts';
import { seal, unseal } from './record-seal.ts';

const MAGIC = 0x4650564b; // "KVPF"
const VERSION = 1;

interface Header {
  version: number;
  tokens: number[];
  nextPosition: number;
  window: number;
  ms: number;
  layers: { length: number; keys: number; values: number; bias: number }[]; // element counts
  windowAttention: number[];
  attentionColumnSums: number[];
  lastLogits: number;
}

/** Cache key of a prefill: model weights, exact prompt tokens and window size. */
export function prefillKey(modelHash: string, tokens: readonly number[], window: number): string {
  const h = createHash('sha256');
  h.update(`${modelHash}\n${window}\n`);
  h.update(Buffer.from(Int32Array.from(tokens).buffer));
  return h.digest('hex').slice(0, 32);
}

export function serializePrefill(r: PrefillRecord): Buffer {
  const arrays: Float32Array[] = [];
  /** Queues an array for the payload; its length goes into the header. */
  const stored = (a: Float32Array) => {
    arrays.push(a);
    return a.length;
  };
  const header: Header = {
    version: VERSION,
    tokens: r.tokens,
    nextPosition: r.cache.nextPosition,
    window: r.window,
    ms: r.ms,
    layers: r.cache.layers.map((l) => {
      arrays.push(l.keys, l.values, l.bias);
      return { length: l.length, keys: l.keys.length, values: l.values.length, bias: l.bias.length };
    }),
    windowAttention: r.windowAttention.map(stored),
    attentionColumnSums: r.attentionColumnSums.map(stored),
    lastLogits: stored(r.lastLogits),
  };
  let json = Buffer.from(JSON.stringify(header));
  const pad = (4 - ((8 + json.length) % 4)) % 4;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const total = 8 + json.length + arrays.reduce((n, a) => n + a.byteLength, 0);
  const out = Buffer.alloc(total);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(json.length, 4);
  json.copy(out, 8);
  let off = 8 + json.length;
  for (const a of arrays) {
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).copy(out, off);
    off += a.byteLength;
  }
  return out;
}

export function deserializePrefill(buf: Buffer, source = 'prefill record'): PrefillRecord {
  if (buf.length < 8 || buf.readUInt32LE(0) !== MAGIC) throw new Error(`${source}: not a kvopt prefill record`);
  const hlen = buf.readUInt32LE(4);
  const header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8')) as Header;
  if (header.version !== VERSION) throw new Error(`${source}: prefill record version ${header.version}, expected ${VERSION}`);
  // One aligned copy of the payload, then views into it.
  const payload = new Float32Array(new Uint8Array(buf.subarray(8 + hlen)).buffer);
  let off = 0;
  const take = (n: number) => {
    off += n;
    return payload.subarray(off - n, off);
  };
  const layers = header.layers.map((l) => ({ keys: take(l.keys), values: take(l.values), bias: take(l.bias), length: l.length }));
  return {
    tokens: header.tokens,
    cache: { layers, nextPosition: header.nextPosition },
    window: header.window,
    ms: header.ms,
    windowAttention: header.windowAttention.map(take),
    attentionColumnSums: header.attentionColumnSums.map(take),
    lastLogits: take(header.lastLogits),
  };
}

/** What a write did to the disk budget. */
export interface PrefillCacheUsage {
  /** Bytes of records in the folder after the write (and any eviction). */
  bytes: number;
  /** Records deleted to stay within the limit. */
  evicted: number;
  /** False when the record alone is larger than the limit (kept in memory only). */
  written: boolean;
}

/**
 * A folder of prefill records keyed by `prefillKey`. With a byte limit it is an LRU: a read marks a record as
 * used (its mtime), and a write deletes the least recently used records until the folder fits.
 */
export class PrefillDiskCache {
  constructor(
    readonly dir: string,
    /** Disk budget in bytes (null: unlimited). */
    readonly limitBytes: number | null = null,
  ) {}

  path(key: string): string {
    return join(this.dir, key.slice(0, 2), `${key}.kvpf`);
  }

  /** Paths of records that failed their check and were recomputed (for one note per run). */
  static rejected: string[] = [];

  get(key: string): PrefillRecord | null {
    const p = this.path(key);
    if (!existsSync(p)) return null;
    try {
      const opened = unseal(readFileSync(p));
      if ('error' in opened) throw new Error(opened.error);
      const record = deserializePrefill(opened.body, p);
      if (this.limitBytes !== null) touch(p);
      return record;
    } catch (e) {
      // Corrupt, cut short, or written by another version: treat as absent; it is recomputed and replaced.
      PrefillDiskCache.rejected.push(`${p} (${e instanceof Error ? e.message : String(e)})`);
      return null;
    }
  }

  put(key: string, record: PrefillRecord): PrefillCacheUsage {
    const p = this.path(key);
    const bytes = seal(serializePrefill(record));
    if (this.limitBytes !== null && bytes.length > this.limitBytes) return { ...this.evict(this.limitBytes, null), written: false };
    const tmp = `${p}.${process.pid}.${Date.now()}.tmp`;
    try {
      mkdirSync(dirname(p), { recursive: true });
      writeFileFully(tmp, bytes);
      renameSync(tmp, p);
    } catch (e) {
      rmSync(tmp, { force: true });
      if (isDiskFull(e)) throw diskFullError(p);
      throw e;
    }
    return { ...this.evict(this.limitBytes, p), written: true };
  }

  /** Deletes the least recently used records (never `keep`) until the folder holds at most `limit` bytes. */
  private evict(limit: number | null, keep: string | null): { bytes: number; evicted: number } {
    const files = recordFiles(this.dir);
    let bytes = files.reduce((n, f) => n + f.size, 0);
    let evicted = 0;
    if (limit === null) return { bytes, evicted };
    files.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const f of files) {
      if (bytes <= limit) break;
      if (f.path === keep) continue;
      try {
        unlinkSync(f.path);
        bytes -= f.size;
        evicted++;
      } catch {
        // another worker deleted it first
      }
    }
    return { bytes, evicted };
  }
}

/** Writes every byte (writeSync may write fewer than asked), fsyncs, closes. */
export function writeFileFully(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, 'w');
  try {
    for (let off = 0; off < bytes.byteLength; ) {
      const n = writeSync(fd, bytes, off, bytes.byteLength - off);
      if (n <= 0) throw Object.assign(new Error(`${path}: write made no progress`), { code: 'ENOSPC' });
      off += n;
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function touch(path: string): void {
  try {
    const t = new Date();
    utimesSync(path, t, t);
  } catch {
    // evicted meanwhile: nothing to mark
  }
}

/** Every record of the folder (two levels: <key[0..2]>/<key>.kvpf) with its size and mtime. */
function recordFiles(dir: string): { path: string; size: number; mtimeMs: number }[] {
  const out: { path: string; size: number; mtimeMs: number }[] = [];
  if (!existsSync(dir)) return out;
  for (const sub of readdirSync(dir)) {
    const subdir = join(dir, sub);
    let names: string[];
    try {
      names = readdirSync(subdir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.endsWith('.kvpf')) continue;
      try {
        const st = statSync(join(subdir, name));
        out.push({ path: join(subdir, name), size: st.size, mtimeMs: st.mtimeMs });
      } catch {
        // deleted meanwhile
      }
    }
  }
  return out;
}
