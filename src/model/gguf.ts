/**
 * GGUF model files (llama.cpp): header through @huggingface/gguf, tensors F32/F16/BF16/Q8_0 read at
 * tensorDataOffset + offset and dequantized to float32, `<arch>.*` metadata → ModelSpec, tokenizer from metadata.
 *
 * Q/K rows: llama.cpp's HF→GGUF conversion permutes the q/k rows of 'llama' models for interleaved-pair RoPE
 * (see rope-permute.ts), so those load with rope 'interleaved' and the weights as stored. 'qwen2' GGUFs are not
 * permuted (llama.cpp runs Qwen2 with NEOX, i.e. half-split, RoPE) and load with rope 'half'.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { gguf } from '@huggingface/gguf';
import { KvoptError } from '../util/errors.ts';
import { f16ToF32, decodeBf16, decodeF16 } from './half.ts';
import type { Architecture, LayerWeights, ModelSpec, ModelWeights, TextTokenizer } from './spec.ts';
import { ScoreMergeTokenizer } from './tokenizer-llama2c.ts';
import { HfTokenizer } from './tokenizer-hf.ts';

/** ggml tensor types this reader dequantizes. */
export const GGML_TYPE = { F32: 0, F16: 1, Q8_0: 8, BF16: 30 } as const;
const GGML_TYPE_NAMES: Record<number, string> = {
  0: 'F32',
  1: 'F16',
  2: 'Q4_0',
  3: 'Q4_1',
  6: 'Q5_0',
  7: 'Q5_1',
  8: 'Q8_0',
  9: 'Q8_1',
  10: 'Q2_K',
  11: 'Q3_K',
  12: 'Q4_K',
  13: 'Q5_K',
  14: 'Q6_K',
  15: 'Q8_K',
  24: 'I8',
  25: 'I16',
  26: 'I32',
  27: 'I64',
  28: 'F64',
  30: 'BF16',
};

const GGUF_ARCHS: Record<string, { architecture: Architecture; rope: ModelSpec['rope']; bias: boolean }> = {
  llama: { architecture: 'llama', rope: 'interleaved', bias: false },
  qwen2: { architecture: 'qwen2', rope: 'half', bias: true },
};

type Kv = Record<string, unknown>;

export interface GgufTensor {
  name: string;
  shape: number[]; // ne0 first
  type: number;
  start: number; // absolute file offset
}

/** True when the file starts with the GGUF magic. */
export function hasGgufMagic(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(4);
    return readSync(fd, b, 0, 4, 0) === 4 && b.toString('latin1') === 'GGUF';
  } finally {
    closeSync(fd);
  }
}

