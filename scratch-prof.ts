import * as ort from 'onnxruntime-node';
const orig = ort.InferenceSession.create.bind(ort.InferenceSession);
const sessions: ort.InferenceSession[] = [];
(ort.InferenceSession as any).create = async (a: any, o: any) => {
  const s = await orig(a, { ...(o ?? {}), enableProfiling: process.env.PROF === '1', profileFilePrefix: '/tmp/ortprof' });
  sessions.push(s);
  return s;
};
const { openModel } = await import('./src/runtime/model-ref.ts');
const { ModelRuntime } = await import('./src/runtime/runtime.ts');
const { parseMethod } = await import('./src/compress/index.ts');
const { evaluateItems } = await import('./src/engine/evaluate.ts');
const { mulberry32 } = await import('./src/util/mulberry32.ts');
const model = await openModel('random:100m', {});
const rt = await ModelRuntime.create(model, {});
const r = mulberry32(1);
const ids = Array.from({ length: 2048 }, () => 3 + Math.floor(r() * 31990));
const T = 2016;
const prompt = { contextIds: ids.slice(0, T), questionIds: [], answerIds: ids.slice(T), isContinuation: true };
const rec = await rt.prefill(prompt.contextIds, { window: 32, chunkSize: 512 });
const m = parseMethod(process.env.M ?? 'snapkv');
const items = [0.1, 0.2, 0.5].map((keep, i) => ({ key: `k${i}`, method: m, budget: { kind: 'fraction' as const, keep } }));
const opts = { setting: 'question-agnostic' as const, fitness: 'task' as const, chunkSize: 512, batch: Number(process.env.B ?? 3) };
for (let rep = 0; rep < 10; rep++) {
  if (rep === 4) console.log('MARK', Number(process.hrtime.bigint() / 1000n));
  const w = performance.now(); const f0 = process.resourceUsage(); 
  const res = await evaluateItems(rt, null as never, null as never, { id: 'b' } as any, prompt, rec, items, opts);
  const s = (k: string) => res.reduce((a, x: any) => a + x[k], 0) / 3;
  console.log(rep, ((performance.now() - w) / 3).toFixed(1), 'compress', s('compressMs').toFixed(1), 'decode', s('decodeMs').toFixed(1), 'metrics', s('metricsMs').toFixed(1), 'faults/item', ((process.resourceUsage().minorPageFault - f0.minorPageFault)/3).toFixed(0), 'sys ms/item', ((process.resourceUsage().systemCPUTime - f0.systemCPUTime)/3000).toFixed(0), 'user', ((process.resourceUsage().userCPUTime - f0.userCPUTime)/3000).toFixed(0));
}
for (const s of sessions) if (process.env.PROF === '1') console.log(s.endProfiling());
await rt.release();
