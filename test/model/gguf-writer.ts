/**
 * Test helper: writes GGUF v3 files (F32 / F16 / Q8_0 tensors, typed metadata) and llama-architecture GGUF
 * models from ModelWeights, converted the way llama.cpp's convert_hf_to_gguf.py does (Q/K rows permuted from
 * half-split to interleaved RoPE order for 'llama'; not for 'qwen2').
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { f32ToF16 } from '../../src/model/half.ts';
import { halfToInterleavedRows } from '../../src/model/rope-permute.ts';
import type { ModelSpec, ModelWeights } from '../../src/model/spec.ts';

export type GgufTensorType = 'F32' | 'F16' | 'Q8_0';
const TYPE_ID: Record<GgufTensorType, number> = { F32: 0, F16: 1, Q8_0: 8 };

/** A metadata value with its GGUF type. */
export type GgufValue =
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: string[] }
  | { type: 'f32[]'; value: number[] }
  | { type: 'i32[]'; value: number[] };

export interface GgufWriteTensor {
  name: string;
  shape: number[]; // ne0 first
  type: GgufTensorType;
  data: Float32Array;
}

class Bytes {
  private parts: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.parts.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    this.push(b);
  }
  i32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  f32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  concat(): Buffer {
    return Buffer.concat(this.parts);
  }
}

// GGUF value type ids
const T_U32 = 4,
  T_I32 = 5,
  T_F32 = 6,
  T_BOOL = 7,
  T_STRING = 8,
  T_ARRAY = 9;

function writeValue(out: Bytes, v: GgufValue): void {
  switch (v.type) {
    case 'u32':
      out.u32(T_U32);
      out.u32(v.value);
      break;
    case 'i32':
      out.u32(T_I32);
      out.i32(v.value);
      break;
    case 'f32':
      out.u32(T_F32);
      out.f32(v.value);
      break;
    case 'bool':
      out.u32(T_BOOL);
      out.push(Buffer.from([v.value ? 1 : 0]));
      break;
    case 'string':
      out.u32(T_STRING);
      out.str(v.value);
      break;
    case 'string[]':
      out.u32(T_ARRAY);
      out.u32(T_STRING);
      out.u64(v.value.length);
      v.value.forEach((s) => out.str(s));
      break;
    case 'f32[]':
      out.u32(T_ARRAY);
      out.u32(T_F32);
      out.u64(v.value.length);
      v.value.forEach((x) => out.f32(x));
      break;
    case 'i32[]':
      out.u32(T_ARRAY);
      out.u32(T_I32);
      out.u64(v.value.length);
      v.value.forEach((x) => out.i32(x));
      break;
  }
}

/** Q8_0 quantization: blocks of 32, d = max|x| / 127 stored as f16, q = round(x / d). */
export function quantizeQ8_0(x: Float32Array): Buffer {
  if (x.length % 32 !== 0) throw new Error('Q8_0 needs a multiple of 32 values');
  const out = Buffer.alloc((x.length / 32) * 34);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[b * 32 + i]));
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    out.writeUInt16LE(f32ToF16(d), b * 34);
    for (let i = 0; i < 32; i++) out.writeInt8(Math.round(x[b * 32 + i] * id), b * 34 + 2 + i);
  }
  return out;
}

function tensorBytes(t: GgufWriteTensor): Buffer {
  if (t.type === 'F32') return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  if (t.type === 'F16') {
    const b = Buffer.alloc(2 * t.data.length);
    for (let i = 0; i < t.data.length; i++) b.writeUInt16LE(f32ToF16(t.data[i]), 2 * i);
    return b;
  }
  return quantizeQ8_0(t.data);
}

