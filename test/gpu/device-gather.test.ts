/**
 * Compression on the device (WebGPU, issue #10 item 4): a prefill's K/V stay GPU buffers (record.device), the host
 * picks the kept entries from the statistics, the gather graph builds the compressed decode batch on the device
 * with the kept indices as the only upload, and decode runs from it. Checked against the host path on the CPU
 * provider (compressPrefill + host caches): the same kept entries, the same greedy tokens, log-likelihoods within
 * the WebGPU tests' logit tolerance; and the bytes: a gather uploads exactly the int32 indices, downloads nothing.
 * CriticalKV / DefensiveKV's value norms are computed on the device in float32 (WebGPU has no float64) from the
 * device-resident V: checked against the float64 graph on the same V (relative 1e-5; measured ≤ 1.6e-7 on lavapipe),
 * and only the norms come down (no cache download).
 * Real WebGPU (lavapipe in CI; KVOPT_REQUIRE_WEBGPU=1 / CI=true make a missing adapter a failure).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/model/load.ts';
import { ModelRuntime } from '../../src/runtime/runtime.ts';
import { ValueNormRunner } from '../../src/runtime/value-norms.ts';
import type { LoadedModel } from '../../src/model/spec.ts';
import type { PrefillRecord } from '../../src/runtime/types.ts';
import { compressPrefill, parseMethod, selectKept } from '../../src/compress/index.ts';
import { evaluateItems } from '../../src/engine/evaluate.ts';
import type { Sample, TaskDefinition } from '../../src/tasks/types.ts';
import { sharedDataPath } from '../helpers/shared-data.ts';
import { needWebgpu } from '../helpers/webgpu.ts';
import { randomTokens, testCacheDir, tinyModel } from '../runtime/helpers.ts';

/** Largest |a − b| / |b| over every layer's norms. */
function worstRelative(a: Float64Array[], b: Float64Array[]): number {
  let worst = 0;
  a.forEach((layer, l) => {
    assert.equal(layer.length, b[l].length);
    for (let i = 0; i < layer.length; i++) worst = Math.max(worst, Math.abs(layer[i] - b[l][i]) / Math.abs(b[l][i]));
  });
  return worst;
}

/**
 * Relative tolerance of the float32 device norms (an L1 sum of D products of hd terms each): measured ≤ 1.6e-7 on
 * lavapipe against float64 on the same V; 1e-5 leaves room for another adapter's summation order.
 */
const NORM_TOL = 1e-5;

/**
 * The device norms of a WebGPU prefill of `prompt` against the float64 graph on the same (downloaded) V, and the
 * bytes: W_o per head up once, the norms [Hkv, T] f32 per layer down, the cache never.
 */
async function checkDeviceNorms(model: LoadedModel, gpu: ModelRuntime, prompt: number[], what: string): Promise<{ rec: PrefillRecord; worst: number }> {
  const { numLayers: L, numKvHeads: Hkv, numHeads: H, headDim: hd, hiddenSize: D } = model.spec;
  const T = prompt.length;
  const rec = await gpu.prefill(prompt, { window: 16, chunkSize: 256 });
  assert.ok(rec.device, `${what}: the WebGPU prefill keeps its cache on the device`);
  const io = { ...gpu.io };
  const norms = await gpu.ensureValueNorms(rec);
  const runs = L * Math.ceil(T / 512);
  assert.equal(gpu.io.cacheDownloads, io.cacheDownloads, `${what}: the norms need no cache download`);
  assert.equal(gpu.io.deviceToHost - io.deviceToHost, L * Hkv * T * 4, `${what}: only the float32 norms come down`);
  assert.equal(gpu.io.hostToDevice - io.hostToDevice, L * H * hd * D * 4 + runs * 16, `${what}: W_o once, then a token range per run`);
  const cpuNorms = await ValueNormRunner.create(model.spec, model.weights, 1);
  const ref = await cpuNorms.norms(await gpu.hostCache(rec), T);
  await cpuNorms.release();
  const worst = worstRelative(norms, ref);
  assert.ok(worst < NORM_TOL, `${what}: float32 device norms differ from float64 by ${worst} (relative)`);
  return { rec, worst };
}

