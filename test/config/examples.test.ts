import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkForCommand, loadExperiment } from '../../src/config/load.ts';

const root = resolve(import.meta.dirname, '../..');
const dir = join(root, 'experiments');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const shared = resolve(root, process.env.KVOPT_SHARED_DATA ?? '../shared/data');

test('experiments/ holds the documented examples', () => {
  for (const f of ['quickstart.yaml', 'stories260k-continuation.yaml', 'needle-search.yaml', 'needle-grid.yaml', 'longbench.yaml', 'gsm8k.yaml']) {
    assert.ok(files.includes(f), `experiments/${f} missing`);
  }
});

for (const f of files) {
  test(`experiments/${f} parses and suits kvopt eval or kvopt search`, () => {
    const c = loadExperiment(join(dir, f), { cwd: root });
    assert.ok(c.tasks.length > 0);
    // a file with a search: section is for kvopt search; its methods/budgets (if any) are for eval
    if (c.search) checkForCommand(c, 'search');
    if (!c.search || c.methods.length > 0) checkForCommand(c, 'eval');
    // Paths stay inside the clone or point at the shared data beside it.
    for (const p of [c.model.path, ...c.tasks.map((t) => t.data)]) {
      assert.ok(p.startsWith(root + '/') || p.startsWith(resolve(root, '../shared/data') + '/'), `${f}: ${p}`);
    }
  });
}

test('every path the examples name exists (shared data: KVOPT_SHARED_DATA or ../shared/data)', () => {
  assert.ok(existsSync(shared), `shared data not found at ${shared}; set KVOPT_SHARED_DATA`);
  for (const f of files) {
    const c = loadExperiment(join(dir, f), { cwd: root });
    for (const p of [c.model.path, c.model.tokenizer, ...c.tasks.map((t) => t.data)]) {
      if (p?.startsWith(resolve(root, '../shared/data') + '/')) {
        // Re-root on KVOPT_SHARED_DATA so a CI layout with the data elsewhere is checked too.
        const there = join(shared, p.slice(resolve(root, '../shared/data').length));
        assert.ok(existsSync(there), `${f}: ${there} does not exist`);
      } else if (p !== null) {
        assert.ok(existsSync(p), `${f}: ${p} does not exist in the clone`);
      }
    }
  }
});
