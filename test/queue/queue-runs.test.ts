// Queued runs against the real Redis: a coordinator and two `kvopt worker` processes give exactly the
// rows of a single-machine (piscina) run, for an eval and for a search, with one prefill per sample; two
// coordinators on one Redis at once never mix; a worker whose model file differs refuses the run and the
// coordinator says which worker and why; nothing of a run is left in Redis when it ends; workers exit 0
// on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evalRows, kvoptKeys, MODEL, redisCli, run, searchResult, startWorker, stop, TOKENIZER, writeEvalConfig, writeSearchConfig } from './helpers.ts';

const DB = 10;
const QUEUE = `redis://127.0.0.1:6379/${DB}`;

test('queued eval and search on two workers equal the single-machine runs; two coordinators apart; a wrong model is refused', {
  timeout: 600_000,
}, async () => {
  redisCli(['-n', String(DB), 'FLUSHDB']);
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-queue-runs-'));
  const env = { KVOPT_CACHE_DIR: join(dir, 'cache') };
  const evalCfg = writeEvalConfig(dir, 'queue-eval');
  // The second coordinator's experiment has other prompts (two runs of one experiment would share the
  // workers' prefill records, and which run prefilled what would depend on timing).
  const evalCfg2 = writeEvalConfig(dir, 'queue-eval-2', 4, 144);
  const searchCfg = writeSearchConfig(dir);

  // Single machine (the local piscina pool).
  const ref = await run(['eval', '--config', evalCfg, '--db', join(dir, 'ref', 'k.db'), '--quiet'], env);
  assert.equal(ref.status, 0, ref.output);
  const ref2 = await run(['eval', '--config', evalCfg2, '--db', join(dir, 'ref2', 'k.db'), '--quiet'], env);
  assert.equal(ref2.status, 0, ref2.output);
  const refSearch = await run(
    ['search', '--config', searchCfg, '--db', join(dir, 'ref-search', 'k.db'), '--json', join(dir, 'ref-search.json'), '--quiet'],
    env,
  );
  assert.equal(refSearch.status, 0, refSearch.output);

  // A copy of the model with one weight changed: same shape, other weights hash.
  const wrong = join(dir, 'wrong.bin');
  copyFileSync(MODEL(), wrong);
  const fd = openSync(wrong, 'r+');
  writeSync(fd, Buffer.from([0x3f, 0x80, 0x00, 0x00]), 0, 4, 4096); // inside the token embedding table
  closeSync(fd);

  const a = await startWorker(QUEUE, ['--name', 'wA'], env);
  const b = await startWorker(QUEUE, ['--name', 'wB'], env);
  const c = await startWorker(QUEUE, ['--name', 'wWrong', '--model', wrong, '--tokenizer', TOKENIZER()], env);
  try {
    // Two coordinators on one Redis at once.
    const [q1, q2] = await Promise.all([
      run(['eval', '--config', evalCfg, '--db', join(dir, 'q1', 'k.db'), '--queue', QUEUE], env),
      run(['eval', '--config', evalCfg2, '--db', join(dir, 'q2', 'k.db'), '--queue', QUEUE], env),
    ]);
    assert.equal(q1.status, 0, q1.output);
    assert.equal(q2.status, 0, q2.output);
    const expected = evalRows(join(dir, 'ref', 'k.db'));
    assert.equal(expected.length, 4 * 2 * 5);
    assert.deepEqual(evalRows(join(dir, 'q1', 'k.db')), expected);
    assert.deepEqual(evalRows(join(dir, 'q2', 'k.db')), evalRows(join(dir, 'ref2', 'k.db')));
    for (const q of [q1, q2]) {
      assert.match(q.output, /prefills \(1\.00 per sample\)/);
      assert.match(q.output, /eval run 1: 40\/40 .*\| workers 2, jobs in flight \d+/, 'progress shows the workers and the jobs in flight');
      assert.match(q.output, /worker wWrong \(.*\) refused this run: model file .*wrong\.bin differs from the run's \(weights hash/);
    }
    assert.match(c.output(), /refusing run .*wrong\.bin differs/);
    assert.deepEqual(kvoptKeys({ port: 6379, db: DB }), [], 'nothing of the runs is left in Redis');

    const qs = await run(['search', '--config', searchCfg, '--db', join(dir, 'qs', 'k.db'), '--queue', QUEUE, '--json', join(dir, 'qs.json')], env);
    assert.equal(qs.status, 0, qs.output);
    assert.match(qs.output, /prefills \(1\.00 per sample\)/);
    assert.deepEqual(searchResult(readFileSync(join(dir, 'qs.json'), 'utf8')), searchResult(readFileSync(join(dir, 'ref-search.json'), 'utf8')));
    // Both good workers took part.
    assert.match(a.output(), /joined run/);
    assert.match(b.output(), /joined run/);
    assert.deepEqual(kvoptKeys({ port: 6379, db: DB }), []);
  } finally {
    const codes = [await stop(a), await stop(b), await stop(c)];
    assert.deepEqual(codes, [0, 0, 0], 'workers exit 0 on SIGTERM');
  }
});