test('WebGPU: snapkv, adakv (head-wise), a per-layer profile, criticalkv and defensivekv gathered on the device = the host path on the CPU', {
  timeout: 300_000,
}, async (t) => {
  if (!needWebgpu(t)) return;
  const model = await loadModel(sharedDataPath('stories260K', 'stories260K.bin'), { tokenizer: sharedDataPath('stories260K', 'tok512.bin') });
  const { numLayers: L, numKvHeads: Hkv, headDim: hd } = model.spec;
  const gpu = await ModelRuntime.create(model, { cacheDir: testCacheDir, device: 'webgpu', requireDevice: true });
  const cpu = await ModelRuntime.create(model, { cacheDir: testCacheDir, intraOpNumThreads: 1 });
  const text =
    'Once upon a time, there was a little dog named Max. Max liked to play in the park with his red ball every day. One day, Max saw a big cat in the tree and barked loudly at it.';
  const prompt = model.tokenizer!.encode(text, { addBos: true });
  const T = prompt.length;
  // chunks of 16: the device cache grows over several runs
  const g = await gpu.prefill(prompt, { window: 32, chunkSize: 16 });
  const c = await cpu.prefill(prompt, { window: 32, chunkSize: 16 });
  assert.ok(g.device, 'the WebGPU prefill keeps its cache on the device');
  assert.throws(() => g.cache, /on the device/);
  // CriticalKV / DefensiveKV read the value norms: on the device from its V, in float32 (checkDeviceNorms has the bytes)
  await gpu.ensureValueNorms(g);
  await cpu.ensureValueNorms(c);
  assert.equal(gpu.io.cacheDownloads, 0, 'the norms need no cache download');
  const afterPrefill = { ...gpu.io };

  const profile = Array.from({ length: L }, (_, l) => 34 + 4 * l); // budgets above the window of 32
  const items = [
    { method: 'snapkv', budgets: new Array<number>(L).fill(40) },
    { method: 'adakv', budgets: new Array<number>(L).fill(40) },
    { method: 'snapkv', budgets: profile },
    { method: 'full', budgets: new Array<number>(L).fill(T) },
    { method: 'criticalkv', budgets: new Array<number>(L).fill(40) },
    { method: 'defensivekv', budgets: new Array<number>(L).fill(40) },
  ];
  const host = items.map((it) => compressPrefill(c, model.spec, model.weights, it.method, it.budgets));
  const sel = items.map((it) => selectKept(g, model.spec, model.weights, it.method, it.budgets));
  sel.forEach((s, i) => assert.deepEqual(s.kept, host[i].kept, `${items[i].method}: the kept entries differ between the WebGPU and CPU statistics`));
  // the norm readers at more budgets: float32 device norms select what the CPU's float64 norms select
  for (const method of ['criticalkv', 'ada-criticalkv', 'defensivekv', 'layer-defensivekv']) {
    for (const b of [33, 40, 48, 56, 64]) {
      const budgets = new Array<number>(L).fill(b);
      const onGpu = selectKept(g, model.spec, model.weights, method, budgets).kept;
      assert.deepEqual(onGpu, compressPrefill(c, model.spec, model.weights, method, budgets).kept, `${method} budget ${b}: kept entries differ`);
    }
  }
  assert.ok(
    sel[1].kept.some((layer) => layer.some((k) => k.length !== layer[0].length)),
    'adakv gives heads different counts (padding on the device)',
  );

  // the gather: its upload is the int32 indices of the padded batch, nothing comes down
  const dev = await gpu.gatherOnDevice(
    g,
    sel.map((s) => s.kept),
  );
  let indexBytes = 0;
  for (let l = 0; l < L; l++) indexBytes += sel.length * Hkv * Math.max(...sel.map((s) => Math.max(...s.kept[l].map((k) => k.length)))) * 4;
  assert.equal(gpu.io.hostToDevice - afterPrefill.hostToDevice, indexBytes);
  assert.equal(gpu.io.deviceToHost, afterPrefill.deviceToHost);

  const last = items.map(() => c.lastLogits);
  const answer = model.tokenizer!.encode(' He ran to the park.', { addBos: false });
  const llDev = await gpu.answerLogLikelihood(
    dev,
    items.map(() => []),
    items.map(() => answer),
    { lastLogits: last },
  );
  const llHost = await cpu.answerLogLikelihood(
    host,
    items.map(() => []),
    items.map(() => answer),
    { lastLogits: last },
  );
  llDev.forEach((r, i) => {
    for (let j = 0; j < answer.length; j++) {
      assert.ok(
        Math.abs(r.tokenLogProbs[j] - llHost[i].tokenLogProbs[j]) < 1e-3,
        `${items[i].method} token ${j}: ${r.tokenLogProbs[j]} vs ${llHost[i].tokenLogProbs[j]}`,
      );
    }
  });
  // greedy decode through a question fed to the device batch first (question-agnostic), then 24 tokens
  const question = model.tokenizer!.encode(' Where did Max go?', { addBos: false });
  const opts = { maxNewTokens: 24, stopTokens: [], lastLogits: last };
  const genDev = await gpu.generateBatch(
    dev,
    items.map(() => question),
    opts,
  );
  dev.dispose();
  const genHost = await cpu.generateBatch(
    host,
    items.map(() => question),
    opts,
  );
  genDev.forEach((r, i) => assert.deepEqual(r.tokens, genHost[i].tokens, `${items[i].method}: tokens differ`));
  t.diagnostic(`gather upload ${indexBytes} bytes for ${items.length} items (the full cache: ${2 * L * Hkv * hd * 4 * T} bytes)`);

  // the host copy: downloaded once on demand, counted, equal to the CPU's cache
  const before = gpu.io.deviceToHost;
  const hc = await gpu.hostCache(g);
  assert.equal(gpu.io.deviceToHost - before, 2 * L * Hkv * T * hd * 4);
  let maxErr = 0;
  for (let l = 0; l < L; l++)
    for (let i = 0; i < hc.layers[l].keys.length; i++) maxErr = Math.max(maxErr, Math.abs(hc.layers[l].keys[i] - c.cache.layers[l].keys[i]));
  assert.ok(maxErr < 1e-4, `downloaded keys differ from the CPU's by ${maxErr}`);
  assert.equal(await gpu.hostCache(g), hc, 'downloaded once');
  assert.equal(gpu.io.cacheDownloads, 1);
  g.device?.dispose();
  await gpu.release();
  await cpu.release();
});

