/**
 * safetensors reader (single file or sharded through model.safetensors.index.json) and a small writer.
 *
 * Layout: u64 LE header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__},
 * then the data; a tensor's bytes lie at 8 + N + begin. Reads go through readSync at offsets so files may exceed 2 GB.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { KvoptError } from '../util/errors.ts';
import { decodeBf16, decodeF16, f32ToBf16, f32ToF16 } from './half.ts';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';

const DTYPE_BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  U16: 2,
  U32: 4,
  U64: 8,
  F8_E4M3: 1,
  F8_E5M2: 1,
};
const READABLE = new Set<string>(['F32', 'F16', 'BF16']);

/** Whether `read` can convert this safetensors dtype to float32. */
export function isReadableDtype(dtype: string): dtype is SafetensorsDtype {
  return READABLE.has(dtype);
}

export interface SafetensorsTensorInfo {
  name: string;
  dtype: string; // as stored; only F32/F16/BF16 can be read
  shape: number[];
  file: string;
  /** Absolute byte offset of the data in `file`. */
  start: number;
  byteLength: number;
}

/** One safetensors file: its header parsed and validated against the file size. */
export class SafetensorsFile {
  readonly tensors = new Map<string, SafetensorsTensorInfo>();
  readonly metadata: Record<string, string>;
  private fd: number;

  constructor(readonly path: string) {
    if (!existsSync(path)) throw new KvoptError(`${path}: file not found`);
    this.fd = openSync(path, 'r');
    try {
      const size = fstatSync(this.fd).size;
      if (size < 8) throw new KvoptError(`${path}: not a safetensors file (${size} bytes, shorter than the 8-byte header length)`);
      const lenBuf = Buffer.alloc(8);
      readSync(this.fd, lenBuf, 0, 8, 0);
      const headerLen = Number(lenBuf.readBigUInt64LE(0));
      if (headerLen <= 0 || 8 + headerLen > size || headerLen > 100_000_000) {
        throw new KvoptError(`${path}: safetensors header length ${headerLen} does not fit the file size ${size} (truncated or not safetensors)`);
      }
      const headerBuf = Buffer.alloc(headerLen);
      readSync(this.fd, headerBuf, 0, headerLen, 8);
      let header: Record<string, unknown>;
      try {
        header = JSON.parse(headerBuf.toString('utf8'));
      } catch (e) {
        throw new KvoptError(`${path}: safetensors header is not valid JSON (${(e as Error).message})`);
      }
      if (typeof header !== 'object' || header === null || Array.isArray(header)) {
        throw new KvoptError(`${path}: safetensors header is not a JSON object`);
      }
      this.metadata = (header.__metadata__ as Record<string, string>) ?? {};
      const dataStart = 8 + headerLen;
      for (const [name, raw] of Object.entries(header)) {
        if (name === '__metadata__') continue;
        const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
        if (typeof e?.dtype !== 'string' || !Array.isArray(e.shape) || !Array.isArray(e.data_offsets) || e.data_offsets.length !== 2) {
          throw new KvoptError(`${path}: tensor '${name}' has a malformed header entry (expected dtype, shape, data_offsets)`);
        }
        const [b, en] = e.data_offsets as number[];
        const shape = e.shape as number[];
        if (!Number.isInteger(b) || !Number.isInteger(en) || b < 0 || en < b) {
          throw new KvoptError(`${path}: tensor '${name}' has invalid data_offsets [${b}, ${en}]`);
        }
        if (dataStart + en > size) {
          throw new KvoptError(`${path}: truncated: tensor '${name}' ends at byte ${dataStart + en} but the file has ${size} bytes`);
        }
        const elemBytes = DTYPE_BYTES[e.dtype];
        const count = shape.reduce((a, d) => a * d, 1);
        if (elemBytes !== undefined && count * elemBytes !== en - b) {
          throw new KvoptError(`${path}: tensor '${name}' has ${en - b} bytes but shape [${shape}] of ${e.dtype} needs ${count * elemBytes}`);
        }
        this.tensors.set(name, { name, dtype: e.dtype, shape, file: path, start: dataStart + b, byteLength: en - b });
      }
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
  }

  /** The tensor as float32 (F32/F16/BF16 converted); unknown name or dtype → KvoptError. */
  read(name: string): Float32Array {
    const info = this.tensors.get(name);
    if (!info) throw new KvoptError(`${this.path}: no tensor '${name}'`);
    return readTensor(this.fd, info);
  }

  close(): void {
    closeSync(this.fd);
  }
}

function readTensor(fd: number, info: SafetensorsTensorInfo): Float32Array {
  if (!READABLE.has(info.dtype)) {
    throw new KvoptError(`${info.file}: tensor '${info.name}' has unsupported dtype ${info.dtype} (supported: F32, F16, BF16)`);
  }
  const bytes = new Uint8Array(info.byteLength);
  const CHUNK = 1 << 28; // readSync's length is limited to 2 GiB
  for (let done = 0; done < info.byteLength; ) {
    const n = readSync(fd, bytes, done, Math.min(CHUNK, info.byteLength - done), info.start + done);
    if (n <= 0) throw new KvoptError(`${info.file}: truncated while reading tensor '${info.name}'`);
    done += n;
  }
  const count = info.shape.reduce((a, d) => a * d, 1);
  if (info.dtype === 'F32') return new Float32Array(bytes.buffer, 0, count); // fresh buffer: aligned
  if (info.dtype === 'F16') return decodeF16(bytes, count);
  return decodeBf16(bytes, count);
}

/**
 * All tensors of a Hugging Face folder: model.safetensors.index.json (sharded) if present, else model.safetensors.
 */
export class SafetensorsCollection {
  private files = new Map<string, SafetensorsFile>();
  readonly tensors = new Map<string, SafetensorsTensorInfo>();

