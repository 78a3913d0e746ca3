import type { DeviceDecodeCache } from './device-cache.ts';

/**
 * The data that flows between the runtime, the compression methods and the engine (design.md §2).
 * Single-sequence structures; the runtime batches several of them by padding with kv_bias = -inf.
 */

/** One layer of a KV cache for one sequence. Keys are stored after RoPE. */
export interface LayerCache {
  keys: Float32Array; // [Hkv, P, hd]
  values: Float32Array; // [Hkv, P, hd]
  /** Additive attention bias per entry: 0 = attend, -Infinity = masked (padding or evicted). */
  bias: Float32Array; // [Hkv, P]
  length: number; // P (physical entries per head, padding included)
  /**
   * Absolute RoPE position of each entry (kept entries keep their original positions after eviction, per head).
   * Absent: entry t of every head is at position t (a cache straight from a prefill). SelfExtend reads it.
   */
  positions?: Int32Array; // [Hkv, P]
}

/** A KV cache for one sequence: per-layer lengths may differ. */
export interface KvCache {
  layers: LayerCache[];
  /** Absolute RoPE position of the next token (the original prompt length after a prefill). */
  nextPosition: number;
}

/**
 * What a prefill leaves behind, computed once per sample and reused by every method and budget.
 * T = prompt length, w = observation window (min(window, T)), Hq query heads.
 */
export interface PrefillRecord {
  tokens: number[]; // [T]
  /**
   * The full cache on the host, every bias 0. A WebGPU prefill leaves it on the device (`device`) and the host copy
   * is downloaded only when something on the host needs it (ModelRuntime.hostCache: the disk prefill cache, a
   * host-path item; never the value norms, computed on the device); reading it before is an internal error
   * (device-record.ts).
   */
  cache: KvCache;
  /** WebGPU: the full cache as GPU tensors (one row, T entries per layer), the source of gatherOnDevice. */
  device?: DeviceDecodeCache;
  /** Softmax rows of the last w queries over all T keys (causal inside the window), per layer. */
  windowAttention: Float32Array[]; // L × [Hq, w, T]
  window: number; // w
  /** Per-key column sums of attention over all T queries (H2O's accumulated attention), per layer. */
  attentionColumnSums: Float32Array[]; // L × [Hq, T]
  /** Logits after the last prompt token. */
  lastLogits: Float32Array; // [V]
  /**
   * CriticalKV's value-output norms (1/G) Σ_g ||v_kj W_o^(kG+g)||_1 of every entry, per layer; filled on demand
   * (ModelRuntime.ensureValueNorms) when a method of the run needs them: computed in float64 from a host cache,
   * in float32 on the device from a device record's V (WebGPU has no float64). Not stored on disk.
   */
  valueNorms?: Float64Array[]; // L × [Hkv, T]
  /** Wall time of the prefill, ms. */
  ms: number;
}

export type Device = 'cpu' | 'cuda' | 'webgpu';
