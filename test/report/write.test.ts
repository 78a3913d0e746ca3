import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { writeReport } from '../../src/report/write.ts';
import { pngFontOptions, renderSvg, resolvePngFonts } from '../../src/report/render.ts';
import { KvoptError } from '../../src/util/errors.ts';
import { budgetProfileSpec } from '../../src/report/charts/budget.ts';
import { svgToPng } from '../../src/report/render.ts';
import { reportData, profile } from './fixtures.ts';
import { parseSvg } from './svg.ts';

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Width and height from the IHDR chunk, which always follows the signature. */
function pngSize(png: Buffer): { width: number; height: number } {
  assert.equal(png.toString('latin1', 12, 16), 'IHDR');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

test('writeReport writes every format, one file per figure', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-report-'));
  try {
    // PNG rasterising takes most of the time: it is checked on two figures in the next test.
    const paths = await writeReport(join(dir, 'out'), reportData(), ['md', 'svg', 'html', 'tex']);
    const names = paths.map((p) => basename(p));
    const figures = ['search-progress', 'budget-profile', 'eval-quality', 'eval-loss', 'needle', 'memory', 'head-allocation'];
    assert.deepEqual(names, ['report.html', ...figures.map((f) => `${f}.svg`), 'report.md', 'results.tex']);
    for (const f of figures) {
      const svg = readFileSync(join(dir, 'out', `${f}.svg`), 'utf8');
      assert.equal(parseSvg(svg).tag, 'svg');
      assert.ok(!svg.includes('NaN'));
    }
    const md = readFileSync(join(dir, 'out', 'report.md'), 'utf8');
    assert.ok(md.includes('![Quality vs budget](eval-quality.svg)'));
    assert.ok(md.includes('| 32     | snapkv        | 0.64 (22.0%) |'));
    const tex = readFileSync(join(dir, 'out', 'results.tex'), 'utf8');
    assert.ok(tex.includes('\\toprule') && tex.includes('\\bottomrule') && tex.includes('adakv\\_snapkv'));
    assert.ok(!readFileSync(join(dir, 'out', 'report.html'), 'utf8').includes('http'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeReport png: signature, twice the SVG size, plausible byte count; markdown links the PNGs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-report-'));
  try {
    const paths = await writeReport(dir, { profile: profile() }, ['png', 'svg', 'md']);
    assert.deepEqual(
      paths.map((p) => basename(p)),
      ['budget-profile.svg', 'head-allocation.svg', 'budget-profile.png', 'head-allocation.png', 'report.md'],
    );
    for (const f of ['budget-profile', 'head-allocation']) {
      const root = parseSvg(readFileSync(join(dir, `${f}.svg`), 'utf8'));
      const png = readFileSync(join(dir, `${f}.png`));
      assert.ok(png.subarray(0, 8).equals(PNG_MAGIC), `${f}.png signature`);
      const { width, height } = pngSize(png);
      assert.equal(width, Math.round(2 * Number(root.attrs.width)), `${f}.png width`);
      assert.equal(height, Math.round(2 * Number(root.attrs.height)), `${f}.png height`);
      assert.ok(png.length > 10_000 && png.length < 2_000_000, `${f}.png is ${png.length} bytes`);
    }
    assert.ok(readFileSync(join(dir, 'report.md'), 'utf8').includes('![Budget profile](budget-profile.png)'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeReport: svg only writes no HTML/PNG; unknown format is a user error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-report-'));
  try {
    const data = { profile: profile() };
    const paths = await writeReport(dir, data, ['svg', 'md']);
    assert.deepEqual(
      paths.map((p) => basename(p)),
      ['budget-profile.svg', 'head-allocation.svg', 'report.md'],
    );
    assert.ok(readFileSync(join(dir, 'report.md'), 'utf8').includes('](budget-profile.svg)'));
    await assert.rejects(writeReport(dir, data, ['pdf' as 'svg']), /--format: unknown format "pdf"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Pixels that are not white in an RGBA buffer. */
function inked(pixels: Buffer): number {
  let n = 0;
  for (let i = 0; i < pixels.length; i += 4) if (pixels[i + 3] > 0 && (pixels[i] < 200 || pixels[i + 1] < 200 || pixels[i + 2] < 200)) n++;
  return n;
}

test('PNG text is drawn with the fonts found; without fonts resvg would draw none (what the probe guards)', async () => {
  const textOnly =
    '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="30"><text x="4" y="20" font-family="DejaVu Sans, Verdana, sans-serif" font-size="14">budget 64</text></svg>';
  assert.ok(inked(new Resvg(textOnly, { font: pngFontOptions() }).render().pixels) > 50, 'text drawn');
  assert.equal(inked(new Resvg(textOnly, { font: { loadSystemFonts: false } }).render().pixels), 0, 'no font, no text');
  assert.throws(
    () => resolvePngFonts([], false),
    (e: unknown) => e instanceof KvoptError && /no font found.*fonts-dejavu-core/.test(e.message),
  );
  assert.deepEqual(resolvePngFonts([], true).fontFiles, undefined, 'no DejaVu dir: system fonts only');
  // A chart's PNG carries more ink than the same chart with its text removed: the labels are there.
  const svg = await renderSvg(budgetProfileSpec(profile()));
  const noText = svg.replace(/<text[^>]*>[^<]*<\/text>/g, '');
  const ink = (s: string) => inked(new Resvg(s, { font: pngFontOptions() }).render().pixels);
  assert.ok(ink(svg) > ink(noText) + 500, `labels add ink: ${ink(svg)} vs ${ink(noText)}`);
  assert.ok(svgToPng(svg, 1).subarray(0, 8).equals(PNG_MAGIC));
});
