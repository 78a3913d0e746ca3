/**
 * Invariants on a real prefill: stories260K (llama2.c, 5 layers, 8 query / 4 KV heads, hd 8) from the shared
 * data (KVOPT_SHARED_DATA, default ../shared/data beside the repo), prefilled once by the runtime.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compressPrefill } from '../../src/compress/compress.ts';
import { METHODS, parseMethod } from '../../src/compress/registry.ts';
import { pyramidSchedule } from '../../src/compress/allocators/pyramid.ts';
import { loadModel } from '../../src/model/load.ts';
import { ModelRuntime } from '../../src/runtime/runtime.ts';
import { checkKiviLayer } from './helpers.ts';
import { sharedDataPath } from '../helpers/shared-data.ts';

const TEXT =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big dog. ' +
  'The dog was brown and fluffy. Lily wanted to pet the dog, but she was scared. Her mom said, "Do not be afraid. The dog is ' +
  'friendly." Lily went to the dog and gave it a pat. The dog wagged its tail and licked her hand. Lily laughed and said, ' +
  '"I like you, dog!" They played together all day and then went home to eat dinner with their family.';

test('real prefill (stories260K): B ≥ T is the full cache, totals exact, windows kept, bytes honest, KIVI bound', async () => {
  const dir = sharedDataPath('stories260K');
  const model = await loadModel(`${dir}/stories260K.bin`, { tokenizer: `${dir}/tok512.bin` });
  const rt = await ModelRuntime.create(model);
  try {
    const ids = model.tokenizer!.encode(TEXT, { addBos: true });
    const rec = await rt.prefill(ids, { window: 32 });
    const { spec, weights } = model;
    const T = ids.length;
    const L = spec.numLayers;
    const Hkv = spec.numKvHeads;
    const hd = spec.headDim;
    assert.ok(T > 100, `context of ${T} tokens`);
    for (const name of Object.keys(METHODS).filter((n) => n !== 'profile')) {
      const m = parseMethod(name);
      const lossy = m.quantizer !== null && m.quantizer.options.bits !== '16';
      const full = compressPrefill(rec, spec, weights, m, new Array(L).fill(T));
      full.layers.forEach((layer, l) => {
        const f = rec.cache.layers[l];
        if (!lossy) {
          assert.deepEqual(layer.keys, f.keys, `${name} keys`);
          assert.deepEqual(layer.values, f.values, `${name} values`);
        } else {
          const r = checkKiviLayer(f, layer, Hkv, T, hd, Number(m.quantizer!.options.bits), 32, 128);
          assert.ok(r.changed > 0, `${name} quantised`);
        }
        assert.ok(layer.bias.every((b) => b === 0));
      });
      for (const frac of [0.1, 0.2, 0.5]) {
        const B = Math.floor(frac * T);
        const c = compressPrefill(rec, spec, weights, m, new Array(L).fill(B));
        const total = c.layerEntries.reduce((a, b) => a + b, 0);
        if (m.allocator.name === 'all') assert.equal(total, L * Hkv * T);
        else assert.equal(total, L * Hkv * B, `${name} B=${B}`);
        if (['uniform', 'adakv'].includes(m.allocator.name)) assert.deepEqual(c.layerEntries, new Array(L).fill(Hkv * B), name);
        if (m.allocator.name === 'pyramid') {
          assert.deepEqual(
            c.layerEntries,
            pyramidSchedule(L, B, T, 32, 20, 'clamp').map((b) => b * Hkv),
          );
        }
        const w = ['snapkv', 'criticalkv', 'defensivekv'].includes(m.scorer.name) ? Math.min(32, B) : 0;
        for (const layer of c.kept) for (const k of layer) for (let j = T - w; j < T; j++) assert.ok(k.includes(j), `${name} window ${j}`);
        const bits = m.quantizer ? Math.min(32, Number(m.quantizer.options.bits)) : 32;
        assert.ok(c.physicalBytes >= (c.logicalEntries * 2 * hd * bits) / 8, `${name} bytes`);
      }
    }
  } finally {
    await rt.release();
  }
});
