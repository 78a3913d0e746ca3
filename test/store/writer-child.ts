/**
 * A writer for the SIGKILL test (run by kill.test.ts, not a test itself):
 *   node --import tsx writer-child.ts DB loop RUN_ID   saves generations and evaluations until killed,
 *       continuing after the latest stored generation, printing `gen N` / `eval N` after each commit;
 *   node --import tsx writer-child.ts DB loop RUN_ID N after N generations, opens one big transaction,
 *       prints `mid` and spins inside it.
 * A tiny page cache makes SQLite spill uncommitted pages into the WAL mid-transaction, the case a
 * crash must not expose.
 */
import { statSync, writeSync } from 'node:fs';
import { Store } from '../../src/store/store.ts';

const [path, , runArg, hangArg] = process.argv.slice(2) as [string, 'loop', string, string | undefined];
const hangAfter = hangArg === undefined ? Infinity : Number(hangArg);
const store = Store.open(path);
store.db.pragma('cache_size = 8');
const runId = Number(runArg);
store.resumeRun(runId);
const CANDIDATES = 40;
const say = (s: string) => writeSync(1, `${s}\n`);

function candidates(g: number) {
  return Array.from({ length: CANDIDATES }, (_, i) => ({
    index: i,
    budgets: Array.from({ length: 32 }, (_, l) => g + i + l),
    fitness: g + i / 100,
    taskScore: i / 100,
    cacheScore: 1,
    sampleScores: Object.fromEntries(Array.from({ length: 200 }, (_, k) => [String(k), (g * 7 + i * 3 + k) % 11])),
  }));
}

function generation(g: number) {
  return {
    runId,
    group: 0,
    generation: g,
    optimizerState: { mean: Array.from({ length: 32 }, (_, l) => g + l), sigma: 0.3, pad: 'x'.repeat(4000) },
    bestFitness: g + 0.39,
    medianFitness: g,
  };
}

const sampleIds = store.registerSamples(
  runId,
  Array.from({ length: 50 }, (_, k) => ({ task: 't', key: String(k), contentHash: `c${k}`, split: 'eval' as const })),
);
let g = (store.loadLatestGeneration(runId)?.generation ?? -1) + 1;
let e = store.evaluationsForRun(runId).length;

const walBytes = () => statSync(`${path}-wal`).size;

function hang(): never {
  say(`wal ${walBytes()}`);
  return store.transaction(() => {
    store.saveGeneration(generation(g), candidates(g));
    for (let k = 0; k < 20; k++) {
      store.insertEvaluation({
        runId,
        sampleId: sampleIds[k],
        method: 'hang',
        budget: '1',
        setting: 's',
        score: 1,
        status: 'ok',
        prediction: 'y'.repeat(2000),
      });
    }
    say(`mid ${walBytes()}`);
    for (;;) {
      // spin inside the open transaction until killed
    }
  });
}

for (let done = 0; ; done++) {
  if (done === hangAfter) hang();
  store.saveGeneration(generation(g), candidates(g));
  say(`gen ${g}`);
  g++;
  for (let k = 0; k < 5; k++, e++) {
    const sampleId = sampleIds[e % 50];
    store.insertEvaluation({
      runId,
      sampleId,
      method: 'm',
      budget: String(Math.floor(e / 50)),
      setting: 's',
      score: e,
      status: 'ok',
      prediction: `p${e}`,
      kvEntries: e,
      kvBytes: 2 * e,
    });
    say(`eval ${e}`);
  }
  store.heartbeat(runId);
}