export async function loadGguf(path: string): Promise<{ spec: ModelSpec; weights: ModelWeights; tokenizer: TextTokenizer | null }> {
  if (!existsSync(path)) throw new KvoptError(`${path}: file not found`);
  if (!hasGgufMagic(path)) throw new KvoptError(`${path}: not a GGUF file (wrong magic, expected 'GGUF')`);
  let parsed: Awaited<ReturnType<typeof gguf>>;
  try {
    parsed = await gguf(path, { allowLocalFile: true });
  } catch (e) {
    throw new KvoptError(`${path}: cannot parse the GGUF header (${(e as Error).message})`);
  }
  const kv = parsed.metadata as unknown as Kv;
  const tensors = new Map<string, GgufTensor>();
  for (const t of parsed.tensorInfos) {
    tensors.set(t.name, {
      name: t.name,
      shape: t.shape.map((d) => Number(d)),
      type: Number(t.dtype),
      start: Number(parsed.tensorDataOffset + t.offset),
    });
  }
  const spec = ggufSpec(kv, tensors, path);
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const D = spec.hiddenSize;
    const I = spec.intermediateSize;
    const qDim = spec.numHeads * spec.headDim;
    const kvDim = spec.numKvHeads * spec.headDim;
    // GGUF shapes list ne0 (the input / fastest dim) first: a torch [out, in] weight is [in, out].
    const get = (name: string, shape: number[]) => readGgufTensor(fd, size, path, tensors, name, shape);
    const layers: LayerWeights[] = [];
    for (let l = 0; l < spec.numLayers; l++) {
      const p = `blk.${l}.`;
      const bias = (n: string, len: number) => (spec.attentionBias ? get(`${p}${n}.bias`, [len]) : null);
      layers.push({
        attnNorm: get(`${p}attn_norm.weight`, [D]),
        wq: get(`${p}attn_q.weight`, [D, qDim]),
        wk: get(`${p}attn_k.weight`, [D, kvDim]),
        wv: get(`${p}attn_v.weight`, [D, kvDim]),
        bq: bias('attn_q', qDim),
        bk: bias('attn_k', kvDim),
        bv: bias('attn_v', kvDim),
        wo: get(`${p}attn_output.weight`, [qDim, D]),
        ffnNorm: get(`${p}ffn_norm.weight`, [D]),
        wGate: get(`${p}ffn_gate.weight`, [D, I]),
        wUp: get(`${p}ffn_up.weight`, [D, I]),
        wDown: get(`${p}ffn_down.weight`, [I, D]),
      });
    }
    const weights: ModelWeights = {
      embed: get('token_embd.weight', [D, spec.vocabSize]),
      layers,
      finalNorm: get('output_norm.weight', [D]),
      lmHead: spec.tieWordEmbeddings ? null : get('output.weight', [D, spec.vocabSize]),
    };
    return { spec, weights, tokenizer: ggufTokenizer(kv, path) };
  } finally {
    closeSync(fd);
  }
}

function ggufSpec(kv: Kv, tensors: Map<string, GgufTensor>, path: string): ModelSpec {
  const archName = kv['general.architecture'];
  const arch = typeof archName === 'string' ? GGUF_ARCHS[archName] : undefined;
  if (!arch) {
    throw new KvoptError(`${path}: unsupported general.architecture ${JSON.stringify(archName ?? null)} (supported: ${Object.keys(GGUF_ARCHS).join(', ')})`);
  }
  const a = archName as string;
  const int = (key: string, fallback?: number): number => {
    const raw = kv[`${a}.${key}`] ?? fallback;
    const v = typeof raw === 'bigint' ? Number(raw) : raw;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new KvoptError(`${path}: metadata '${a}.${key}' must be a positive integer, got ${String(raw)}`);
    }
    return v;
  };
  // GGUF stores these as float32: 1e-5 reads back as 9.99999974e-6; 7 significant digits recover the decimal.
  const num = (key: string, fallback: number): number => {
    const v = Number(kv[`${a}.${key}`] ?? fallback);
    if (!Number.isFinite(v)) throw new KvoptError(`${path}: metadata '${a}.${key}' must be a number`);
    return Number(v.toPrecision(7));
  };
  const hiddenSize = int('embedding_length');
  const numHeads = int('attention.head_count');
  const numKvHeads = int('attention.head_count_kv', numHeads);
  const headDim = kv[`${a}.attention.key_length`] != null ? int('attention.key_length') : hiddenSize / numHeads;
  const tokens = kv['tokenizer.ggml.tokens'];
  const embd = tensors.get('token_embd.weight');
  if (!embd) throw new KvoptError(`${path}: tensor 'token_embd.weight' not found`);
  const vocabSize = Array.isArray(tokens) ? tokens.length : embd.shape[1];
  const tokenId = (key: string): number | null => {
    const v = kv[key];
    return v == null ? null : Number(v);
  };
  const spec: ModelSpec = {
    architecture: arch.architecture,
    vocabSize,
    hiddenSize,
    intermediateSize: int('feed_forward_length'),
    numLayers: int('block_count'),
    numHeads,
    numKvHeads,
    headDim,
    maxPositionEmbeddings: int('context_length', 2048),
    rmsNormEps: num('attention.layer_norm_rms_epsilon', 1e-5),
    ropeTheta: num('rope.freq_base', 10000),
    ropeScaling: null,
    rope: arch.rope,
    attentionBias: arch.bias && tensors.has('blk.0.attn_q.bias'),
    tieWordEmbeddings: !tensors.has('output.weight'),
    bosTokenId: tokenId('tokenizer.ggml.bos_token_id'),
    eosTokenId: tokenId('tokenizer.ggml.eos_token_id'),
  };
  if (!Number.isInteger(headDim) || headDim % 2 !== 0 || numHeads % numKvHeads !== 0) {
    throw new KvoptError(`${path}: head layout not supported (heads ${numHeads}, kv heads ${numKvHeads}, head_dim ${headDim})`);
  }
  const ropeDims = kv[`${a}.rope.dimension_count`];
  if (ropeDims != null && Number(ropeDims) !== headDim) {
    throw new KvoptError(`${path}: partial RoPE (${a}.rope.dimension_count ${ropeDims} < head_dim ${headDim}) is not supported`);
  }
  const scalingType = kv[`${a}.rope.scaling.type`];
  if (scalingType != null && scalingType !== 'none') {
    throw new KvoptError(`${path}: ${a}.rope.scaling.type '${String(scalingType)}' is not supported`);
  }
  if (tensors.has('rope_freqs.weight')) {
    // Llama-3.1 style scaling is stored as per-frequency divisors; not representable in ModelSpec beyond llama3.
    throw new KvoptError(`${path}: tensor 'rope_freqs.weight' (Llama-3.1 rope scaling in GGUF) is not supported; use the Hugging Face folder`);
  }
  return spec;
}

