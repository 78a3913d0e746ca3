/**
 * KV caches that stay on the GPU (WebGPU, the one provider of onnxruntime-node with device I/O,
 * node-stack-notes §1.2). A DeviceDecodeCache holds per layer K, V [B, Hkv, P_l, hd] and kv_bias [B, Hkv, 1, P_l]
 * as tensors fed to the next run; every run's present_key/present_value/present_bias come back as 'gpu-buffer'
 * tensors and replace them (advance). It serves a prefill's cache (one row, grown chunk by chunk and kept with
 * the PrefillRecord), a compressed batch gathered on the device (device-gather.ts) and a decode batch uploaded
 * once from host caches. Superseded GPU tensors are disposed at once (they hold device memory until then), and
 * never read on the host: getData() on a gpu-buffer tensor aborts the process in Node (the copy graph of
 * device-gather.ts reads them back).
 */
import * as ort from 'onnxruntime-node';
import { ioNames } from '../graph/llama.ts';
import type { KvCodec } from './kv-codec.ts';

/** batch.ts's PaddedLayer, restated: importing batch.ts would close a cycle (batch.ts → types.ts → this module). */
interface HostLayer {
  keys: Float32Array; // [B, Hkv, P, hd]
  values: Float32Array;
  bias: Float32Array; // [B, Hkv, 1, P]
  length: number; // P
}

export interface LayerTensors {
  key: ort.Tensor;
  value: ort.Tensor;
  bias: ort.Tensor;
}

/**
 * The session's preferredOutputLocation on WebGPU: the presents and this run's new K/V on the GPU (the new
 * entries of a prefill are the cache itself), logits and attention statistics on the host. Every output is named,
 * in the graph's output order (src/graph/llama.ts): onnxruntime-node 1.30 pairs the object's entries with the
 * outputs by position, so a partial or reordered object puts the wrong outputs on the GPU (seen on lavapipe:
 * new_key came back as a GPU buffer and the host read of it threw).
 */
export function deviceResidentOutputs(numLayers: number): Record<string, 'gpu-buffer' | 'cpu'> {
  const out: Record<string, 'gpu-buffer' | 'cpu'> = {};
  for (let l = 0; l < numLayers; l++) {
    out[ioNames.presentKey(l)] = 'gpu-buffer';
    out[ioNames.presentValue(l)] = 'gpu-buffer';
    out[ioNames.presentBias(l)] = 'gpu-buffer';
    out[ioNames.newKey(l)] = 'gpu-buffer';
    out[ioNames.newValue(l)] = 'gpu-buffer';
    for (const name of [ioNames.attnWindow(l), ioNames.attnColsum(l)]) out[name] = 'cpu';
  }
  out.logits = 'cpu';
  return out;
}

export const onDevice = (t: ort.Tensor): boolean => t.location === 'gpu-buffer';

export class DeviceDecodeCache {
  private constructor(
    private layers: LayerTensors[],
    /** Physical length of every layer (padding included). */
    readonly lengths: number[],
    readonly rows: number, // B
    private readonly Hkv: number,
    private readonly hd: number,
    private readonly kvBytesPerElement: number,
    /** Absolute position of the next token, per row. */
    readonly nextPositions: number[],
  ) {}

  /** A batch whose first run uploads `past`, the padded host batch [B, Hkv, P_l, hd] per layer (batch.ts PaddedLayer). */
  static upload(past: HostLayer[], nextPositions: number[], Hkv: number, hd: number, kv: KvCodec): DeviceDecodeCache {
    const B = nextPositions.length;
    const layers = past.map((p) => ({
      key: kv.tensor(p.keys, [B, Hkv, p.length, hd]),
      value: kv.tensor(p.values, [B, Hkv, p.length, hd]),
      bias: new ort.Tensor('float32', p.bias, [B, Hkv, 1, p.length]),
    }));
    return new DeviceDecodeCache(
      layers,
      past.map((p) => p.length),
      B,
      Hkv,
      hd,
      kv.bytesPerElement,
      [...nextPositions],
    );
  }

  /** A batch made of tensors already on the device (the gather graph's outputs); it owns them from now on. */
  static adopt(layers: LayerTensors[], nextPositions: number[], Hkv: number, hd: number, kvBytesPerElement: number): DeviceDecodeCache {
    return new DeviceDecodeCache(
      layers,
      layers.map((t) => t.key.dims[2]),
      nextPositions.length,
      Hkv,
      hd,
      kvBytesPerElement,
      [...nextPositions],
    );
  }

  /** Layer l's tensors (the gather graph's inputs; the copy graph's, to read them back). */
  layer(l: number): LayerTensors {
    return this.layers[l];
  }

  /** The past inputs of the next run. */
  addFeeds(feeds: Record<string, ort.Tensor>): void {
    this.layers.forEach((t, l) => {
      feeds[ioNames.pastKey(l)] = t.key;
      feeds[ioNames.pastValue(l)] = t.value;
      feeds[ioNames.kvBias(l)] = t.bias;
    });
  }

  /** Takes the run's presents as the new past (`added` tokens per row); disposes the superseded GPU tensors. */
  advance(outputs: ort.InferenceSession.OnnxValueMapType, added = 1): void {
    const next = this.layers.map((_, l) => ({
      key: outputs[ioNames.presentKey(l)],
      value: outputs[ioNames.presentValue(l)],
      bias: outputs[ioNames.presentBias(l)],
    }));
    for (const t of next) {
      for (const x of [t.key, t.value, t.bias]) {
        if (!onDevice(x)) throw new Error(`internal: a device-resident present came back in '${x.location}', not 'gpu-buffer'`);
      }
    }
    this.dispose();
    this.layers = next;
    for (let l = 0; l < this.lengths.length; l++) this.lengths[l] += added;
    for (let b = 0; b < this.rows; b++) this.nextPositions[b] += added;
  }

  /** Releases the GPU tensors (host ones are left to the garbage collector). */
  dispose(): void {
    for (const t of this.layers) for (const x of [t.key, t.value, t.bias]) if (onDevice(x)) x.dispose();
  }

  /** Bytes the cache occupies on the device (K and V in the graph's precision, plus the float32 bias). */
  deviceBytes(): number {
    return this.lengths.reduce((a, P) => a + this.rows * this.Hkv * P * (2 * this.hd * this.kvBytesPerElement + 4), 0);
  }
}

/** Bytes of the host-resident tensors among `tensors` (what crosses between host and device in a run). */
export function hostBytes(tensors: Iterable<ort.Tensor>): number {
  let n = 0;
  for (const t of tensors) if (!onDevice(t)) n += (t.data as ArrayBufferView).byteLength;
  return n;
}

/** Disposes the GPU tensors among a run's outputs except those named in `taken`. */
export function releaseDeviceOutputs(outputs: ort.InferenceSession.OnnxValueMapType, taken: ReadonlySet<string> = new Set()): void {
  for (const [name, t] of Object.entries(outputs)) if (onDevice(t) && !taken.has(name)) t.dispose();
}
