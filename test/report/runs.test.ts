import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, formatRunDetail, formatRunsTable, formatTimestamp } from '../../src/report/runs.ts';
import type { RunSummary } from '../../src/report/types.ts';

const RUNS: RunSummary[] = [
  {
    id: 12,
    kind: 'search',
    name: 'needle-snapkv',
    status: 'complete',
    configHash: '9f2c4e71ab03d5e6f7a8',
    bestFitness: 0.67171,
    startedAt: '2026-11-29T10:02:03.000Z',
    finishedAt: '2026-11-29T11:15:40.000Z',
    durationS: 4417,
  },
  {
    id: 3,
    kind: 'eval',
    name: 'gsm8k\tbaselines',
    status: 'running',
    configHash: 'abc',
    bestFitness: null,
    startedAt: '2026-11-28T23:59:59Z',
    finishedAt: null,
    durationS: null,
  },
];

test('runs table: aligned columns, numbers right-aligned, short hash, dashes for unknowns', () => {
  assert.equal(
    formatRunsTable(RUNS),
    [
      'ID  KIND    NAME             STATUS    CONFIG          BEST  STARTED (UTC)        DURATION',
      '12  search  needle-snapkv    complete  9f2c4e71ab03  0.6717  2026-11-29 10:02:03  1h13m37s',
      ' 3  eval    gsm8k baselines  running   abc                —  2026-11-28 23:59:59         —',
      '',
    ].join('\n'),
  );
  assert.equal(formatRunsTable([]), 'no runs\n');
});

test('durations and timestamps', () => {
  assert.equal(formatDuration(9.54), '9.5s');
  assert.equal(formatDuration(75), '1m15s');
  assert.equal(formatDuration(3600), '1h00m00s');
  assert.equal(formatDuration(4417), '1h13m37s'); // 3600 + 13·60 + 37
  assert.equal(formatDuration(null), '—');
  assert.equal(formatTimestamp('2026-11-29T12:00:00+02:00'), '2026-11-29 10:00:00', 'shown in UTC');
  assert.equal(formatTimestamp('yesterday-ish'), 'yesterday-ish');
});

test('run detail lists every field with the full hash', () => {
  const text = formatRunDetail(RUNS[0], { model: 'stories260K' });
  assert.equal(
    text,
    [
      'id:           12',
      'kind:         search',
      'name:         needle-snapkv',
      'status:       complete',
      'config hash:  9f2c4e71ab03d5e6f7a8',
      'best fitness: 0.6717',
      'started:      2026-11-29 10:02:03',
      'finished:     2026-11-29 11:15:40',
      'duration:     1h13m37s',
      'model:        stories260K',
      '',
    ].join('\n'),
  );
});