test('WebGPU: evaluateItems gathers on the device (criticalkv/defensivekv with device norms), snapkv+kivi4 takes the host path; scores = the CPU; bytes counted', {
  timeout: 300_000,
}, async (t) => {
  if (!needWebgpu(t)) return;
  const model = await loadModel(sharedDataPath('stories260K', 'stories260K.bin'), { tokenizer: sharedDataPath('stories260K', 'tok512.bin') });
  const { numLayers: L, numKvHeads: Hkv, headDim: hd } = model.spec;
  const gpu = await ModelRuntime.create(model, { cacheDir: testCacheDir, device: 'webgpu', requireDevice: true });
  const cpu = await ModelRuntime.create(model, { cacheDir: testCacheDir, intraOpNumThreads: 1 });
  const tok = model.tokenizer!;
  const ids = tok.encode(
    'Once upon a time, there was a little girl named Lily. She loved to play with her toys in the garden. One day, she found a shiny stone under a big tree and showed it to her mom.',
    { addBos: true },
  );
  const T = ids.length - 12;
  // continuation scoring after a question decoded through each compressed cache (the evaluate paths of a search)
  const prompt = { contextIds: ids.slice(0, T - 4), questionIds: ids.slice(T - 4, T), answerIds: ids.slice(T), isContinuation: true };
  const tokens40 = { kind: 'tokens' as const, tokens: 40 };
  const items = [
    { key: 'snapkv', method: parseMethod('snapkv'), budget: tokens40 },
    { key: 'adakv', method: parseMethod('adakv'), budget: tokens40 },
    { key: 'profile', method: parseMethod('snapkv'), budget: { kind: 'profile' as const, layers: Array.from({ length: L }, (_, l) => 34 + 4 * l) } },
    { key: 'kivi', method: parseMethod('snapkv+kivi4'), budget: tokens40 },
    { key: 'criticalkv', method: parseMethod('criticalkv'), budget: tokens40 },
    { key: 'defensivekv', method: parseMethod('defensivekv'), budget: tokens40 },
  ];
  const opts = { setting: 'question-agnostic' as const, fitness: 'task' as const, batch: 4, chunkSize: 16 };
  // the continuation path reads no task, tokenizer text or sample fields
  const noTask = null as unknown as TaskDefinition;
  const sample = { id: 's' } as Sample;
  const run = async (rt: ModelRuntime) => {
    const record = await rt.prefill(prompt.contextIds, { window: 32, chunkSize: 16 });
    const io = { ...rt.io };
    const results = await evaluateItems(rt, tok, noTask, sample, prompt, record, items, opts);
    record.device?.dispose();
    return {
      results,
      up: rt.io.hostToDevice - io.hostToDevice,
      down: rt.io.deviceToHost - io.deviceToHost,
      downloads: rt.io.cacheDownloads - io.cacheDownloads,
    };
  };
  const g = await run(gpu);
  const c = await run(cpu);
  for (const r of [...g.results, ...c.results]) assert.equal(r.status, 'ok', `${r.key}: ${r.error}`);
  for (const key of items.map((it) => it.key)) {
    const a = g.results.find((r) => r.key === key)!;
    const b = c.results.find((r) => r.key === key)!;
    assert.deepEqual(a.headBudgets, b.headBudgets, key);
    assert.equal(a.kvBytes, b.kvBytes, key);
    assert.equal(a.metrics.top1, b.metrics.top1, key);
    assert.ok(Math.abs(a.metrics.loglik - b.metrics.loglik) < 1e-3, `${key}: loglik ${a.metrics.loglik} vs ${b.metrics.loglik}`);
  }
  // down: the value norms (float32, [Hkv, T] per layer), the host copy once (for the KIVI item), the logits of the
  // scored positions only, one per answer token (6 items and the full-cache reference; the question's rows never
  // come down), and the KIVI item's host-path run's column sums over the fed positions; the device items' caches
  // never come down, not even for CriticalKV / DefensiveKV's norms
  const Tc = prompt.contextIds.length;
  const { numHeads: H, vocabSize: V } = model.spec;
  const fed = prompt.questionIds.length + prompt.answerIds.length - 1;
  const cacheBytes = 2 * L * Hkv * Tc * hd * 4;
  t.diagnostic(`evaluateItems on WebGPU: ${g.up} bytes up, ${g.down} down; the prompt's cache ${cacheBytes} bytes`);
  assert.equal(g.downloads, 1, 'the KIVI item downloads the prefill once; the gathered items never');
  // the KIVI cache: 40 entries per head
  const scored = prompt.answerIds.length;
  assert.equal(g.down, L * Hkv * Tc * 4 + cacheBytes + (items.length + 1) * scored * V * 4 + L * H * (40 + fed) * 4);
  await gpu.release();
  await cpu.release();
});

