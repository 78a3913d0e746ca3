/**
 * Writes a seeded random model (`random:<preset>[:seed]`, default random:100m) as a legacy llama2.c checkpoint plus a
 * run.c tokenizer of dummy pieces, so that llama2.c's run.c and kvopt can decode the same ~110M model (run on
 * purpose, not in tests; the files are large: keep them outside the repository), e.g.
 *
 *   node --import tsx scripts/make-llama2c-random.ts [--ref random:100m] [--model /tmp/llama2c/random100m.bin] \
 *     [--tokenizer /tmp/llama2c/tok32000.bin]
 *   /tmp/llama2c/runomp /tmp/llama2c/random100m.bin -z /tmp/llama2c/tok32000.bin -n 16 -t 0
 *   node --import tsx scripts/decode-vs-runc.ts --runc /tmp/llama2c/runomp --model /tmp/llama2c/random100m.bin \
 *     --tokenizer /tmp/llama2c/tok32000.bin --threads 2
 *
 * The random presets use 'half' RoPE pairing; run.c rotates interleaved pairs, so W_q and W_k rows are permuted
 * (model/rope-permute.ts): the checkpoint is the same function as the preset. The tokenizer has vocab_size pieces:
 * 0..2 <unk>, <s>, </s> (as run.c and kvopt's llama2.c tokenizer expect), 3..258 the byte tokens <0x00>..<0xFF>
 * (run.c's decode maps them to raw bytes), then ` t<id>`. Text from it is meaningless; it is for timing.
 * The script loads the checkpoint back with loadModel and checks its spec and a few tensors against the preset.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeLlama2cCheckpoint } from '../src/model/llama2c.ts';
import { loadModel } from '../src/model/load.ts';
import { halfToInterleavedRows } from '../src/model/rope-permute.ts';
import type { ModelSpec, ModelWeights } from '../src/model/spec.ts';
import { randomModelFromRef } from '../src/runtime/in-memory-model.ts';

const args = process.argv.slice(2);
const flag = (name: string, dflt: string): string => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const ref = flag('--ref', 'random:100m');
const modelOut = flag('--model', '/tmp/llama2c/random100m.bin');
const tokOut = flag('--tokenizer', '/tmp/llama2c/tok32000.bin');

const src = randomModelFromRef(ref);
if (src.streamed) {
  process.stderr.write(`make-llama2c-random: ${ref} is generated lazily (too large for a float32 llama2.c checkpoint)\n`);
  process.exit(2);
}
const spec: ModelSpec = { ...src.spec, rope: 'interleaved' };
const hd = spec.headDim;
const D = spec.hiddenSize;
const w: ModelWeights = {
  ...src.weights,
  layers: src.weights.layers.map((l) => ({
    ...l,
    wq: src.spec.rope === 'half' ? halfToInterleavedRows(l.wq, spec.numHeads, hd, D) : l.wq,
    wk: src.spec.rope === 'half' ? halfToInterleavedRows(l.wk, spec.numKvHeads, hd, D) : l.wk,
  })),
};
mkdirSync(dirname(modelOut), { recursive: true });
mkdirSync(dirname(tokOut), { recursive: true });
writeLlama2cCheckpoint(modelOut, spec, w);

const piece = (id: number): string => {
  if (id === 0) return '<unk>';
  if (id === 1) return '\n<s>\n';
  if (id === 2) return '\n</s>\n';
  if (id < 3 + 256) return `<0x${(id - 3).toString(16).toUpperCase().padStart(2, '0')}>`;
  return ` t${id}`;
};
const pieces = Array.from({ length: spec.vocabSize }, (_, id) => Buffer.from(piece(id), 'latin1'));
const parts: Buffer[] = [Buffer.from(Int32Array.of(Math.max(...pieces.map((p) => p.length))).buffer)];
pieces.forEach((p, id) => {
  const head = Buffer.alloc(8);
  head.writeFloatLE(id < 3 + 256 ? 0 : -id, 0);
  head.writeInt32LE(p.length, 4);
  parts.push(head, p);
});
writeFileSync(tokOut, Buffer.concat(parts));

// Read back: same spec as the preset (but for the RoPE pairing), same tensors in interleaved order.
const back = await loadModel(modelOut, { tokenizer: tokOut });
const problems: string[] = [];
const a = JSON.stringify({ ...back.spec, rope: src.spec.rope });
const b = JSON.stringify(src.spec);
if (a !== b) problems.push(`spec differs:\n  read back ${a}\n  preset    ${b}`);
const same = (x: Float32Array | null, y: Float32Array | null) => x !== null && y !== null && x.length === y.length && x.every((v, i) => v === y[i]);
const last = spec.numLayers - 1;
if (!same(back.weights.embed, w.embed)) problems.push('embed differs');
if (!same(back.weights.layers[0].wq, w.layers[0].wq)) problems.push('layer 0 wq differs');
if (!same(back.weights.layers[last].wk, w.layers[last].wk)) problems.push(`layer ${last} wk differs`);
if (!same(back.weights.layers[last].wDown, w.layers[last].wDown)) problems.push(`layer ${last} wDown differs`);
if (!same(back.weights.finalNorm, w.finalNorm)) problems.push('final norm differs');
if (back.tokenizer?.vocabSize !== spec.vocabSize) problems.push(`tokenizer has ${back.tokenizer?.vocabSize} tokens, expected ${spec.vocabSize}`);
if (problems.length) {
  process.stderr.write(`make-llama2c-random: ${problems.join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(`${ref} → ${modelOut} (${back.source.kind}, ${spec.numLayers} layers, D ${D}, vocab ${spec.vocabSize}) and ${tokOut}; read back OK\n`);
