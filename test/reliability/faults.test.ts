// Fault scenarios through the real binary on stories260K, each asserting the exact final state (rows,
// exit code, exportable or not): a failing sample in a search (defect 1), corrupt prefill records
// (defect 2), a full disk (defect 3: a tmpfs in a user namespace), data changed before --resume (defect 4),
// SIGTERM, a process stopped (SIGSTOP) long enough to lose its lease, and kvopt run outside the checkout
// (defect 7). Failed evaluations and their resume (defect 8) are in test/engine/worker-failure.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Store } from '../../src/store/store.ts';
import { repoRoot } from '../helpers/shared-data.ts';
import { BIN, EVALS, evalConfig, kvoptSync, searchConfig, sleep, start, storedResults, waitFor } from './run-helpers.ts';

const tmp = (tag: string) => mkdtempSync(join(tmpdir(), `kvopt-fault-${tag}-`));
/** The lines of stderr that report (notes about flags overriding the config and warnings aside). */
const lines = (stderr: string) => stderr.split('\n').filter((l) => l.trim() !== '' && !/^kvopt: (note|warning): /.test(l));

/** Results of the small eval (`samples` samples) run uninterrupted and without faults, computed once each. */
const references = new Map<number, unknown>();
function evalReference(samples = 4): unknown {
  if (!references.has(samples)) {
    const dir = tmp(`ref${samples}`);
    const db = join(dir, 'k.db');
    const r = kvoptSync(['eval', '--config', evalConfig(dir, { samples }), '--db', db, '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    references.set(samples, storedResults(db));
  }
  return references.get(samples);
}

/** Whether another process could take the database's write lock now (a stopped writer may hold it). */
function writable(db: string): boolean {
  const d = new Database(db, { timeout: 0 });
  try {
    d.exec('BEGIN IMMEDIATE');
    d.exec('ROLLBACK');
    return true;
  } catch {
    return false;
  } finally {
    d.close();
  }
}

function files(dir: string, out: string[] = []): string[] {
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) files(p, out);
    else out.push(p);
  }
  return out;
}

test('search with a sample that always fails: exit 1, one line, run failed, nothing exportable; retried once on a transient fault', {
  timeout: 300_000,
}, () => {
  const dir = tmp('search');
  const config = searchConfig(dir, 1);
  const cleanDb = join(dir, 'clean.db');
  const clean = kvoptSync(['search', '--config', config, '--db', cleanDb, '--quiet']);
  assert.equal(clean.status, 0, clean.stderr);
  const s = Store.open(cleanDb, { mustExist: true });
  const calibration = s.samplesForRun(1).find((x) => x.split === 'calibration')!.key;
  s.close();

  const db = join(dir, 'k.db');
  const r = kvoptSync(['search', '--config', config, '--db', db, '--quiet'], { KVOPT_FAULT_INJECT: `${calibration}:always` });
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    lines(r.stderr).at(-1)!,
    new RegExp(
      `^kvopt: sample ${calibration.replace(/[@.]/g, '\\$&')} failed twice \\(injected fault .*\\); the search fitness cannot be computed without it$`,
    ),
  );
  const store = Store.open(db, { mustExist: true });
  const run = store.getRun('latest');
  assert.equal(run.status, 'failed');
  assert.deepEqual([store.generations(run.id).length, store.profiles(run.id).length], [0, 0]);
  store.close();
  const ex = kvoptSync(['export', '--db', db, '--run', 'latest']);
  assert.equal(ex.status, 1);
  assert.deepEqual(lines(ex.stderr), [`kvopt: run ${run.id} has no finished profile yet (status failed); finish it with kvopt search --resume`]);
  assert.equal(ex.stdout, '');

  // The cause removed, --resume finishes the same run with the clean run's generations and profile.
  const resumed = kvoptSync(['search', '--config', config, '--db', db, '--quiet', '--resume']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.deepEqual(storedResults(db), storedResults(cleanDb));

  // A fault on the first attempt only: retried like eval, the search completes with the clean result.
  const flakyDb = join(dir, 'flaky.db');
  const flaky = kvoptSync(['search', '--config', config, '--db', flakyDb, '--quiet'], { KVOPT_FAULT_INJECT: `${calibration}:first` });
  assert.equal(flaky.status, 0, flaky.stderr);
  assert.deepEqual(storedResults(flakyDb), storedResults(cleanDb));
});

