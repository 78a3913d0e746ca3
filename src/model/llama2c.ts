/**
 * llama2.c checkpoint (legacy version-0 format, as written by llama2.c export.py `legacy_export`):
 * 7 × int32 header (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len), then float32 tensors
 * token_embedding [V, D], rms_att [L, D], wq [L, D, D], wk [L, kvDim, D], wv [L, kvDim, D], wo [L, D, D],
 * rms_ffn [L, D], w1 [L, I, D], w2 [L, D, I], w3 [L, I, D], rms_final [D], freq_cis_real [seq, hd/2],
 * freq_cis_imag [seq, hd/2], and wcls [V, D] when vocab_size is negative (untied classifier).
 * run.c uses interleaved-pair RoPE with theta 10000, RMSNorm eps 1e-5, head_dim = dim / n_heads.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { KvoptError } from '../util/errors.ts';
import type { LayerWeights, ModelSpec, ModelWeights } from './spec.ts';

const HEADER_BYTES = 28;

export function loadLlama2cCheckpoint(path: string): { spec: ModelSpec; weights: ModelWeights } {
  if (!existsSync(path)) throw new KvoptError(`${path}: file not found`);
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < HEADER_BYTES) throw new KvoptError(`${path}: not a llama2.c checkpoint (${size} bytes, shorter than the 28-byte header)`);
    const hb = Buffer.alloc(HEADER_BYTES);
    readSync(fd, hb, 0, HEADER_BYTES, 0);
    if (hb.readUInt32LE(0) === 0x616b3432) {
      throw new KvoptError(`${path}: llama2.c export version ${hb.readInt32LE(4)} (magic 'ak42') is not supported; export with --version 0 (legacy float32)`);
    }
    const [dim, hidden, nLayers, nHeads, nKvHeads, vocabRaw, seqLen] = Array.from({ length: 7 }, (_, i) => hb.readInt32LE(4 * i));
    const tied = vocabRaw > 0;
    const V = Math.abs(vocabRaw);
    const ok = [dim, hidden, nLayers, nHeads, nKvHeads, V, seqLen].every((v) => v > 0 && v < 1 << 24);
    if (!ok || dim % nHeads !== 0 || nHeads % nKvHeads !== 0 || (dim / nHeads) % 2 !== 0) {
      throw new KvoptError(
        `${path}: not a llama2.c checkpoint (header dim=${dim} hidden_dim=${hidden} n_layers=${nLayers} n_heads=${nHeads} n_kv_heads=${nKvHeads} vocab_size=${vocabRaw} seq_len=${seqLen})`,
      );
    }
    const hd = dim / nHeads;
    const kvDim = nKvHeads * hd;
    const L = nLayers;
    const floats = V * dim + L * (dim + dim * dim + 2 * kvDim * dim + dim * dim + dim + 3 * hidden * dim) + dim + seqLen * hd + (tied ? 0 : V * dim);
    const expected = HEADER_BYTES + 4 * floats;
    if (size < expected) {
      throw new KvoptError(`${path}: truncated llama2.c checkpoint: ${size} bytes, the header needs ${expected}`);
    }
    let pos = HEADER_BYTES;
    const take = (n: number): Float32Array => {
      const bytes = new Uint8Array(4 * n);
      let done = 0;
      while (done < bytes.length) {
        const r = readSync(fd, bytes, done, Math.min(1 << 28, bytes.length - done), pos + done);
        if (r <= 0) throw new KvoptError(`${path}: truncated at byte ${pos + done}`);
        done += r;
      }
      pos += bytes.length;
      return new Float32Array(bytes.buffer);
    };
    const perLayer = (n: number): Float32Array[] => Array.from({ length: L }, () => take(n));
    const embed = take(V * dim);
    const rmsAtt = perLayer(dim);
    const wq = perLayer(dim * dim);
    const wk = perLayer(kvDim * dim);
    const wv = perLayer(kvDim * dim);
    const wo = perLayer(dim * dim);
    const rmsFfn = perLayer(dim);
    const w1 = perLayer(hidden * dim);
    const w2 = perLayer(dim * hidden);
    const w3 = perLayer(hidden * dim);
    const finalNorm = take(dim);
    pos += 4 * seqLen * hd; // freq_cis_real + freq_cis_imag (seq × hd/2 each): recomputed, not read
    const lmHead = tied ? null : take(V * dim);
    const layers: LayerWeights[] = [];
    for (let l = 0; l < L; l++) {
      layers.push({
        attnNorm: rmsAtt[l],
        wq: wq[l],
        wk: wk[l],
        wv: wv[l],
        bq: null,
        bk: null,
        bv: null,
        wo: wo[l],
        ffnNorm: rmsFfn[l],
        wGate: w1[l],
        wUp: w3[l],
        wDown: w2[l],
      });
    }
    const spec: ModelSpec = {
      architecture: 'llama',
      vocabSize: V,
      hiddenSize: dim,
      intermediateSize: hidden,
      numLayers: L,
      numHeads: nHeads,
      numKvHeads: nKvHeads,
      headDim: hd,
      maxPositionEmbeddings: seqLen,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      ropeScaling: null,
      rope: 'interleaved',
      attentionBias: false,
      tieWordEmbeddings: tied,
      bosTokenId: 1,
      eosTokenId: 2,
    };
    return { spec, weights: { embed, layers, finalNorm, lmHead } };
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a llama2.c checkpoint. The weights must already be in interleaved-RoPE row order (spec.rope
 * 'interleaved'), headDim = hiddenSize / numHeads, no biases, theta 10000 (what run.c assumes).
 */