/** Reads one tensor as float32 after checking its shape (ne0 first) and type. */
export function readGgufTensor(fd: number, fileSize: number, path: string, tensors: Map<string, GgufTensor>, name: string, shape: number[]): Float32Array {
  const t = tensors.get(name);
  if (!t) throw new KvoptError(`${path}: tensor '${name}' not found`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new KvoptError(`${path}: tensor '${name}' has shape [${t.shape}] (ne0 first), expected [${shape}]`);
  }
  const n = shape.reduce((x, d) => x * d, 1);
  let bytes: number;
  if (t.type === GGML_TYPE.F32) bytes = 4 * n;
  else if (t.type === GGML_TYPE.F16 || t.type === GGML_TYPE.BF16) bytes = 2 * n;
  else if (t.type === GGML_TYPE.Q8_0) {
    if (n % 32 !== 0) throw new KvoptError(`${path}: Q8_0 tensor '${name}' has ${n} values, not a multiple of 32`);
    bytes = (n / 32) * 34;
  } else {
    throw new KvoptError(`${path}: tensor '${name}' has unsupported type ${GGML_TYPE_NAMES[t.type] ?? t.type} (supported: F32, F16, BF16, Q8_0)`);
  }
  if (t.start + bytes > fileSize) {
    throw new KvoptError(`${path}: truncated: tensor '${name}' ends at byte ${t.start + bytes} but the file has ${fileSize} bytes`);
  }
  const buf = new Uint8Array(bytes);
  for (let done = 0; done < bytes; ) {
    const r = readSync(fd, buf, done, Math.min(1 << 28, bytes - done), t.start + done);
    if (r <= 0) throw new KvoptError(`${path}: truncated while reading '${name}'`);
    done += r;
  }
  if (t.type === GGML_TYPE.F32) return new Float32Array(buf.buffer, 0, n);
  if (t.type === GGML_TYPE.F16) return decodeF16(buf, n);
  if (t.type === GGML_TYPE.BF16) return decodeBf16(buf, n);
  return dequantizeQ8_0(buf, n);
}

/** Q8_0: blocks of 32 values, each f16 scale d then int8 q[32]; x = d · q. */
export function dequantizeQ8_0(buf: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let b = 0; b < n / 32; b++) {
    const o = b * 34;
    const d = f16ToF32(buf[o] | (buf[o + 1] << 8));
    for (let i = 0; i < 32; i++) {
      const q = buf[o + 2 + i];
      out[b * 32 + i] = d * (q > 127 ? q - 256 : q);
    }
  }
  return out;
}