/** Writes a GGUF v3 file (alignment 32). `magic` may be overridden to make a corrupt file. */
export function writeGguf(path: string, metadata: Record<string, GgufValue>, tensors: GgufWriteTensor[], magic = 'GGUF'): void {
  const ALIGN = 32;
  const head = new Bytes();
  head.push(Buffer.from(magic, 'latin1'));
  head.u32(3);
  head.u64(tensors.length);
  head.u64(Object.keys(metadata).length);
  for (const [k, v] of Object.entries(metadata)) {
    head.str(k);
    writeValue(head, v);
  }
  const datas = tensors.map(tensorBytes);
  let offset = 0;
  tensors.forEach((t, i) => {
    head.str(t.name);
    head.u32(t.shape.length);
    t.shape.forEach((d) => head.u64(d));
    head.u32(TYPE_ID[t.type]);
    head.u64(offset);
    offset += Math.ceil(datas[i].length / ALIGN) * ALIGN;
  });
  const fd = openSync(path, 'w');
  try {
    const h = head.concat();
    writeSync(fd, h);
    writeSync(fd, Buffer.alloc((ALIGN - (h.length % ALIGN)) % ALIGN));
    for (const d of datas) {
      writeSync(fd, d);
      writeSync(fd, Buffer.alloc((ALIGN - (d.length % ALIGN)) % ALIGN));
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `w` (a model with spec.rope 'half', as in a Hugging Face folder) as a llama.cpp-style GGUF:
 * arch 'llama' (Q/K rows permuted to interleaved order) or 'qwen2' (not permuted). Tensor types: `type` for
 * 2-D weights, F32 for norms and biases (as llama.cpp does).
 */
export function writeModelGguf(
  path: string,
  spec: ModelSpec,
  w: ModelWeights,
  opts: { type?: GgufTensorType; tokenizer?: Record<string, GgufValue> } = {},
): void {
  if (spec.rope !== 'half') throw new Error('writeModelGguf takes weights in half-split (HF) order');
  const arch = spec.architecture === 'qwen2' ? 'qwen2' : 'llama';
  const permute = arch === 'llama';
  const type = opts.type ?? 'F32';
  const D = spec.hiddenSize;
  const I = spec.intermediateSize;
  const hd = spec.headDim;
  const qDim = spec.numHeads * hd;
  const kvDim = spec.numKvHeads * hd;
  const qk = (m: Float32Array, heads: number, cols: number) => (permute ? halfToInterleavedRows(m, heads, hd, cols) : m);
  const t: GgufWriteTensor[] = [];
  const add = (name: string, shape: number[], data: Float32Array, tt: GgufTensorType = type) => t.push({ name, shape, data, type: tt });
  add('token_embd.weight', [D, spec.vocabSize], w.embed);
  w.layers.forEach((l, i) => {
    const p = `blk.${i}.`;
    add(`${p}attn_norm.weight`, [D], l.attnNorm, 'F32');
    add(`${p}attn_q.weight`, [D, qDim], qk(l.wq, spec.numHeads, D));
    add(`${p}attn_k.weight`, [D, kvDim], qk(l.wk, spec.numKvHeads, D));
    add(`${p}attn_v.weight`, [D, kvDim], l.wv);
    if (l.bq) add(`${p}attn_q.bias`, [qDim], qk(l.bq, spec.numHeads, 1), 'F32');
    if (l.bk) add(`${p}attn_k.bias`, [kvDim], qk(l.bk, spec.numKvHeads, 1), 'F32');
    if (l.bv) add(`${p}attn_v.bias`, [kvDim], l.bv, 'F32');
    add(`${p}attn_output.weight`, [qDim, D], l.wo);
    add(`${p}ffn_norm.weight`, [D], l.ffnNorm, 'F32');
    add(`${p}ffn_gate.weight`, [D, I], l.wGate);
    add(`${p}ffn_up.weight`, [D, I], l.wUp);
    add(`${p}ffn_down.weight`, [I, D], l.wDown);
  });
  add('output_norm.weight', [D], w.finalNorm, 'F32');
  if (w.lmHead) add('output.weight', [D, spec.vocabSize], w.lmHead);
  const md: Record<string, GgufValue> = {
    'general.architecture': { type: 'string', value: arch },
    'general.alignment': { type: 'u32', value: 32 },
    [`${arch}.context_length`]: { type: 'u32', value: spec.maxPositionEmbeddings },
    [`${arch}.embedding_length`]: { type: 'u32', value: D },
    [`${arch}.block_count`]: { type: 'u32', value: spec.numLayers },
    [`${arch}.feed_forward_length`]: { type: 'u32', value: I },
    [`${arch}.attention.head_count`]: { type: 'u32', value: spec.numHeads },
    [`${arch}.attention.head_count_kv`]: { type: 'u32', value: spec.numKvHeads },
    [`${arch}.attention.key_length`]: { type: 'u32', value: hd },
    [`${arch}.attention.value_length`]: { type: 'u32', value: hd },
    [`${arch}.rope.dimension_count`]: { type: 'u32', value: hd },
    [`${arch}.rope.freq_base`]: { type: 'f32', value: spec.ropeTheta },
    [`${arch}.attention.layer_norm_rms_epsilon`]: { type: 'f32', value: spec.rmsNormEps },
    ...(spec.bosTokenId !== null ? { 'tokenizer.ggml.bos_token_id': { type: 'u32', value: spec.bosTokenId } as GgufValue } : {}),
    ...(spec.eosTokenId !== null ? { 'tokenizer.ggml.eos_token_id': { type: 'u32', value: spec.eosTokenId } as GgufValue } : {}),
    ...(opts.tokenizer ?? {}),
  };
  writeGguf(path, md, t);
}

/** Minimal SentencePiece-style ('llama') tokenizer metadata for a vocab of `n` (<unk>, <s>, </s>, bytes, pieces). */
export function dummyLlamaTokenizerMetadata(n: number, bos = 1, eos = 2): Record<string, GgufValue> {
  const tokens: string[] = [];
  const types: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i < 3) {
      tokens.push(['<unk>', '<s>', '</s>'][i]);
      types.push(i === 0 ? 2 : 3);
    } else if (i < 3 + 256) {
      tokens.push(`<0x${(i - 3).toString(16).toUpperCase().padStart(2, '0')}>`);
      types.push(6);
    } else {
      tokens.push(`▁tok${i}`);
      types.push(1);
    }
  }
  return {
    'tokenizer.ggml.model': { type: 'string', value: 'llama' },
    'tokenizer.ggml.tokens': { type: 'string[]', value: tokens },
    'tokenizer.ggml.scores': { type: 'f32[]', value: tokens.map((_, i) => -i) },
    'tokenizer.ggml.token_type': { type: 'i32[]', value: types },
    'tokenizer.ggml.bos_token_id': { type: 'u32', value: bos },
    'tokenizer.ggml.eos_token_id': { type: 'u32', value: eos },
    'tokenizer.ggml.unknown_token_id': { type: 'u32', value: 0 },
  };
}
