import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Store } from '../../src/store/store.ts';
import { parseRunKind, resolveReportRun } from '../../src/report/from-store.ts';
import { newRun, tempDb } from '../store/helpers.ts';

test('report --run latest: the newest eval or search run (--kind narrows it), never a regress run', () => {
  const store = Store.open(tempDb(), {});
  const search = store.createRun(newRun({ experiment: 'search-x', kind: 'search' }));
  const evalRun = store.createRun(newRun({ experiment: 'quickstart', kind: 'eval' }));
  store.createRun(newRun({ experiment: 'regress/search-x', kind: 'eval' })); // made by an older kvopt regress
  assert.equal(store.getRun('latest').experiment, 'regress/search-x'); // what `latest` used to pick
  assert.equal(resolveReportRun(store, 'latest').id, evalRun.id);
  assert.equal(resolveReportRun(store, 'latest', 'search').id, search.id);
  assert.equal(resolveReportRun(store, 'latest', 'eval').id, evalRun.id);
  assert.equal(resolveReportRun(store, 3).experiment, 'regress/search-x'); // by id: any run
  assert.throws(() => parseRunKind('regress'), /--kind: expected eval or search, got 'regress'/);
  store.close();
});
