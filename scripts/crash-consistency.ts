// Longer crash-consistency runs than the test: N seeded random SIGKILLs over an eval and a search on
// stories260K, each resumed; exits 1 if the final database differs from an uninterrupted run's.
//   node --import tsx scripts/crash-consistency.ts [--kills 100] [--seed 1] [--only eval|search]
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runWithKills } from '../test/reliability/crash-schedule.ts';
import { EVALS, GENERATIONS, evalConfig, kvoptSync, searchConfig, storedResults } from '../test/reliability/run-helpers.ts';

const { values } = parseArgs({ options: { kills: { type: 'string', default: '100' }, seed: { type: 'string', default: '1' }, only: { type: 'string' } } });
const kills = Number(values.kills);
const seed = Number(values.seed);
if (!Number.isInteger(kills) || kills < 1 || !Number.isInteger(seed)) {
  console.error('crash-consistency: --kills expects a positive integer, --seed an integer');
  process.exit(1);
}

for (const kind of ['eval', 'search'] as const) {
  if (values.only && values.only !== kind) continue;
  const dir = mkdtempSync(join(tmpdir(), `kvopt-crash-${kind}-`));
  const config = kind === 'eval' ? evalConfig(dir, { samples: 8 }) : searchConfig(dir, 6);
  const progress = (db: string) => (kind === 'eval' ? EVALS(db) : GENERATIONS(db) + EVALS(db));
  const clean = join(dir, 'clean', 'k.db');
  const c = kvoptSync([kind, '--config', config, '--db', clean, '--quiet']);
  if (c.status !== 0) throw new Error(`uninterrupted ${kind} failed: ${c.stderr}`);
  let done = 0;
  for (let round = 0; done < kills; round++) {
    const db = join(dir, `killed-${round}`, 'k.db');
    const t0 = Date.now();
    const burst = kind === 'eval' ? 5 : 3; // items of one sample arrive together
    const report = await runWithKills(
      [kind, '--config', config, '--db', db, '--quiet'],
      db,
      () => progress(db),
      progress(clean),
      burst,
      Math.min(25, kills - done),
      seed * 1000 + round,
    );
    done += report.kills;
    assert.deepEqual(storedResults(db), storedResults(clean), `${kind} round ${round}: differs after kills at ${report.killedAt.join(', ')}`);
    console.log(
      `${kind} round ${round}: ${report.kills} kills at progress ${report.killedAt.join(', ')}; identical to the uninterrupted run (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
    );
  }
}
console.log('crash-consistency: all rounds identical to the uninterrupted runs');
