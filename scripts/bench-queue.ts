/**
 * Queue benchmarks (run on purpose, not in tests). Needs Redis; prints a table and writes JSON.
 *
 *   node --import tsx scripts/bench-queue.ts [--queue redis://127.0.0.1:6379/13] [--quick] [--out results/bench-queue.json]
 *
 * 1. per-job overhead: the same tiny jobs (stories260K, a 24-token prompt, one item) run one after the
 *    other through the local piscina pool and through BullMQ to one `kvopt worker` process on this
 *    machine; overhead = queue ms per job − piscina ms per job.
 * 2. scaling: a workload where the model run dominates (stories260K, 320-token prompts, 8 SnapKV
 *    candidates decoded per sample, as in a search generation), all jobs at once on 1, 2 and 3 worker
 *    processes (one thread each), against piscina with 1 and 2 threads. The machine has as many cores as
 *    `cores` in the JSON says; more worker processes than cores cannot go faster.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseMethod } from '../src/compress/index.ts';
import type { EvalItem } from '../src/engine/evaluate.ts';
import { InferencePool, sizePool } from '../src/engine/pool.ts';
import type { EvaluateSampleResult, EvaluateSampleTask, LoadSamplesResult, ModelRef, TaskRef, WorkerMessage } from '../src/engine/worker.ts';
import { QueueCoordinator } from '../src/queue/coordinator.ts';
import { parseQueueUrl } from '../src/queue/url.ts';
import type { SampleExecutor } from '../src/engine/executor.ts';
import { poolExecutor } from '../src/engine/executor.ts';

const args = process.argv.slice(2);
const flag = (name: string, dflt: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : dflt);
const quick = args.includes('--quick');
const queueUrl = flag('--queue', 'redis://127.0.0.1:6379/13');
const out = flag('--out', 'results/bench-queue.json');
const root = resolve(import.meta.dirname, '..');
const shared = process.env.KVOPT_SHARED_DATA ?? resolve(root, '../shared/data');
const WORKER_URL = new URL('../src/engine/worker.ts', import.meta.url).href;

const model: ModelRef = { path: join(shared, 'stories260K/stories260K.bin'), tokenizer: join(shared, 'stories260K/tok512.bin'), device: 'cpu', threads: 1 };
const data = join(root, 'datasets/stories260k-samples.jsonl');
const taskRef = (contextTokens: number): TaskRef => ({ name: 'continuation', data, options: { contextTokens, continuationTokens: 16 } });

async function loadSamples(pool: InferencePool<object, WorkerMessage, unknown>, task: TaskRef, n: number): Promise<LoadSamplesResult> {
  return (await pool.run({ kind: 'load-samples', model, task, samples: n, seed: 1 }, () => {})) as LoadSamplesResult;
}

function tasks(loaded: LoadSamplesResult, task: TaskRef, items: EvalItem[]): EvaluateSampleTask[] {
  return loaded.samples.map((sample) => ({
    kind: 'evaluate',
    model,
    task,
    sample,
    items,
    prefillCacheDir: null,
    attempt: 1,
    options: { setting: 'question-agnostic', fitness: 'task', batch: items.length, chunkSize: 128, window: 32 },
  }));
}

async function sequential(ex: SampleExecutor, ts: EvaluateSampleTask[]): Promise<number> {
  const t0 = performance.now();
  for (const t of ts) await ex.evaluate(t, () => {});
  return (performance.now() - t0) / ts.length;
}

async function allAtOnce(ex: SampleExecutor, ts: EvaluateSampleTask[]): Promise<number> {
  const t0 = performance.now();
  const rs = await Promise.all(ts.map((t) => ex.evaluate(t, () => {})));
  for (const r of rs as EvaluateSampleResult[]) if (r.results.some((x) => x.status !== 'ok')) throw new Error('a benchmark job failed');
  return performance.now() - t0;
}

function startWorkers(n: number): ChildProcess[] {
  return Array.from({ length: n }, (_, i) =>
    spawn(process.execPath, ['bin/kvopt.mjs', 'worker', '--queue', queueUrl, '--name', `bench-${i}`, '--quiet'], {
      cwd: root,
      stdio: 'ignore',
      env: { ...process.env, KVOPT_CACHE_DIR: join(tmpdir(), 'kvopt-bench-queue-cache') },
    }),
  );
}
const stopWorkers = (ws: ChildProcess[]) =>
  Promise.all(
    ws.map(
      (w) =>
        new Promise((r) => {
          w.once('exit', r);
          w.kill('SIGTERM');
        }),
    ),
  );

async function coordinator(loaded: LoadSamplesResult, task: TaskRef, runId: number): Promise<QueueCoordinator> {
  const q = await QueueCoordinator.connect(parseQueueUrl(queueUrl), { quiet: true });
  q.attach({
    dbPath: join(tmpdir(), 'kvopt-bench-queue.db'),
    runId,
    modelHash: loaded.modelHash,
    model: { path: model.path, tokenizer: model.tokenizer ?? null },
    device: 'cpu',
    dtype: 'fp32',
    data: [task.data],
    threads: 1,
  });
  return q;
}

const load0 = loadavg()[0];
const pool = new InferencePool<object, WorkerMessage, unknown>({ workers: 2, filename: WORKER_URL, sizing: { ...sizePool(2), threadsPerWorker: 1 } });
const piscina2 = poolExecutor(pool, 2);

// 1. Per-job overhead.
const tinyTask = taskRef(24);
const tinyN = quick ? 20 : 60;
const tinyLoaded = await loadSamples(pool, tinyTask, tinyN);
const tinyItems: EvalItem[] = [{ key: 'full', method: parseMethod('full'), budget: { kind: 'tokens', tokens: 2 ** 30 } }];
const tiny = tasks(tinyLoaded, tinyTask, tinyItems);
await sequential(piscina2, tiny.slice(0, 4)); // warm: model and graph loaded in the threads
const piscinaMs = await sequential(piscina2, tiny);
let ws = startWorkers(1);
let q = await coordinator(tinyLoaded, tinyTask, 1);
await sequential(q, tiny.slice(0, 4));
const queueMs = await sequential(q, tiny);
await q.close();
await stopWorkers(ws);

// 2. Scaling on a model-dominated workload.
const bigTask = taskRef(320);
const bigN = quick ? 6 : 12;
const bigLoaded = await loadSamples(pool, bigTask, bigN);
const candidates: EvalItem[] = Array.from({ length: 8 }, (_, i) => ({
  key: `c${i}`,
  method: parseMethod('snapkv'),
  budget: { kind: 'tokens', tokens: 16 + 4 * i },
}));
const big = tasks(bigLoaded, bigTask, candidates);
const piscina1 = new InferencePool<object, WorkerMessage, unknown>({ workers: 1, filename: WORKER_URL, sizing: { workers: 1, threadsPerWorker: 1 } });
await allAtOnce(poolExecutor(piscina1, 1), big.slice(0, 1));
const scaling: { executor: string; processes: number; wallMs: number }[] = [];
scaling.push({ executor: 'piscina', processes: 1, wallMs: await allAtOnce(poolExecutor(piscina1, 1), big) });
await allAtOnce(piscina2, big.slice(0, 2));
scaling.push({ executor: 'piscina', processes: 2, wallMs: await allAtOnce(piscina2, big) });
await piscina1.close();
await pool.close();
for (const n of [1, 2, 3]) {
  ws = startWorkers(n);
  q = await coordinator(bigLoaded, bigTask, 10 + n);
  await allAtOnce(q, big.slice(0, n)); // every worker joined, its model and graph loaded
  scaling.push({ executor: 'queue', processes: n, wallMs: await allAtOnce(q, big) });
  await q.close();
  await stopWorkers(ws);
}

const result = {
  date: new Date().toISOString(),
  cores: availableParallelism(),
  cpu: cpus()[0]?.model ?? 'unknown',
  loadAverageAtStart: load0,
  loadAverageAtEnd: loadavg()[0],
  perJob: { jobs: tiny.length, piscinaMs, queueMs, overheadMs: queueMs - piscinaMs },
  scaling: { jobs: big.length, itemsPerJob: candidates.length, rows: scaling.map((r) => ({ ...r, vsPiscina1: scaling[0].wallMs / r.wallMs })) },
};
console.log(
  `per job: piscina ${piscinaMs.toFixed(1)} ms, queue ${queueMs.toFixed(1)} ms, overhead ${(queueMs - piscinaMs).toFixed(1)} ms (${tiny.length} jobs one after the other)`,
);
for (const r of result.scaling.rows)
  console.log(
    `${r.executor.padEnd(8)} ${r.processes} process${r.processes > 1 ? 'es' : '  '} ${(r.wallMs / 1000).toFixed(2)} s  speed-up ${r.vsPiscina1.toFixed(2)}× vs piscina 1`,
  );
console.log(`cores ${result.cores}, load average ${load0.toFixed(1)} → ${result.loadAverageAtEnd!.toFixed(1)}`);
mkdirSync(dirname(resolve(root, out)), { recursive: true });
writeFileSync(resolve(root, out), JSON.stringify(result, null, 2) + '\n');
process.exit(0);
