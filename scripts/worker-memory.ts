/**
 * What one more pool worker costs in memory (issue 16): the steps a worker thread takes for its model
 * (src/engine/worker.ts getModel/getRuntime: load the weights, build the session, release the host copy but W_o),
 * then a prefill with value norms, each as the growth of this process's RSS. Run on purpose, not in tests:
 *
 *   node --expose-gc --import tsx scripts/worker-memory.ts [--model random:100m] [--tokens 1024] [--out results/worker-memory.json]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { parameterCountOfSpec } from '../src/model/random-lazy.ts';
import { releaseHostWeights } from '../src/model/release.ts';
import { openModel } from '../src/runtime/model-ref.ts';
import { ModelRuntime } from '../src/runtime/runtime.ts';

const args = process.argv.slice(2);
const flag = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const modelRef = flag('--model', 'random:100m');
const T = Number(flag('--tokens', '1024'));
const out = flag('--out', 'results/worker-memory.json');
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const MiB = 2 ** 20;
const rss = async () => {
  gc();
  await new Promise((r) => setTimeout(r, 100));
  gc();
  return process.memoryUsage().rss;
};

const start = await rss();
const model = await openModel(modelRef);
const loaded = await rss();
const runtime = await ModelRuntime.create(model, { intraOpNumThreads: 1 });
const session = await rss();
releaseHostWeights(model.weights, new Set(['wo']));
const released = await rss();
const record = await runtime.prefill(
  Array.from({ length: T }, (_, i) => 3 + (i % 500)),
  { window: 32 },
);
await runtime.ensureValueNorms(record);
const working = await rss();
const weightBytes = 4 * parameterCountOfSpec(model.spec);
const mib = (b: number) => Math.round(b / MiB);
const result = {
  model: modelRef,
  weightsFp32MiB: mib(weightBytes),
  rssGrowthMiB: {
    loadWeights: mib(loaded - start),
    buildSession: mib(session - loaded),
    releaseHostCopy: mib(released - session),
    prefill: mib(working - released),
  },
  perWorkerMiB: { before: mib(session - start), afterRelease: mib(released - start), withPrefill: mib(working - start) },
  perWorkerXWeights: { before: (session - start) / weightBytes, afterRelease: (released - start) / weightBytes, withPrefill: (working - start) / weightBytes },
  prefillTokens: T,
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), loadavg: loadavg() },
  date: new Date().toISOString(),
};
await runtime.release();
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(result, null, 2));