test('corrupt prefill records are detected and recomputed: results identical to a clean run, one note', { timeout: 300_000 }, () => {
  const dir = tmp('corrupt');
  const config = evalConfig(dir);
  const first = join(dir, 'first', 'k.db');
  assert.equal(kvoptSync(['eval', '--config', config, '--db', first, '--quiet']).status, 0);
  const records = files(join(dir, 'first', 'prefill-cache')).filter((p) => p.endsWith('.kvpf'));
  assert.ok(records.length >= 4, `${records.length} records`);
  // Cut 4 KiB off every record (as the fuzzing pass did), and flip one byte in the middle of one.
  for (const p of records) truncateSync(p, Math.max(0, statSync(p).size - 4096));
  const second = join(dir, 'first', 'second.db'); // same folder: same prefill cache
  const r = kvoptSync(['eval', '--config', config, '--db', second, '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`^kvopt: ${records.length} prefill records failed the integrity check and were recomputed \\(first: .*\\.kvpf \\(`, 'm'));
  assert.deepEqual(storedResults(second), evalReference());
  // The recomputed records were written back whole: a third run reads them all and prefills nothing.
  const third = join(dir, 'first', 'third.db');
  const t = kvoptSync(['eval', '--config', config, '--db', third, '--quiet']);
  assert.equal(t.status, 0, t.stderr);
  assert.doesNotMatch(t.stderr, /integrity/);
  const s = Store.open(third, { mustExist: true });
  assert.equal(s.prefillCount(), 0);
  s.close();
  assert.deepEqual(storedResults(third), evalReference());
});

test('a full disk: one line, exit 1, nothing stored as failed; after freeing space --resume ends as a clean run', { timeout: 300_000 }, () => {
  const dir = tmp('full');
  const config = evalConfig(dir, { samples: 8 });
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  // A 600 KiB tmpfs holds the database and a couple of prefill records, then fills up; it is enlarged
  // (space freed) before the resume. An unprivileged user namespace lets the test mount it.
  const script = `set -u
mount -t tmpfs -o size=600k tmpfs "$MNT"
node "$BIN" eval --config "$CONFIG" --db "$MNT/k.db" --quiet > /dev/null 2> "$DIR/err1"; echo $? > "$DIR/rc1"
mount -o remount,size=64m "$MNT"
node "$BIN" eval --config "$CONFIG" --db "$MNT/k.db" --quiet --resume > /dev/null 2> "$DIR/err2"; echo $? > "$DIR/rc2"
cp "$MNT/k.db" "$DIR/k.db"`;
  const r = spawnSync('unshare', ['-rm', 'bash', '-c', script], {
    encoding: 'utf8',
    env: { ...process.env, MNT: mnt, BIN, CONFIG: config, DIR: dir },
    timeout: 240_000,
  });
  assert.equal(r.status, 0, `unshare -rm (a user namespace for the tmpfs) failed: ${r.stderr}`);
  const err1 = readFileSync(join(dir, 'err1'), 'utf8');
  assert.equal(readFileSync(join(dir, 'rc1'), 'utf8').trim(), '1', err1);
  assert.deepEqual(lines(err1), [`kvopt: disk full while writing ${lines(err1)[0].match(/writing (.*);/)![1]}; free space and run with --resume`]);
  assert.match(err1, new RegExp(`disk full while writing ${mnt}/`));
  const err2 = readFileSync(join(dir, 'err2'), 'utf8');
  assert.equal(readFileSync(join(dir, 'rc2'), 'utf8').trim(), '0', err2);
  const after = storedResults(join(dir, 'k.db')) as { evaluations: unknown[][] };
  assert.ok(
    after.evaluations.every((e) => e[5] === 'ok'),
    'no evaluation stored as failed',
  );
  assert.deepEqual(after, evalReference(8));
});

test('--resume after the data file changed is refused, naming the file; the run is left as it was', { timeout: 300_000 }, () => {
  const dir = tmp('data');
  const data = join(dir, 'stories.jsonl');
  copyFileSync(join(repoRoot, 'datasets/stories260k-samples.jsonl'), data);
  const config = evalConfig(dir, { data });
  const db = join(dir, 'k.db');
  // A run left unfinished: one sample fails on every attempt (exit 2, run failed, resumable).
  const first = kvoptSync(['eval', '--config', config, '--db', db, '--quiet'], { KVOPT_FAULT_INJECT: 'line 5@0:always' });
  assert.equal(first.status, 2, first.stderr);
  const before = storedResults(db);
  appendFileSync(data, JSON.stringify({ text: 'Once upon a time there was a new story in the file. '.repeat(40) }) + '\n');
  const r = kvoptSync(['eval', '--config', config, '--db', db, '--quiet', '--resume']);
  assert.equal(r.status, 1);
  assert.deepEqual(lines(r.stderr), [
    `kvopt: --resume: ${data} changed since run 1 started; start a new run instead of --resume (results would mix two datasets)`,
  ]);
  assert.deepEqual(storedResults(db), before);
});

test('SIGTERM is handled like SIGINT: work in flight finishes, exit 143, run interrupted; --resume ends as a clean run', { timeout: 300_000 }, async () => {
  const dir = tmp('term');
  const config = evalConfig(dir, { samples: 8 });
  const db = join(dir, 'k.db');
  const child = start(['eval', '--config', config, '--db', db]);
  assert.ok(await waitFor(child, () => EVALS(db), 3), 'the run ended before it could be stopped');
  child.signal('SIGTERM');
  const r = await child.done;
  assert.equal(r.status, 143, r.stderr);
  assert.match(r.stderr, /kvopt: interrupted \(SIGTERM\); finishing the work in flight/);
  assert.match(lines(r.stderr).at(-1)!, /^kvopt: interrupted by SIGTERM; run the same command with --resume to continue$/);
  const s = Store.open(db, { mustExist: true });
  assert.equal(s.getRun(1).status, 'interrupted');
  const stored = s.evaluationsForRun(1);
  s.close();
  assert.ok(stored.length > 0 && stored.every((e) => e.status === 'ok'));
  const resumed = kvoptSync(['eval', '--config', config, '--db', db, '--quiet', '--resume']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.deepEqual(storedResults(db), evalReference(8));
});

test('a process stopped past its lease learns it lost the run when continued, and writes nothing more', { timeout: 300_000 }, async () => {
  const dir = tmp('stop');
  const config = evalConfig(dir, { samples: 8 });
  const db = join(dir, 'k.db');
  const env = { KVOPT_STALE_MS: '1500' }; // heartbeat every 375 ms; 1.5 s without one and the run is up for grabs
  const a = start(['eval', '--config', config, '--db', db, '--quiet'], env);
  assert.ok(await waitFor(a, () => EVALS(db), 3), 'the run ended before it could be stopped');
  // Stopped between two transactions: a writer stopped inside one holds SQLite's write lock, and every
  // other process then reports the database as locked (kvopt then says so in one line).
  for (let tries = 0; ; tries++) {
    a.signal('SIGSTOP');
    await sleep(30);
    if (writable(db)) break;
    assert.ok(tries < 100, 'the stopped process always held the write lock');
    a.signal('SIGCONT');
    await sleep(20 + tries);
  }
  await sleep(2500);
  const b = kvoptSync(['eval', '--config', config, '--db', db, '--quiet', '--resume'], env);
  assert.equal(b.status, 0, b.stderr);
  const completed = storedResults(db);
  a.signal('SIGCONT');
  const ra = await a.done;
  assert.equal(ra.status, 1, ra.stderr);
  assert.match(
    lines(ra.stderr).at(-1)!,
    /^kvopt: run 1 was taken over by another process( \(pid \d+ on .*\))? while this one was stopped \(run status now complete\); this one stops without writing more$/,
  );
  assert.deepEqual(storedResults(db), completed, 'the stopped process wrote after losing its lease');
  const s = Store.open(db, { mustExist: true });
  assert.equal(s.getRun(1).status, 'complete');
  s.close();
  assert.deepEqual(completed, evalReference(8));
});

test('kvopt runs from any working directory: workers find tsx in the package, not the cwd', { timeout: 300_000 }, () => {
  const dir = tmp('cwd');
  const config = evalConfig(dir, { samples: 2 });
  const r = spawnSync(process.execPath, [BIN, 'eval', '--config', config, '--db', join(dir, 'k.db'), '--quiet'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 240_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /run 1 \(complete\)/);
});
