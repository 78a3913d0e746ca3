/**
 * Hugging Face model folder: config.json → ModelSpec, safetensors → ModelWeights (HF names, rotate_half RoPE).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KvoptError } from '../util/errors.ts';
import { SafetensorsCollection, isReadableDtype, writeSafetensors, type SafetensorsDtype } from './safetensors.ts';
import type { Architecture, LayerWeights, ModelSpec, ModelWeights } from './spec.ts';

const ARCHITECTURES: Record<string, Architecture> = {
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
};

/** Reads and parses a JSON file; a missing or invalid file is a KvoptError naming it. */
export function readJsonFile(path: string): Record<string, unknown> {
  if (!existsSync(path)) throw new KvoptError(`${path}: file not found`);
  try {
    const v = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v;
  } catch (e) {
    throw new KvoptError(`${path}: invalid JSON (${(e as Error).message})`);
  }
}

/** config.json (already parsed) → ModelSpec. `where` names the file in errors. */
export function hfConfigToSpec(cfg: Record<string, unknown>, where: string): ModelSpec {
  const archs = cfg.architectures;
  const archName = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : undefined;
  const architecture = archName ? ARCHITECTURES[archName] : undefined;
  if (!architecture) {
    throw new KvoptError(`${where}: unsupported architectures ${JSON.stringify(archs ?? null)} (supported: ${Object.keys(ARCHITECTURES).join(', ')})`);
  }
  const int = (key: string, fallback?: number): number => {
    const v = cfg[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new KvoptError(`${where}: '${key}' must be a positive integer, got ${JSON.stringify(cfg[key] ?? null)}`);
    }
    return v;
  };
  const num = (key: string, fallback: number): number => {
    const v = cfg[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new KvoptError(`${where}: '${key}' must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  const headDim = cfg.head_dim == null ? hiddenSize / numHeads : int('head_dim');
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new KvoptError(`${where}: head_dim ${headDim} must be an even integer`);
  if (numHeads % numKvHeads !== 0) {
    throw new KvoptError(`${where}: num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`);
  }
  const act = cfg.hidden_act ?? 'silu';
  if (act !== 'silu' && act !== 'swish') throw new KvoptError(`${where}: hidden_act '${act}' is not supported (expected silu)`);

  let ropeScaling: ModelSpec['ropeScaling'] = null;
  const rs = cfg.rope_scaling as Record<string, unknown> | null | undefined;
  if (rs) {
    const type = rs.rope_type ?? rs.type;
    if (type === 'llama3') {
      ropeScaling = {
        factor: Number(rs.factor),
        lowFreqFactor: Number(rs.low_freq_factor),
        highFreqFactor: Number(rs.high_freq_factor),
        originalMaxPositionEmbeddings: Number(rs.original_max_position_embeddings),
      };
      if (Object.values(ropeScaling).some((v) => !Number.isFinite(v))) {
        throw new KvoptError(`${where}: rope_scaling llama3 needs factor, low_freq_factor, high_freq_factor, original_max_position_embeddings`);
      }
    } else if (type !== 'default') {
      throw new KvoptError(`${where}: rope_scaling type '${String(type)}' is not supported (supported: llama3)`);
    }
  }
  // MLP biases (Llama's mlp_bias) are not in kvopt's graph: refused rather than silently dropped.
  if (cfg.mlp_bias === true)
    throw new KvoptError(`${where}: mlp_bias: true is not supported (kvopt's graph has no MLP biases; the weights' gate/up/down biases would be ignored)`);
  // Sliding-window attention (Mistral): a query at position i sees keys (i − W, i]. Over at most W
  // positions that is exactly full causal attention, so the model's usable context is capped at W and
  // a longer prompt is refused by the runtime's context check instead of being attended over wrongly.
  const sw = cfg.use_sliding_window === false ? null : cfg.sliding_window;
  if (sw != null && (typeof sw !== 'number' || !Number.isInteger(sw) || sw <= 0)) {
    throw new KvoptError(`${where}: 'sliding_window' must be a positive integer or null, got ${JSON.stringify(sw)}`);
  }
  const maxPositions = int('max_position_embeddings', 2048);
  const tokenId = (key: string): number | null => {
    const v = cfg[key];
    if (Array.isArray(v)) return typeof v[0] === 'number' ? v[0] : null;
    return typeof v === 'number' ? v : null;
  };
  return {
    architecture,
    vocabSize: int('vocab_size'),
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    maxPositionEmbeddings: typeof sw === 'number' ? Math.min(maxPositions, sw) : maxPositions,
    rmsNormEps: num('rms_norm_eps', 1e-6),
    ropeTheta: num('rope_theta', 10000),
    ropeScaling,
    rope: 'half',
    attentionBias: architecture === 'qwen2' ? true : cfg.attention_bias === true,
    tieWordEmbeddings: cfg.tie_word_embeddings === true,
    bosTokenId: tokenId('bos_token_id'),
    eosTokenId: tokenId('eos_token_id'),
  };
}

/** Reads every weight of `spec` from the folder's safetensors, checking each shape. */
export function loadHfWeights(dir: string, spec: ModelSpec): ModelWeights {
  const st = SafetensorsCollection.openFolder(dir);
  try {
    const D = spec.hiddenSize;
    const I = spec.intermediateSize;
    const qDim = spec.numHeads * spec.headDim;
    const kvDim = spec.numKvHeads * spec.headDim;
    const get = (name: string, shape: number[]): Float32Array => {
      const info = st.tensors.get(name);
      if (!info) throw new KvoptError(`${dir}: tensor '${name}' not found in ${st.paths.join(', ')}`);
      if (!isReadableDtype(info.dtype)) {
        throw new KvoptError(`${info.file}: tensor '${name}' has unsupported dtype ${info.dtype} (supported: F32, F16, BF16)`);
      }
      if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
        throw new KvoptError(`${info.file}: tensor '${name}' has shape [${info.shape}], expected [${shape}] from config.json`);
      }
      return st.read(name);
    };
    const layers: LayerWeights[] = [];
    for (let l = 0; l < spec.numLayers; l++) {
      const p = `model.layers.${l}.`;
      const bias = (name: string, n: number) => (spec.attentionBias ? get(`${p}self_attn.${name}.bias`, [n]) : null);
      layers.push({
        attnNorm: get(`${p}input_layernorm.weight`, [D]),
        wq: get(`${p}self_attn.q_proj.weight`, [qDim, D]),
        wk: get(`${p}self_attn.k_proj.weight`, [kvDim, D]),
        wv: get(`${p}self_attn.v_proj.weight`, [kvDim, D]),
        bq: bias('q_proj', qDim),
        bk: bias('k_proj', kvDim),
        bv: bias('v_proj', kvDim),
        wo: get(`${p}self_attn.o_proj.weight`, [D, qDim]),
        ffnNorm: get(`${p}post_attention_layernorm.weight`, [D]),
        wGate: get(`${p}mlp.gate_proj.weight`, [I, D]),
        wUp: get(`${p}mlp.up_proj.weight`, [I, D]),
        wDown: get(`${p}mlp.down_proj.weight`, [D, I]),
      });
    }
    return {
      embed: get('model.embed_tokens.weight', [spec.vocabSize, D]),
      layers,
      finalNorm: get('model.norm.weight', [D]),
      lmHead: spec.tieWordEmbeddings ? null : get('lm_head.weight', [spec.vocabSize, D]),
    };
  } finally {
    st.close();
  }
}

/** config.json + weights of a Hugging Face folder. */
export function loadHfFolder(dir: string): { spec: ModelSpec; weights: ModelWeights } {
  const configPath = join(dir, 'config.json');
  const spec = hfConfigToSpec(readJsonFile(configPath), configPath);
  return { spec, weights: loadHfWeights(dir, spec) };
}

/** ModelSpec → a config.json object (for writing test folders and tiny trained models). */
export function specToHfConfig(spec: ModelSpec): Record<string, unknown> {
  const arch = Object.entries(ARCHITECTURES).find(([, a]) => a === spec.architecture)![0];
  if (spec.rope !== 'half') throw new Error('specToHfConfig: Hugging Face folders use rope "half"');
  return {
    architectures: [arch],
    model_type: spec.architecture,
    vocab_size: spec.vocabSize,
    hidden_size: spec.hiddenSize,
    intermediate_size: spec.intermediateSize,
    num_hidden_layers: spec.numLayers,
    num_attention_heads: spec.numHeads,
    num_key_value_heads: spec.numKvHeads,
    head_dim: spec.headDim,
    max_position_embeddings: spec.maxPositionEmbeddings,
    rms_norm_eps: spec.rmsNormEps,
    rope_theta: spec.ropeTheta,
    rope_scaling: spec.ropeScaling
      ? {
          rope_type: 'llama3',
          factor: spec.ropeScaling.factor,
          low_freq_factor: spec.ropeScaling.lowFreqFactor,
          high_freq_factor: spec.ropeScaling.highFreqFactor,
          original_max_position_embeddings: spec.ropeScaling.originalMaxPositionEmbeddings,
        }
      : null,
    attention_bias: spec.attentionBias,
    tie_word_embeddings: spec.tieWordEmbeddings,
    hidden_act: 'silu',
    bos_token_id: spec.bosTokenId,
    eos_token_id: spec.eosTokenId,
    torch_dtype: 'float32',
  };
}

/** ModelWeights → HF tensor names (for writeSafetensors). */
export function weightsToHfTensors(spec: ModelSpec, w: ModelWeights): Record<string, { shape: number[]; data: Float32Array }> {
  const D = spec.hiddenSize;
  const I = spec.intermediateSize;
  const qDim = spec.numHeads * spec.headDim;
  const kvDim = spec.numKvHeads * spec.headDim;
  const t: Record<string, { shape: number[]; data: Float32Array }> = {};
  t['model.embed_tokens.weight'] = { shape: [spec.vocabSize, D], data: w.embed };
  w.layers.forEach((l, i) => {
    const p = `model.layers.${i}.`;
    t[`${p}input_layernorm.weight`] = { shape: [D], data: l.attnNorm };
    t[`${p}self_attn.q_proj.weight`] = { shape: [qDim, D], data: l.wq };
    t[`${p}self_attn.k_proj.weight`] = { shape: [kvDim, D], data: l.wk };
    t[`${p}self_attn.v_proj.weight`] = { shape: [kvDim, D], data: l.wv };
    if (l.bq) t[`${p}self_attn.q_proj.bias`] = { shape: [qDim], data: l.bq };
    if (l.bk) t[`${p}self_attn.k_proj.bias`] = { shape: [kvDim], data: l.bk };
    if (l.bv) t[`${p}self_attn.v_proj.bias`] = { shape: [kvDim], data: l.bv };
    t[`${p}self_attn.o_proj.weight`] = { shape: [D, qDim], data: l.wo };
    t[`${p}post_attention_layernorm.weight`] = { shape: [D], data: l.ffnNorm };
    t[`${p}mlp.gate_proj.weight`] = { shape: [I, D], data: l.wGate };
    t[`${p}mlp.up_proj.weight`] = { shape: [I, D], data: l.wUp };
    t[`${p}mlp.down_proj.weight`] = { shape: [D, I], data: l.wDown };
  });
  t['model.norm.weight'] = { shape: [D], data: w.finalNorm };
  if (w.lmHead) t['lm_head.weight'] = { shape: [spec.vocabSize, D], data: w.lmHead };
  return t;
}

/**
 * Writes a Hugging Face folder: config.json and model.safetensors, or `shards` files plus
 * model.safetensors.index.json. Used by tests and by the tiny-model training pipeline.
 */
export function writeHfFolder(dir: string, spec: ModelSpec, w: ModelWeights, opts: { dtype?: SafetensorsDtype; shards?: number } = {}): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(specToHfConfig(spec), null, 2));
  const dtype = opts.dtype ?? 'F32';
  const entries = Object.entries(weightsToHfTensors(spec, w)).map(([n, t]) => [n, { ...t, dtype }] as const);
  const shards = Math.max(1, opts.shards ?? 1);
  if (shards === 1) {
    writeSafetensors(join(dir, 'model.safetensors'), Object.fromEntries(entries));
    return;
  }
  const weightMap: Record<string, string> = {};
  const per = Math.ceil(entries.length / shards);
  for (let s = 0; s < shards; s++) {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const part = entries.slice(s * per, (s + 1) * per);
    for (const [n] of part) weightMap[n] = file;
    writeSafetensors(join(dir, file), Object.fromEntries(part));
  }
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }, null, 2));
}