export function writeLlama2cCheckpoint(path: string, spec: ModelSpec, w: ModelWeights): void {
  const problems: string[] = [];
  if (spec.rope !== 'interleaved') problems.push('rope must be interleaved');
  if (spec.headDim * spec.numHeads !== spec.hiddenSize) problems.push('headDim must be hiddenSize / numHeads');
  if (spec.attentionBias) problems.push('no attention bias');
  if (spec.ropeTheta !== 10000 || spec.ropeScaling) problems.push('rope theta 10000 without scaling');
  if (problems.length) throw new Error(`writeLlama2cCheckpoint: ${problems.join('; ')}`);
  const hd = spec.headDim;
  const header = Buffer.alloc(HEADER_BYTES);
  [
    spec.hiddenSize,
    spec.intermediateSize,
    spec.numLayers,
    spec.numHeads,
    spec.numKvHeads,
    spec.tieWordEmbeddings ? spec.vocabSize : -spec.vocabSize,
    spec.maxPositionEmbeddings,
  ].forEach((v, i) => header.writeInt32LE(v, 4 * i));
  const freqReal = new Float32Array(spec.maxPositionEmbeddings * (hd / 2));
  const freqImag = new Float32Array(freqReal.length);
  for (let p = 0; p < spec.maxPositionEmbeddings; p++) {
    for (let i = 0; i < hd / 2; i++) {
      const a = p * 10000 ** ((-2 * i) / hd);
      freqReal[p * (hd / 2) + i] = Math.cos(a);
      freqImag[p * (hd / 2) + i] = Math.sin(a);
    }
  }
  const parts: Float32Array[] = [w.embed];
  const each = (f: (l: LayerWeights) => Float32Array) => w.layers.forEach((l) => parts.push(f(l)));
  each((l) => l.attnNorm);
  each((l) => l.wq);
  each((l) => l.wk);
  each((l) => l.wv);
  each((l) => l.wo);
  each((l) => l.ffnNorm);
  each((l) => l.wGate);
  each((l) => l.wDown);
  each((l) => l.wUp);
  parts.push(w.finalNorm, freqReal, freqImag);
  if (!spec.tieWordEmbeddings) parts.push(w.lmHead!);
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, header);
    for (const p of parts) writeSync(fd, new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
  } finally {
    closeSync(fd);
  }
}
