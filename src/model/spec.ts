/**
 * ModelSpec + ModelWeights: the one description of a Llama-family decoder that every model source
 * (Hugging Face folder, GGUF, llama2.c) produces and the graph builder and the naive reference consume.
 *
 * Weight layout follows PyTorch nn.Linear: a projection from `in` to `out` features is stored row-major
 * as [out, in], so y = W x. All weights are float32 in memory (F16/BF16/Q8_0 are converted on load).
 */

/**
 * How RoPE pairs the dimensions of a head of size hd.
 * - 'half': pairs (i, i + hd/2), Hugging Face `rotate_half` convention.
 * - 'interleaved': pairs (2i, 2i + 1), llama2.c / GGUF (Meta original) convention.
 */
export type RopeStyle = 'half' | 'interleaved';

export type Architecture = 'llama' | 'mistral' | 'qwen2';

/** Llama-3 `rope_scaling` with rope_type "llama3". */
export interface Llama3RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

export interface ModelSpec {
  architecture: Architecture;
  vocabSize: number;
  hiddenSize: number; // d_model
  intermediateSize: number; // SwiGLU hidden size
  numLayers: number; // L
  numHeads: number; // H (query heads)
  numKvHeads: number; // H_kv; G = H / H_kv
  headDim: number; // hd
  maxPositionEmbeddings: number; // the model's context
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: Llama3RopeScaling | null;
  rope: RopeStyle;
  /** q/k/v projections carry a bias (Qwen2). */
  attentionBias: boolean;
  /** The output projection is the token embedding (no separate lm_head). */
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenId: number | null;
}

export interface LayerWeights {
  attnNorm: Float32Array; // [D]
  wq: Float32Array; // [H*hd, D]
  wk: Float32Array; // [Hkv*hd, D]
  wv: Float32Array; // [Hkv*hd, D]
  bq: Float32Array | null; // [H*hd]
  bk: Float32Array | null; // [Hkv*hd]
  bv: Float32Array | null; // [Hkv*hd]
  wo: Float32Array; // [D, H*hd]
  ffnNorm: Float32Array; // [D]
  wGate: Float32Array; // [I, D]  (w1)
  wUp: Float32Array; // [I, D]    (w3)
  wDown: Float32Array; // [D, I]  (w2)
}

export interface ModelWeights {
  embed: Float32Array; // [V, D]
  layers: LayerWeights[];
  finalNorm: Float32Array; // [D]
  lmHead: Float32Array | null; // [V, D]; null when tied to `embed`
}

export interface TextTokenizer {
  /** Token ids of `text`; `addBos` prepends the BOS id when the model has one. */
  encode(text: string, opts?: { addBos?: boolean }): number[];
  /** Text of `ids`, special tokens skipped. */
  decode(ids: number[]): string;
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly vocabSize: number;
  /** Jinja chat template from tokenizer_config.json, when the model has one. */
  readonly chatTemplate: string | null;
}

export type ModelSourceKind = 'hf' | 'gguf' | 'llama2c' | 'random';

export interface LoadedModel {
  spec: ModelSpec;
  weights: ModelWeights;
  /** null when the source has no tokenizer and none was given. */
  tokenizer: TextTokenizer | null;
  source: { kind: ModelSourceKind; path: string };
  /** sha256 (hex) over the spec and every weight byte: the key of built graphs and of stored prefills. */
  weightsHash: string;
  /** Weights are generated or read tensor by tensor on access (never whole in memory): read each tensor once. */
  streamed?: boolean;
}

/** Number of parameters (tied embeddings counted once). */
export function parameterCount(w: ModelWeights): number {
  let n = w.embed.length + w.finalNorm.length + (w.lmHead?.length ?? 0);
  for (const l of w.layers) {
    for (const t of [l.attnNorm, l.wq, l.wk, l.wv, l.bq, l.bk, l.bv, l.wo, l.ffnNorm, l.wGate, l.wUp, l.wDown]) {
      n += t?.length ?? 0;
    }
  }
  return n;
}