  constructor(readonly paths: string[]) {
    try {
      for (const p of paths) {
        const f = new SafetensorsFile(p);
        this.files.set(p, f);
        for (const [n, info] of f.tensors) this.tensors.set(n, info);
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** Opens the safetensors of a Hugging Face model folder. */
  static openFolder(dir: string): SafetensorsCollection {
    const index = join(dir, 'model.safetensors.index.json');
    if (existsSync(index)) {
      let weightMap: Record<string, string>;
      try {
        weightMap = JSON.parse(readFileSync(index, 'utf8')).weight_map;
      } catch (e) {
        throw new KvoptError(`${index}: not valid JSON (${(e as Error).message})`);
      }
      if (!weightMap || typeof weightMap !== 'object') throw new KvoptError(`${index}: missing 'weight_map'`);
      const shards = [...new Set(Object.values(weightMap))].sort().map((s) => join(dirname(index), s));
      const c = new SafetensorsCollection(shards);
      for (const [name, shard] of Object.entries(weightMap)) {
        if (!c.tensors.has(name)) throw new KvoptError(`${index}: tensor '${name}' is listed in ${shard} but not found there`);
      }
      return c;
    }
    const single = join(dir, 'model.safetensors');
    if (!existsSync(single)) {
      throw new KvoptError(`${dir}: no model.safetensors or model.safetensors.index.json in the model folder`);
    }
    return new SafetensorsCollection([single]);
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  read(name: string): Float32Array {
    const info = this.tensors.get(name);
    if (!info) throw new KvoptError(`${this.paths.join(', ')}: no tensor '${name}'`);
    return this.files.get(info.file)!.read(name);
  }

  close(): void {
    for (const f of this.files.values()) f.close();
    this.files.clear();
  }
}

export interface SafetensorsWriteTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array;
}

/** Writes `tensors` (in key order) to a safetensors file, converting float32 data to each tensor's dtype. */
export function writeSafetensors(path: string, tensors: Record<string, SafetensorsWriteTensor>, metadata?: Record<string, string>): void {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    const count = t.shape.reduce((a, d) => a * d, 1);
    if (count !== t.data.length) throw new Error(`writeSafetensors: '${name}' shape [${t.shape}] has ${count} values, data ${t.data.length}`);
    const bytes = count * (t.dtype === 'F32' ? 4 : 2);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // keep data 8-byte aligned
  const headerBuf = Buffer.from(json, 'utf8');
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(headerBuf.length));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, lenBuf);
    writeSync(fd, headerBuf);
    for (const [, t] of entries) writeSync(fd, encodeFloats(t.data, t.dtype));
  } finally {
    closeSync(fd);
  }
}

function encodeFloats(data: Float32Array, dtype: SafetensorsDtype): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const u = new Uint16Array(data.length);
  const conv = dtype === 'F16' ? f32ToF16 : f32ToBf16;
  for (let i = 0; i < data.length; i++) u[i] = conv(data[i]);
  return new Uint8Array(u.buffer);
}
