// Faults of a queued run, against real Redis servers and real processes:
// - workers SIGKILLed in the middle of a job (one in the shared queue: BullMQ's stalled-job check hands
//   it on; one later, with its own queue of sticky samples: the coordinator hands those on): the search
//   ends exactly as on one machine;
// - the coordinator SIGKILLed: --resume finishes the run, no row lost or doubled, what the dead
//   coordinator left in Redis is removed and never applied;
// - Redis (a test-owned server, with a password given through a file) killed and restarted mid-run: the
//   coordinator stops with one line, the worker reconnects, --resume finishes identically; the password
//   appears in no output and not in the database.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { count } from '../engine/cli-run.ts';
import {
  evalRows,
  killRedis,
  kvoptKeys,
  redisCli,
  run,
  searchResult,
  start,
  startRedis,
  startWorker,
  stop,
  writeEvalConfig,
  writeSearchConfig,
} from './helpers.ts';

const DB = 11;
const QUEUE = `redis://127.0.0.1:6379/${DB}`;

async function until(cond: () => boolean, what: string, ms = 120_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('workers SIGKILLed mid-job: their jobs go to another worker and the search equals the single-machine one', { timeout: 600_000 }, async () => {
  redisCli(['-n', String(DB), 'FLUSHDB']);
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-queue-kill-worker-'));
  const env = { KVOPT_CACHE_DIR: join(dir, 'cache') };
  const cfg = writeSearchConfig(dir, 3);
  const ref = await run(['search', '--config', cfg, '--db', join(dir, 'ref', 'k.db'), '--json', join(dir, 'ref.json'), '--quiet'], env);
  assert.equal(ref.status, 0, ref.output);

  // wA holds its first job (a shared-queue job of generation 1), wC its third (by then, samples it owns).
  const a = await startWorker(QUEUE, ['--name', 'wA'], { ...env, KVOPT_FAULT_HOLD_JOB: '1' });
  const b = await startWorker(QUEUE, ['--name', 'wB'], env);
  const c = await startWorker(QUEUE, ['--name', 'wC'], { ...env, KVOPT_FAULT_HOLD_JOB: '3' });
  try {
    const coordinator = start(['search', '--config', cfg, '--db', join(dir, 'q', 'k.db'), '--queue', QUEUE, '--json', join(dir, 'q.json')], env);
    await a.waitFor(/holding job/);
    a.child.kill('SIGKILL');
    await c.waitFor(/holding job/);
    c.child.kill('SIGKILL');
    assert.equal(await coordinator.exited, 0, coordinator.output());
    const out = coordinator.output();
    assert.match(out, /worker wA \(.*\) is gone/);
    assert.match(out, /worker wC \(.*\) is gone/);
    assert.deepEqual(searchResult(readFileSync(join(dir, 'q.json'), 'utf8')), searchResult(readFileSync(join(dir, 'ref.json'), 'utf8')));
    assert.deepEqual(kvoptKeys({ port: 6379, db: DB }), []);
  } finally {
    for (const w of [a, c]) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    assert.equal(await stop(b), 0);
  }
});

test('coordinator SIGKILLed: --resume finishes the run with every row once; the dead run is cleared from Redis', { timeout: 600_000 }, async () => {
  redisCli(['-n', String(DB), 'FLUSHDB']);
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-queue-kill-coordinator-'));
  const env = { KVOPT_CACHE_DIR: join(dir, 'cache') };
  const cfg = writeEvalConfig(dir, 'queue-resume', 6);
  const ref = await run(['eval', '--config', cfg, '--db', join(dir, 'ref', 'k.db'), '--quiet'], env);
  assert.equal(ref.status, 0, ref.output);

  const a = await startWorker(QUEUE, ['--name', 'wA'], env);
  const b = await startWorker(QUEUE, ['--name', 'wB'], env);
  try {
    const db = join(dir, 'q', 'k.db');
    const coordinator = start(['eval', '--config', cfg, '--db', db, '--queue', QUEUE], env);
    await until(() => count(db, 'SELECT COUNT(*) AS n FROM evaluations') >= 12, 'a third of the evaluations');
    coordinator.child.kill('SIGKILL');
    await coordinator.exited;
    const stored = count(db, 'SELECT COUNT(*) AS n FROM evaluations');
    assert.ok(stored < 60, `killed with ${stored} of 60 stored`);
    assert.ok(kvoptKeys({ port: 6379, db: DB }).length > 0, 'the dead coordinator left its run in Redis');

    const resumed = await run(['eval', '--config', cfg, '--db', db, '--queue', QUEUE, '--resume'], env);
    assert.equal(resumed.status, 0, resumed.output);
    assert.match(resumed.output, /removed what an earlier coordinator of this run left in Redis/);
    const rows = evalRows(db);
    assert.equal(rows.length, 60);
    assert.deepEqual(rows, evalRows(join(dir, 'ref', 'k.db')));
    assert.deepEqual(kvoptKeys({ port: 6379, db: DB }), []);
  } finally {
    assert.deepEqual([await stop(a), await stop(b)], [0, 0]);
  }
});

test('Redis restarted mid-run: one line, the worker reconnects, --resume finishes identically; the password is never shown or stored', {
  timeout: 600_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-queue-redis-restart-'));
  const env = { KVOPT_CACHE_DIR: join(dir, 'cache') };
  const port = 6391;
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const pwFile = join(dir, 'redis-password');
  writeFileSync(pwFile, `${password}\n`);
  const queue = `redis://127.0.0.1:${port}`;
  const cfg = writeEvalConfig(dir, 'queue-restart', 6);
  const ref = await run(['eval', '--config', cfg, '--db', join(dir, 'ref', 'k.db'), '--quiet'], env);
  assert.equal(ref.status, 0, ref.output);

  let redis = await startRedis(port, ['--requirepass', password]);
  const w = await startWorker(queue, ['--name', 'wA', '--queue-password-file', pwFile], env);
  try {
    const db = join(dir, 'q', 'k.db');
    const coordinator = start(['eval', '--config', cfg, '--db', db, '--queue', queue, '--queue-password-file', pwFile], env);
    await until(() => count(db, 'SELECT COUNT(*) AS n FROM evaluations') >= 12, 'a third of the evaluations');
    await killRedis(redis);
    redis = await startRedis(port, ['--requirepass', password]);
    assert.equal(await coordinator.exited, 1, coordinator.output());
    const last = coordinator.output().trim().split('\n').at(-1)!;
    assert.match(last, /^kvopt: Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:6391 lost this run's queue .*continue it with --resume$/);
    await w.waitFor(/connected to redis:\/\/:\*\*\*@127\.0\.0\.1:6391 again/);

    const resumed = await run(['eval', '--config', cfg, '--db', db, '--queue', queue, '--queue-password-file', pwFile, '--resume'], env);
    assert.equal(resumed.status, 0, resumed.output);
    assert.deepEqual(evalRows(db), evalRows(join(dir, 'ref', 'k.db')));
    assert.deepEqual(kvoptKeys({ port, db: 0, password }).length, 0);
    for (const text of [coordinator.output(), resumed.output, w.output()]) assert.ok(!text.includes(password), 'password printed');
    for (const f of [db, `${db}-wal`]) if (existsSync(f)) assert.ok(!readFileSync(f).includes(password), `password stored in ${f}`);
  } finally {
    assert.equal(await stop(w), 0);
    await killRedis(redis);
  }
});
