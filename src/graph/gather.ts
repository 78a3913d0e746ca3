/**
 * The device-side cache graphs of WebGPU (src/runtime/device-gather.ts runs them; design: issue #10 item 4).
 *
 * gather   inputs  per layer l: key.l / value.l [1,Hkv,T_l,hd] (a prefill's cache, on the device), index.l
 *                  [B,Hkv,P_l] int32: row h·T_l + t of the layer's [Hkv·T_l, hd] rows for head h's kept entry t,
 *                  −1 for a padding slot (heads keep different counts; every row is padded to the longest)
 *          outputs per layer: gathered_key.l / gathered_value.l [B,Hkv,P_l,hd] (Gather over the flattened
 *                  (head, token) rows; −1 reads the last row, whose value the bias masks), gathered_bias.l
 *                  [B,Hkv,1,P_l]: 0 for kept entries, −inf for padding slots, the decoder's kv_bias
 *          So the kept indices are the only data the host uploads to compress a cache.
 * copy     input x [d0,d1,d2,d3] in the KV precision → y = x: run with host outputs, it is how a device tensor is
 *          read back in Node (getData() on a gpu-buffer tensor aborts the process, node-stack-notes §1.2).
 */
import type { ModelSpec } from '../model/spec.ts';
import { GraphBuilder, aInt } from './builder.ts';
import { IR_VERSION, OPSET } from './llama.ts';
import { DataType } from './onnx-proto.ts';
import type { Precision } from './precision.ts';

export const gatherNames = {
  key: (l: number) => `key.${l}`,
  value: (l: number) => `value.${l}`,
  index: (l: number) => `index.${l}`,
  gatheredKey: (l: number) => `gathered_key.${l}`,
  gatheredValue: (l: number) => `gathered_value.${l}`,
  gatheredBias: (l: number) => `gathered_bias.${l}`,
};

const kvTypeOf = (precision: Precision): number => (precision === 'fp16' ? DataType.FLOAT16 : DataType.FLOAT);

/** The gather graph of `spec`'s layers (serialised ONNX). */
export function buildGatherGraph(spec: ModelSpec, precision: Precision): Uint8Array {
  const { numLayers: L, numKvHeads: Hkv, headDim: hd } = spec;
  const kvType = kvTypeOf(precision);
  const g = new GraphBuilder('gather.onnx_data'); // no weights: nothing is written there
  const rows = g.int64([-1, hd]);
  const zero = g.int32Scalar(0);
  const negInf = g.float32([-Infinity], []);
  const zeroF = g.float32([0], []);
  for (let l = 0; l < L; l++) {
    const index = g.input(gatherNames.index(l), DataType.INT32, ['batch', Hkv, `kept_${l}`]);
    for (const [input, output] of [
      [gatherNames.key(l), gatherNames.gatheredKey(l)],
      [gatherNames.value(l), gatherNames.gatheredValue(l)],
    ]) {
      g.input(input, kvType, [1, Hkv, `tokens_${l}`, hd]);
      g.opTo(output, 'Gather', [g.op('Reshape', [input, rows]), index], { axis: aInt(0) });
      g.output(output, kvType, ['batch', Hkv, `kept_${l}`, hd]);
    }
    const bias = g.op('Where', [g.op('Less', [index, zero]), negInf, zeroF]);
    g.opTo(gatherNames.gatheredBias(l), 'Unsqueeze', [bias, g.int64([2])]);
    g.output(gatherNames.gatheredBias(l), DataType.FLOAT, ['batch', Hkv, 1, `kept_${l}`]);
  }
  return g.encodeModel({ opset: OPSET, irVersion: IR_VERSION, metadata: {} });
}

/** The copy graph (serialised ONNX) for tensors of the KV precision. */
export function buildCopyGraph(precision: Precision): Uint8Array {
  const kvType = kvTypeOf(precision);
  const g = new GraphBuilder('copy.onnx_data');
  g.input('x', kvType, ['d0', 'd1', 'd2', 'd3']);
  g.opTo('y', 'Identity', ['x']);
  g.output('y', kvType, ['d0', 'd1', 'd2', 'd3']);
  return g.encodeModel({ opset: OPSET, irVersion: IR_VERSION, metadata: {} });
}
