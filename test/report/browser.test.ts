// The HTML report as a reader sees it: rendered by a real headless Chromium (Debian's `chromium`), one
// screenshot of the whole page and one per figure; no figure may be missing or blank. Long method names
// (options in the name) are used so that label layout is exercised.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeReport } from '../../src/report/write.ts';
import type { ReportData } from '../../src/report/types.ts';
import { reportData } from './fixtures.ts';
import { colourCount, inkFraction, readPng } from './png.ts';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find(existsSync);

function screenshot(html: string, png: string, width: number, height: number): void {
  assert.ok(CHROMIUM, 'chromium is not installed (apt-get install chromium); this test needs a real browser');
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-chromium-'));
  const r = spawnSync(
    CHROMIUM,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--hide-scrollbars',
      `--user-data-dir=${join(dir, 'profile')}`,
      `--screenshot=${png}`,
      `--window-size=${width},${height}`,
      `file://${html}`,
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.ok(existsSync(png), `chromium wrote no screenshot (status ${r.status}): ${r.stderr.slice(-500)}`);
}

/** The fixture report with long method names (options in them) and intervals. */
function longNameData(): ReportData {
  const data = reportData();
  const rename: Record<string, string> = {
    snapkv: 'snapkv(kernel=7,pooling=max,window=8)',
    adakv_snapkv: 'adakv(alpha=0.5,gqa_order=pool-then-group)',
    streaming: 'streaming(sinks=4)',
  };
  data.evalRows = data.evalRows!.map((r) => ({
    ...r,
    method: rename[r.method] ?? r.method,
    scoreLo: r.score * 0.95,
    scoreHi: Math.min(1, r.score * 1.04),
    lossLo: r.qualityLoss === null ? null : r.qualityLoss - 0.03,
    lossHi: r.qualityLoss === null ? null : r.qualityLoss + 0.03,
  }));
  data.needle = data.needle!.map((c) => ({ ...c, method: rename[c.method] ?? c.method }));
  return data;
}

test('the HTML report in headless Chromium: every figure present and drawn, none blank', { timeout: 600_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'kvopt-browser-'));
  const data = longNameData();
  const written = await writeReport(out, data, ['html']);
  const html = readFileSync(written[0], 'utf8');
  const figures = [...html.matchAll(/<figure id="fig-([a-z-]+)">([\s\S]*?)<\/figure>/g)].map((m) => ({ id: m[1], body: m[2] }));
  assert.deepEqual(
    figures.map((f) => f.id),
    ['search-progress', 'budget-profile', 'eval-quality', 'eval-loss', 'needle', 'memory', 'head-allocation'],
  );

  // The whole page: it renders and is not blank.
  const page = join(out, 'page.png');
  screenshot(written[0], page, 1200, 2400);
  const full = readPng(readFileSync(page));
  assert.equal(full.width, 1200);
  assert.ok(inkFraction(full) > 0.02, `page ink ${inkFraction(full)}`);

  // Each figure alone, as the page inlines it: drawn (ink and many colours), not an empty frame.
  for (const f of figures) {
    assert.match(f.body, /<svg[\s\S]*<\/svg>/, `${f.id}: an inline SVG`);
    const file = join(out, `${f.id}.html`);
    writeFileSync(
      file,
      `<!DOCTYPE html><html><body style="margin:0;background:white">${f.body.replace(/<figcaption>[\s\S]*<\/figcaption>/, '')}</body></html>`,
    );
    const png = join(out, `${f.id}.png`);
    screenshot(file, png, 1100, 900);
    const img = readPng(readFileSync(png));
    const ink = inkFraction(img);
    assert.ok(ink > 0.01, `${f.id}: blank (ink ${ink.toFixed(4)})`);
    assert.ok(colourCount(img) >= 4, `${f.id}: only ${colourCount(img)} colours`);
  }
});