test('WebGPU: value norms on the device (float32) = the float64 graph on the same V: stories260K, a random GQA model (fp32, fp16)', {
  timeout: 300_000,
}, async (t) => {
  if (!needWebgpu(t)) return;
  const stories = await loadModel(sharedDataPath('stories260K', 'stories260K.bin'), { tokenizer: sharedDataPath('stories260K', 'tok512.bin') });
  // GQA 4/2 (G = 2: the mean over a group's heads), 700 tokens: more than one 512-token run
  const random = tinyModel({ numLayers: 2, numHeads: 4, numKvHeads: 2, maxPositionEmbeddings: 1024 }, 3);
  const cases = [
    { what: 'stories260K', model: stories, precision: 'fp32' as const, prompt: randomTokens(200, stories.spec.vocabSize, 5) },
    { what: 'random fp32', model: random, precision: 'fp32' as const, prompt: randomTokens(700, random.spec.vocabSize, 9) },
    { what: 'random fp16', model: random, precision: 'fp16' as const, prompt: randomTokens(700, random.spec.vocabSize, 9) },
  ];
  for (const { what, model, precision, prompt } of cases) {
    const gpu = await ModelRuntime.create(model, { cacheDir: testCacheDir, device: 'webgpu', requireDevice: true, graphOptions: { precision } });
    const { rec, worst } = await checkDeviceNorms(model, gpu, prompt, what);
    t.diagnostic(`${what}: device float32 norms vs float64, worst relative difference ${worst.toExponential(2)}`);
    rec.device?.dispose();
    await gpu.release();
  }
});
