// A seeded schedule of SIGKILLs over one kvopt run: start it, kill it at a random point (some during
// start-up, most after a random amount of new progress in the database), start it again with --resume,
// and so on; then let the last --resume finish. The caller compares the final database with an
// uninterrupted run. Used by test/reliability/crash-consistency.test.ts and scripts/crash-consistency.ts.
import { mulberry32 } from '../../src/util/mulberry32.ts';
import { countRows, kvoptSync, sleep, start, waitFor } from './run-helpers.ts';

export interface CrashReport {
  kills: number;
  /** Progress seen at each kill (-1: killed during start-up, before any progress was polled). */
  killedAt: number[];
  /** Exit codes of the runs that ended by themselves before their kill point. */
  ended: (number | null)[];
}

/**
 * Runs `args` (an eval or search command with --db `db`) under `kills` SIGKILLs scheduled from `seed`,
 * then to completion with --resume. `progress()` reads the database; `total` is its value at the end.
 */
export async function runWithKills(args: string[], db: string, progress: () => number, total: number, kills: number, seed: number): Promise<CrashReport> {
  const rand = mulberry32(seed);
  const report: CrashReport = { kills: 0, killedAt: [], ended: [] };
  const hasRun = () => countRows(db, 'SELECT COUNT(*) AS n FROM runs') > 0;
  while (report.kills < kills) {
    const child = start(hasRun() ? [...args, '--resume'] : args);
    const now = progress();
    if (now >= total && rand() < 0.5) {
      // Everything stored: the kill lands around the end (after the last write, before or after the status).
      await sleep(rand() * 1500);
    } else if (rand() < 0.25) {
      await sleep(rand() * 1200); // during start-up: model load, store open, run creation
    } else {
      const target = now + 1 + Math.floor(rand() * Math.max(1, Math.min(4, total - now)));
      const reached = await waitFor(child, progress, target);
      if (!reached) {
        report.ended.push((await child.done).status);
        if (progress() >= total) break; // finished by itself before its kill point
        continue;
      }
    }
    child.signal('SIGKILL');
    const r = await child.done;
    if (r.signal === 'SIGKILL') {
      report.kills++;
      report.killedAt.push(progress());
    } else {
      report.ended.push(r.status);
    }
  }
  const last = kvoptSync([...args, ...(hasRun() ? ['--resume'] : [])]);
  if (last.status !== 0) throw new Error(`final --resume exited ${last.status}: ${last.stderr}`);
  return report;
}
