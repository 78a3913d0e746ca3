/**
 * Prefill records on disk, so that "prefill once" survives a killed run: a resumed eval or search
 * loads the record instead of prefilling the sample again.
 *
 * File layout (little-endian): magic "KVPF", u32 header length, JSON header (padded so the payload is 4-byte
 * aligned), then the float32 statistics and logits, then K/V in the graph's element type, in header order.
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
import { f32ArrayToF16 } from '../graph/half-weights.ts';
import { decodeF16 } from '../model/half.ts';
import type { PrefillRecord } from '../runtime/types.ts';
import { diskFullError, isDiskFull } from '../util/disk-full.ts';
import { seal, unseal } from './record-seal.ts';

const MAGIC = 0x4650564b; // "KVPF"
const VERSION = 2;

/** Element type of the stored K/V: the graph's own (an fp16 graph's K/V are float16 values, stored losslessly). */
export type StoredKvType = 'float32' | 'float16';

interface Header {
  version: number;
  tokens: number[];
  nextPosition: number;
  window: number;
  ms: number;
  kv: StoredKvType;
  /** Element counts; a record's attention bias is all zeros (nothing masked), so only its length is stored. */
  layers: { length: number; keys: number; values: number; bias: number }[];
  windowAttention: number[];
  attentionColumnSums: number[];
  lastLogits: number;
}

/**
 * What makes two prefills of the same prompt equal: the graph that ran them (its key covers the weights, the
 * graph options such as the precision, and the builder version), the device and the chunk size (later chunks
 * attend to the earlier ones through the cache). Each changes the float rounding: a record of an fp32 CPU run,
 * or of an older graph, must never stand in for another.
 */
export interface PrefillIdentity {
  graphKey: string;
  device: string;
  chunkSize: number;
}

/** Cache key of a prefill: its identity, the exact prompt tokens and the window size. */
export function prefillKey(id: PrefillIdentity, tokens: readonly number[], window: number): string {
  const h = createHash('sha256');
  h.update(`${id.graphKey}\n${id.device}\n${id.chunkSize}\n${window}\n`);
  h.update(Buffer.from(Int32Array.from(tokens).buffer));
  return h.digest('hex').slice(0, 32);
}

/** Bytes of `a` as little-endian data (typed arrays are in the platform's order; every target is little-endian). */
const bytesOf = (a: Float32Array | Uint16Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Float32 statistics and logits first, then K/V in `kv` (float16 K/V are the same values an fp16 graph made). */
export function serializePrefill(r: PrefillRecord, kv: StoredKvType = 'float32'): Buffer {
  const f32: Float32Array[] = [];
  const stored = (a: Float32Array) => {
    f32.push(a);
    return a.length;
  };
  const header: Header = {
    version: VERSION,
    tokens: r.tokens,
    nextPosition: r.cache.nextPosition,
    window: r.window,
    ms: r.ms,
    kv,
    layers: r.cache.layers.map((l) => ({ length: l.length, keys: l.keys.length, values: l.values.length, bias: l.bias.length })),
    windowAttention: r.windowAttention.map(stored),
    attentionColumnSums: r.attentionColumnSums.map(stored),
    lastLogits: stored(r.lastLogits),
  };
  if (r.cache.layers.some((l) => l.bias.some((b) => b !== 0))) throw new Error('internal: a prefill record with a masked entry cannot be stored');
  const kvArrays = r.cache.layers.flatMap((l) => [l.keys, l.values]);
  const kvBytes = kvArrays.map((a) => bytesOf(kv === 'float16' ? f32ArrayToF16(a) : a));
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((4 - ((8 + json.length) % 4)) % 4, 0x20)]); // payload 4-byte aligned
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32LE(MAGIC, 0);
  prefix.writeUInt32LE(json.length, 4);
  return Buffer.concat([prefix, json, ...f32.map(bytesOf), ...kvBytes]);
}

export function deserializePrefill(buf: Buffer, source = 'prefill record'): PrefillRecord {
  if (buf.length < 8 || buf.readUInt32LE(0) !== MAGIC) throw new Error(`${source}: not a kvopt prefill record`);
  const hlen = buf.readUInt32LE(4);
  const header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8')) as Header;
  if (header.version !== VERSION) throw new Error(`${source}: prefill record version ${header.version}, expected ${VERSION}`);
  // One aligned copy of the payload, then views into it (float16 K/V decoded into arrays of their own).
  const payload = new Uint8Array(buf.subarray(8 + hlen)).buffer;
  let off = 0;
  const take = (n: number) => {
    const a = new Float32Array(payload, off, n);
    off += 4 * n;
    return a;
  };
  const windowAttention = header.windowAttention.map(take);
  const attentionColumnSums = header.attentionColumnSums.map(take);
  const lastLogits = take(header.lastLogits);
  const takeKv = (n: number) => {
    if (header.kv === 'float32') return take(n);
    const a = decodeF16(new Uint8Array(payload, off, 2 * n), n);
    off += 2 * n;
    return a;
  };
  const layers = header.layers.map((l) => ({ keys: takeKv(l.keys), values: takeKv(l.values), bias: new Float32Array(l.bias), length: l.length }));
  if (off !== payload.byteLength) throw new Error(`${source}: payload of ${payload.byteLength} bytes, the header describes ${off}`);
  return {
    tokens: header.tokens,
    cache: { layers, nextPosition: header.nextPosition },
    window: header.window,
    ms: header.ms,
    windowAttention,
    attentionColumnSums,
    lastLogits,
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

  put(key: string, record: PrefillRecord, kv: StoredKvType = 'float32'): PrefillCacheUsage {
    const p = this.path(key);
    const bytes = seal(serializePrefill(record, kv));
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