/** Tokenizer from tokenizer.ggml.* metadata, or null when the file has none. */
export function ggufTokenizer(kv: Kv, path: string): TextTokenizer | null {
  const model = kv['tokenizer.ggml.model'];
  if (model == null) return null;
  const tokens = kv['tokenizer.ggml.tokens'];
  if (!Array.isArray(tokens)) throw new KvoptError(`${path}: metadata 'tokenizer.ggml.tokens' missing`);
  const types = (kv['tokenizer.ggml.token_type'] as number[] | undefined) ?? [];
  const id = (key: string): number | null => (kv[key] == null ? null : Number(kv[key]));
  const bosId = id('tokenizer.ggml.bos_token_id');
  const eosId = id('tokenizer.ggml.eos_token_id');
  const unkId = id('tokenizer.ggml.unknown_token_id');
  // token_type: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
  if (model === 'llama') {
    const scores = kv['tokenizer.ggml.scores'];
    if (!Array.isArray(scores)) throw new KvoptError(`${path}: metadata 'tokenizer.ggml.scores' missing (needed by the 'llama' tokenizer)`);
    const byteIds = new Int32Array(256).fill(-1);
    const specialIds = new Set<number>();
    const pieces = (tokens as string[]).map((t, i) => {
      const type = types[i] ?? 1;
      if (type === 6) {
        const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(t);
        if (m) byteIds[parseInt(m[1], 16)] = i;
      }
      if (type === 2 || type === 3 || type === 5) specialIds.add(i);
      return Buffer.from(t.replaceAll('\u2581', ' '), 'utf8').toString('latin1');
    });
    for (const s of [bosId, eosId, unkId]) if (s !== null) specialIds.add(s);
    return new ScoreMergeTokenizer({
      pieces,
      scores: Float32Array.from(scores as number[]),
      byteIds,
      specialIds,
      mergeable: (i) => (types[i] ?? 1) === 1 || types[i] === 4,
      unkId,
      bosId,
      eosId,
    });
  }
  if (model === 'gpt2') {
    const merges = kv['tokenizer.ggml.merges'];
    if (!Array.isArray(merges)) throw new KvoptError(`${path}: metadata 'tokenizer.ggml.merges' missing (needed by the 'gpt2' tokenizer)`);
    const pre = String(kv['tokenizer.ggml.pre'] ?? 'default');
    return new HfTokenizer(
      byteLevelTokenizerJson(tokens as string[], types, merges as string[], pre),
      { bos_token: bosId !== null ? tokens[bosId] : null, eos_token: eosId !== null ? tokens[eosId] : null },
      path,
    );
  }
  throw new KvoptError(`${path}: tokenizer.ggml.model '${String(model)}' is not supported (supported: llama, gpt2)`);
}

// Pre-tokenizer split patterns by tokenizer.ggml.pre (llama.cpp's names).
const LLAMA3_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** A ByteLevel BPE tokenizer.json object from GGUF 'gpt2' tokenizer metadata. */
export function byteLevelTokenizerJson(tokens: string[], types: number[], merges: string[], pre: string): Record<string, unknown> {
  const pattern = pre === 'llama-bpe' || pre === 'llama3' ? LLAMA3_PATTERN : pre === 'qwen2' ? QWEN2_PATTERN : GPT2_PATTERN;
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => {
    if (!(t in vocab)) vocab[t] = i;
  });
  const added = tokens
    .map((t, i) => ({ t, i, type: types[i] ?? 1 }))
    .filter((x) => x.type === 3 || x.type === 4)
    .map((x) => ({ id: x.i, content: x.t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: x.type === 3 }));
  return {
    version: '1.0',
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: pre === 'llama-bpe' || pre === 'llama3',
      vocab,
      merges,
    },
  };
}
