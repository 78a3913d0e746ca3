import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Store } from '../../src/store/store.ts';
import { newRun, tempDb } from './helpers.ts';

const child = fileURLToPath(new URL('./writer-child.ts', import.meta.url));

/**
 * Runs the writer child until `ready(lines)` holds, then SIGKILLs it (after `delayMs`) and waits for it
 * to be reaped. Returns the lines it printed: each one was printed after its commit.
 */
function runAndKill(db: string, runId: number, hangAfter: number | null, ready: (lines: string[]) => boolean, delayMs = 0): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const args = [child, db, 'loop', String(runId), ...(hangAfter === null ? [] : [String(hangAfter)])];
    const p = spawn(process.execPath, ['--import', 'tsx', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let buf = '';
    let err = '';
    let killing = false;
    p.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      lines.push(...parts);
      if (!killing && ready(lines)) {
        killing = true;
        setTimeout(() => p.kill('SIGKILL'), delayMs);
      }
    });
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited with ${code}/${signal} before the kill: ${err}`));
      else resolve(lines);
    });
  });
}

const last = (lines: string[], kind: string) => Math.max(-1, ...lines.filter((l) => l.startsWith(`${kind} `)).map((l) => Number(l.split(' ')[1])));

/** Whole generations only: each has all its candidates, contiguous from 0; evaluations complete. */
function checkWhole(s: Store, runId: number): { generations: number; evaluations: number } {
  assert.equal(s.db.pragma('integrity_check', { simple: true }), 'ok');
  const gens = s.generations(runId);
  gens.forEach((g, i) => {
    assert.equal(g.generation, i, 'generations are contiguous from 0');
    const cs = s.candidates(g.id);
    assert.equal(cs.length, 40, `generation ${i} has all its candidates`);
    assert.equal(Object.keys(cs[39].sampleScores).length, 200);
    assert.equal(cs[39].budgets.length, 32);
    assert.equal((g.optimizerState as { pad: string }).pad.length, 4000);
  });
  const evs = s.evaluationsForRun(runId).filter((e) => e.method === 'm');
  const scores = evs.map((e) => e.score!).sort((a, b) => a - b);
  scores.forEach((sc, i) => assert.equal(sc, i, 'evaluations are contiguous'));
  for (const e of evs) {
    assert.equal(e.prediction, `p${e.score}`);
    assert.equal(e.kvBytes, 2 * e.score!);
  }
  return { generations: gens.length, evaluations: evs.length };
}

test('SIGKILL during writes leaves a database that opens with only whole rows and generations; resume continues', async () => {
  const db = tempDb();
  let s = Store.open(db);
  const run = s.createRun(newRun({ kind: 'search' }));
  s.finishRun(run.id, 'interrupted'); // handed to the child
  s.close();

  // 1. Killed at an arbitrary point of a write loop.
  let lines = await runAndKill(db, run.id, null, (l) => l.filter((x) => x.startsWith('gen ')).length >= 4, 7);
  s = Store.open(db);
  let whole = checkWhole(s, run.id);
  assert.ok(whole.generations >= last(lines, 'gen') + 1, 'no reported generation lost');
  assert.ok(whole.generations <= last(lines, 'gen') + 2);
  assert.ok(whole.evaluations >= last(lines, 'eval') + 1, 'no reported evaluation lost');
  // The dead writer's run is recognised at once (its pid is gone) and can be resumed.
  assert.equal(s.getRun(run.id).status, 'running');
  assert.deepEqual(s.markInterrupted(), [run.id]);
  assert.equal(s.findResumableRun('h1', 'search')!.id, run.id);
  s.close();

  // 2. Resumed by a second writer, which continues after the latest generation, writes 3 more, then is
  //    killed inside one big open transaction whose pages were spilled to the WAL: none of it is visible.
  const before = whole.generations;
  lines = await runAndKill(db, run.id, 3, (l) => l.some((x) => x.startsWith('mid ')));
  const walAt = (kind: string) => Number(lines.find((l) => l.startsWith(`${kind} `))!.split(' ')[1]);
  assert.ok(walAt('mid') > walAt('wal'), 'the open transaction had spilled pages into the WAL when killed');
  assert.equal(Number(lines[0].split(' ')[1]), before, 'the resumed writer starts at the next generation');
  assert.equal(last(lines, 'gen'), before + 2);
  s = Store.open(db);
  whole = checkWhole(s, run.id);
  assert.equal(whole.generations, before + 3);
  assert.equal(whole.evaluations, last(lines, 'eval') + 1);
  assert.equal(s.evaluationsForRun(run.id).filter((e) => e.method === 'hang').length, 0);
  s.close();
});
