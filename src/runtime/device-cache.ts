/**
 * A decode batch whose KV cache stays on the GPU (WebGPU, the one provider of onnxruntime-node with device I/O,
 * node-stack-notes §1.2). The first step uploads the padded host cache; every step's present_key/present_value/
 * present_bias come back as 'gpu-buffer' tensors and are fed straight back as the next step's past_key/past_value/
 * kv_bias. Per step only the token ids, positions and two scalars go up and the logits come down. Superseded GPU
 * tensors are disposed at once (they hold device memory until then), and never read on the host: getData() on a
 * gpu-buffer tensor aborts the process in Node.
 */
import * as ort from 'onnxruntime-node';
import { ioNames } from '../graph/llama.ts';
import type { PaddedLayer } from './batch.ts';
import type { KvCodec } from './kv-codec.ts';

interface LayerTensors {
  key: ort.Tensor;
  value: ort.Tensor;
  bias: ort.Tensor;
}

/**
 * The session's preferredOutputLocation for device-resident decode: presents on the GPU, everything else on the
 * host. Every output is named, in the graph's output order (src/graph/llama.ts): onnxruntime-node 1.30 pairs the
 * object's entries with the outputs by position, so a partial or reordered object puts the wrong outputs on the GPU
 * (seen on lavapipe: new_key came back as a GPU buffer and the host read of it threw).
 */
export function deviceResidentOutputs(numLayers: number): Record<string, 'gpu-buffer' | 'cpu'> {
  const out: Record<string, 'gpu-buffer' | 'cpu'> = {};
  for (let l = 0; l < numLayers; l++) {
    out[ioNames.presentKey(l)] = 'gpu-buffer';
    out[ioNames.presentValue(l)] = 'gpu-buffer';
    out[ioNames.presentBias(l)] = 'gpu-buffer';
    for (const name of [ioNames.newKey(l), ioNames.newValue(l), ioNames.attnWindow(l), ioNames.attnColsum(l)]) out[name] = 'cpu';
  }
  out.logits = 'cpu';
  return out;
}

const onDevice = (t: ort.Tensor): boolean => t.location === 'gpu-buffer';

export class DeviceDecodeCache {
  private layers: LayerTensors[];
  /** Physical length of every layer (grows by one per step). */
  readonly lengths: number[];

  /** `past`: the padded host batch [B, Hkv, P_l, hd] per layer, uploaded by the first step. */
  constructor(
    past: PaddedLayer[],
    private readonly rows: number, // B
    private readonly Hkv: number,
    private readonly hd: number,
    kv: KvCodec,
  ) {
    this.layers = past.map((p) => ({
      key: kv.tensor(p.keys, [rows, Hkv, p.length, hd]),
      value: kv.tensor(p.values, [rows, Hkv, p.length, hd]),
      bias: new ort.Tensor('float32', p.bias, [rows, Hkv, 1, p.length]),
    }));
    this.lengths = past.map((p) => p.length);
  }

  /** The past inputs of the next run. */
  addFeeds(feeds: Record<string, ort.Tensor>): void {
    this.layers.forEach((t, l) => {
      feeds[ioNames.pastKey(l)] = t.key;
      feeds[ioNames.pastValue(l)] = t.value;
      feeds[ioNames.kvBias(l)] = t.bias;
    });
  }

  /** Takes the run's presents as the new past; disposes the superseded GPU tensors. */
  advance(outputs: ort.InferenceSession.OnnxValueMapType): void {
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
    for (let l = 0; l < this.lengths.length; l++) this.lengths[l]++;
  }

  /** Releases the GPU tensors (host ones are left to the garbage collector). */
  dispose(): void {
    for (const t of this.layers) for (const x of [t.key, t.value, t.bias]) if (onDevice(x)) x.dispose();
  }

  /** Bytes the cache occupies on the device (K and V in the graph's precision, plus the float32 bias). */
  deviceBytes(kvBytesPerElement: number): number {
    return this.lengths.reduce((a, P) => a + this.rows * this.Hkv * P * (2 * this.hd * kvBytesPerElement + 4), 0);
  }
}

/** Bytes of the host-resident tensors among `tensors` (what crosses between host and device in a run). */
export function hostBytes(tensors: Iterable<ort.Tensor>): number {
  let n = 0;
  for (const t of tensors) if (!onDevice(t)) n += (t.data as ArrayBufferView).byteLength;
  return n;
}

/** Disposes the GPU tensors among a run's outputs that nobody takes (prefill and scoring runs on WebGPU). */
export function releaseDeviceOutputs(outputs: ort.InferenceSession.OnnxValueMapType): void {
  for (const t of Object.values(outputs)) if (onDevice(t)) t.dispose();
}
