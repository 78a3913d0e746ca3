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
 * then to completion with --resume. `progress()` reads the database; `total` is its value at the end and
 * `burst` the most it can grow in one step (a sample's items arrive together).
 *
 * The schedule: `kills` thresholds drawn uniformly from [0, total − 2·burst], sorted. Kill i happens once
 * progress reaches threshold i, plus a random 0–150 ms (so it lands right after a commit, or in the work
 * that follows); when a restart already stands at its threshold, the kill lands during start-up (model
 * load, store open, sample registration), at the latest with its first new commit. At least two bursts of
 * work remain after every threshold, more than a run does in 150 ms, so no run finishes by itself and every
 * kill happens.
 */
export async function runWithKills(
  args: string[],
  db: string,
  progress: () => number,
  total: number,
  burst: number,
  kills: number,
  seed: number,
): Promise<CrashReport> {
  const rand = mulberry32(seed);
  const report: CrashReport = { kills: 0, killedAt: [], ended: [] };
  const hasRun = () => countRows(db, 'SELECT COUNT(*) AS n FROM runs') > 0;
  const thresholds = Array.from({ length: kills }, () => Math.floor(rand() * (Math.max(0, total - 2 * burst) + 1))).sort((a, b) => a - b);
  for (const threshold of thresholds) {
    const child = start(hasRun() ? [...args, '--resume'] : args);
    if (progress() >= threshold) {
      // during start-up (model load, store open, sample registration): a random moment up to 1.5 s, but never
      // after the restart's first new commit, so a fast engine cannot finish its remaining work before the kill
      const before = progress();
      await Promise.race([sleep(rand() * 1500), waitFor(child, progress, before + 1)]);
    } else if (!(await waitFor(child, progress, threshold))) {
      report.ended.push((await child.done).status);
      continue;
    } else await sleep(rand() * 150);
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
