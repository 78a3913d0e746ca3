import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderHtmlReport } from '../../src/report/html.ts';
import { KvoptError } from '../../src/util/errors.ts';
import { reportData } from './fixtures.ts';
import { parseSvg, texts } from './svg.ts';

const FIGURES = ['search-progress', 'budget-profile', 'eval-quality', 'eval-loss', 'needle', 'memory', 'head-allocation'];

test('HTML report: every figure inline, the results table, run header, nothing fetched from outside', async () => {
  const html = await renderHtmlReport(reportData());
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  assert.ok(html.includes('<title>stories260K: snapkv search &amp; eval</title>'), 'title escaped');
  for (const id of FIGURES) assert.ok(html.includes(`<figure id="fig-${id}"><svg`), `figure ${id}`);
  assert.equal((html.match(/<figure /g) ?? []).length, FIGURES.length);
  // Header: run metadata, escaped.
  assert.ok(html.includes('12 · search · needle_snapkv &lt;search&gt;'));
  assert.ok(html.includes('9f2c4e71ab03d5e6f7a8') && html.includes('1h13m37s') && html.includes('question-agnostic'));
  // The results table with a hand-checked cell: snapkv at 32 on continuation = 0.82 × 0.78 = 0.64, loss 22.0%.
  assert.ok(html.includes('<table class="results">'));
  assert.ok(html.includes('<td class="r">0.64 (22.0%)</td>'));
  // Self-contained: no network resources, no scripts.
  assert.ok(!/https?:\/\//.test(html), 'no http(s) reference at all');
  assert.ok(!/<script|<link|<img|<iframe|\ssrc=|@import/i.test(html));
  assert.ok(!html.includes('NaN'));
  // Each inline SVG is well formed and keeps its text.
  const svgs = html.match(/<svg[\s\S]*?<\/svg>/g)!;
  assert.equal(svgs.length, FIGURES.length);
  const allTexts = svgs.flatMap((s) => texts(parseSvg(s)));
  for (const t of ['Search progress', 'Per-layer budgets (target mean 32)', 'Quality loss at budget 32', 'needle depth', 'adakv_snapkv']) {
    assert.ok(allTexts.includes(t), t);
  }
  // Clip-path ids are unique across figures and every reference resolves (vega restarts at clip1 per chart).
  const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
  assert.equal(new Set(ids).size, ids.length, 'ids unique');
  const refs = [...html.matchAll(/url\(#([^)]+)\)/g)].map((m) => m[1]);
  assert.ok(refs.length > 0, 'vega clips at least the faceted charts');
  for (const r of refs) assert.ok(ids.includes(r), `url(#${r}) resolves`);
});

test('HTML report: figures the data cannot make are listed, not silently dropped; bad data fails', async () => {
  const data = reportData();
  delete data.bytesPerEntry;
  data.evalRows = data.evalRows!.filter((r) => r.method !== 'full');
  delete data.needle;
  const html = await renderHtmlReport(data);
  assert.ok(html.includes('<h2 id="notes">Notes: figures not drawn or approximated</h2>'));
  assert.ok(/KV cache memory: memory chart needs bytesPerEntry/.test(html));
  assert.ok(!html.includes('fig-memory') && !html.includes('fig-needle'));
  assert.ok(html.includes('fig-eval-quality'), 'fullScore on the rows still gives the reference');

  const bad = reportData();
  bad.searchGenerations![2] = { ...bad.searchGenerations![2], median: Number.POSITIVE_INFINITY };
  await assert.rejects(renderHtmlReport(bad), (e: unknown) => e instanceof KvoptError && /search row 2 .*median must be a finite number/.test(e.message));
});
