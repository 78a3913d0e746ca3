import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dejaVuTextWidth, renderSvg, scopeSvgIds } from '../../src/report/render.ts';
import { searchProgressSpec } from '../../src/report/charts/search.ts';
import { budgetProfileSpec, headAllocationSpec } from '../../src/report/charts/budget.ts';
import { qualityLossSpec, qualityVsBudgetSpec } from '../../src/report/charts/eval.ts';
import { needleHeatmapSpec } from '../../src/report/charts/needle.ts';
import { byteUnit, memoryBars, memorySpec } from '../../src/report/charts/memory.ts';
import { KvoptError } from '../../src/util/errors.ts';
import { BYTES_PER_ENTRY, METHODS, evalRows, needleCells, profile, searchRows } from './fixtures.ts';
import { markGroups, markItems, parseSvg, rectHeight, texts, type SvgNode } from './svg.ts';

/** Renders, checks what every chart must satisfy, and returns the parsed tree and its texts. */
async function render(spec: Parameters<typeof renderSvg>[0]): Promise<{ svg: string; root: SvgNode; text: string[] }> {
  const svg = await renderSvg(spec);
  assert.ok(svg.startsWith('<svg'), 'starts with <svg');
  assert.ok(svg.trimEnd().endsWith('</svg>'), 'ends with </svg>');
  assert.ok(!svg.includes('NaN'), 'no NaN anywhere');
  assert.ok(!/Infinity|undefined/.test(svg), 'no Infinity/undefined');
  const root = parseSvg(svg); // throws when tags are unbalanced
  assert.ok(Number(root.attrs.width) > 100 && Number(root.attrs.height) > 100, `sane size ${root.attrs.width}×${root.attrs.height}`);
  return { svg, root, text: texts(root) };
}

function assertTexts(text: string[], expected: string[]): void {
  for (const e of expected) assert.ok(text.includes(e), `text "${e}" drawn; have: ${text.join(' | ')}`);
}

/** Heights of the bars (rect paths with aria-roledescription "bar"), in drawing order. */
function barHeights(root: SvgNode): number[] {
  return markItems(root, 'rect')
    .filter((n) => n.attrs['aria-roledescription'] === 'bar')
    .map((n) => rectHeight(n.attrs.d!));
}

test('search progress: three series, axes, group marker, held-out gaps skipped', async () => {
  const rows = searchRows(); // 2 groups × 6 generations; held-out missing for generation 2 and 5
  const { root, text } = await render(searchProgressSpec(rows));
  // held-out score on its own panel and axis: the calibration fitness carries the cache bonus, it does not
  assertTexts(text, [
    'Search progress',
    'fitness',
    'generation (layer groups in search order)',
    'calibration best',
    'calibration median',
    'held-out score',
    "held-out task score of each generation's best (no cache bonus)",
    'calibration fitness (task score × (1 + λ·CacheScore))',
    'group 1',
  ]);
  assert.equal(markGroups(root, 'line').length, 3, 'one line per series');
  const points = markItems(root, 'symbol').filter((n) => n.attrs['aria-roledescription'] === 'point');
  assert.equal(points.length, 12 + 12 + 8, 'a point per generation per series (held-out only where scored)');
  // The first generation of group 0 reads best = 0.6, median = 0.54 (searchRows' formula at generation 0).
  const labels = points.map((p) => p.attrs['aria-label']);
  assert.ok(
    labels.some((l) => /fitness: 0\.6\b.*calibration best/.test(l)),
    labels.slice(0, 3).join(' / '),
  );
  assert.ok(labels.some((l) => /fitness: 0\.54\b.*calibration median/.test(l)));
  assert.equal(markItems(root, 'rule').length, 2, 'one group boundary for two groups, in each panel');
});

test('budget profile: bar heights follow the layer budgets; uniform and pyramid lines', async () => {
  const p = profile();
  const { root, text } = await render(budgetProfileSpec(p));
  assertTexts(text, ['Per-layer budgets (target mean 32)', 'layer', 'budget (tokens per KV head)', 'evolkv', 'uniform', 'pyramid', '0', '4']);
  const heights = barHeights(root);
  assert.equal(heights.length, 5);
  // Zero-based linear y: heights are proportional to the budgets.
  heights.forEach((h, i) => assert.ok(Math.abs(h / heights[0] - p.layerBudgets[i] / p.layerBudgets[0]) < 1e-6, `bar ${i}`));
  assert.equal(markGroups(root, 'line').length, 2, 'uniform and pyramid lines');
  const uniform = markItems(root, 'symbol').filter((n) => /series: uniform/.test(n.attrs['aria-label'] ?? ''));
  assert.equal(uniform.length, 5);
  assert.ok(uniform.every((n) => /budget \(tokens per KV head\): 32;/.test(n.attrs['aria-label'])));
});

test('budget profile without pyramid draws only the uniform line; mismatched pyramid is a clear error', async () => {
  const { root, text } = await render(budgetProfileSpec({ layerBudgets: [10, 20], target: 15 }));
  assert.equal(markGroups(root, 'line').length, 1);
  assert.ok(!text.includes('pyramid'));
  assert.throws(
    () => budgetProfileSpec({ layerBudgets: [1, 2, 3], target: 2, pyramid: [1, 2] }),
    (e: unknown) => e instanceof KvoptError && /pyramid has 2 layers.*has 3/.test(e.message),
  );
  assert.throws(() => budgetProfileSpec({ layerBudgets: [1, NaN], target: 2 }), /layerBudgets\[1\] must be a finite number/);
});

test('per-head allocation heatmap: one cell per (layer, head), values printed', async () => {
  const heads = profile().headBudgets!;
  const { root, text } = await render(headAllocationSpec(heads));
  assertTexts(text, ['KV head', 'layer', 'tokens', '70', '10']);
  const cells = markItems(root, 'rect');
  assert.equal(cells.length, 20);
  assert.equal(new Set(cells.map((c) => c.attrs.fill)).size > 10, true, 'colour follows the value');
  const numbers = markItems(root, 'text').map((n) => Number(n.text));
  assert.deepEqual(
    [...numbers].sort((a, b) => a - b),
    heads.flat().sort((a, b) => a - b),
  );
  assert.throws(() => headAllocationSpec([[1, 2], [3]]), /headBudgets\[1\] has 1 heads/);
});

test('quality vs budget: a line per method per task panel, full-cache rule, log budget ticks', async () => {
  const { svg, root, text } = await render(qualityVsBudgetSpec(evalRows()));
  assertTexts(text, ['continuation', 'needle_qa', 'score', 'budget (tokens per KV head per layer)', ...METHODS, 'full cache', '32', '64', '128']);
  assert.equal(markGroups(root, 'line').length, 2 * 3, '3 methods × 2 task panels');
  assert.equal(markItems(root, 'rule').length, 2, 'one full-cache rule per task');
  assert.ok(!svg.includes('method: full;'), 'the full method is the reference, not a line');
  // snapkv at 32 on continuation: 0.82 × 0.78 = 0.6396
  const points = markItems(root, 'symbol').map((n) => n.attrs['aria-label'] ?? '');
  assert.ok(
    points.some((l) => l.includes(': 32; score: 0.6396; method: snapkv')),
    points.slice(0, 2).join(' / '),
  );
});

test('quality vs budget: one task gives a single panel; text is escaped', async () => {
  const rows = evalRows()
    .filter((r) => r.task === 'continuation')
    .map((r) => (r.method === 'streaming' ? { ...r, method: 'a<b & "c"' } : r));
  const { svg, root, text } = await render(qualityVsBudgetSpec(rows));
  assertTexts(text, ['Quality vs budget: continuation', 'a<b & "c"']);
  assert.ok(svg.includes('a&lt;b &amp; &quot;c&quot;') || svg.includes('a&lt;b &amp; "c"'));
  assert.equal(markGroups(root, 'line').length, 3);
});

test('quality loss at a budget: grouped bars with the across-task average, values labelled', async () => {
  const { root, text } = await render(qualityLossSpec(evalRows(), '32'));
  assertTexts(text, ['Quality loss at budget 32', 'method', 'quality loss (%) = 1 − score / full', 'continuation', 'needle_qa', 'average', ...METHODS]);
  const heights = barHeights(root);
  assert.equal(heights.length, 3 * 3, '3 methods × (2 tasks + average)');
  // Hand-computed losses at budget 32: snapkv 1 − 0.78 = 22.0%, on needle_qa 1 − 0.78·0.97 = 24.3%, mean 23.2%.
  const labels = markItems(root, 'text').map((n) => n.text);
  for (const v of ['22.0', '24.3', '23.2', '17.0', '45.0']) assert.ok(labels.includes(v), `label ${v} in ${labels.join(',')}`);
  // The default budget is the smallest one.
  const { text: t2 } = await render(qualityLossSpec(evalRows()));
  assert.ok(t2.includes('Quality loss at budget 32'));
  assert.throws(() => qualityLossSpec(evalRows(), '999'), /no quality loss at budget "999".*32, 64, 128/);
});

test('needle heatmap: a panel per method, a cell per length × depth, colour by score', async () => {
  const { root, text } = await render(needleHeatmapSpec(needleCells()));
  assertTexts(text, [
    'Needle in a haystack',
    'full',
    'snapkv',
    'streaming',
    'context length (tokens)',
    'needle depth',
    '0%',
    '50%',
    '100%',
    '128',
    '512',
    'score',
  ]);
  const cells = markItems(root, 'rect');
  assert.equal(cells.length, 3 * 4 * 5);
  const fill = (method: string, len: number, depth: string) => {
    // Panels are drawn in method order; within one, aria-labels name length and depth.
    const panel = markGroups(root, 'rect')[['full', 'snapkv', 'streaming'].indexOf(method)];
    const cell = panel.children.find((c) => c.attrs['aria-label'].startsWith(`context length (tokens): ${len}; needle depth: ${depth};`))!;
    const [r, g] = /rgb\((\d+), (\d+), (\d+)\)/.exec(cell.attrs.fill!)!.slice(1).map(Number);
    return { r: r!, g: g! };
  };
  const failed = fill('streaming', 256, '0%'); // score 0
  const found = fill('streaming', 256, '100%'); // score 1
  assert.ok(failed.r > failed.g && found.g > found.r, `red for a miss, green for a hit: ${JSON.stringify({ failed, found })}`);
  assert.throws(() => needleHeatmapSpec([{ method: 'x', contextLength: 1, depth: 50, score: 1 }]), /depth must be a fraction/);
});

test('memory: logical vs physical bytes per method in one panel per budget', async () => {
  const rows = evalRows();
  const { root, text } = await render(memorySpec(rows, { bytesPerEntry: BYTES_PER_ENTRY }));
  assertTexts(text, [
    'KV cache memory: logical vs physical',
    'budget',
    '32',
    '64',
    '128',
    'logical',
    'physical',
    ...METHODS,
    'KV cache (KiB, mean over tasks)',
  ]);
  const heights = barHeights(root);
  assert.equal(heights.length, 3 * 3 * 2);
  // Bars are drawn panel by panel (budget), method, logical then physical. AdaKV pads 30%.
  const bars = memoryBars(rows, { bytesPerEntry: BYTES_PER_ENTRY });
  assert.equal(bars[0].bytes, 32 * 5 * 4 * 64, 'logical bytes = budget × layers × KV heads × bytes per entry');
  const ada = bars.findIndex((b) => b.method === 'adakv_snapkv' && b.budgetLabel === '32' && b.measure === 'logical');
  assert.ok(Math.abs(bars[ada + 1].bytes / bars[ada].bytes - 1.3) < 1e-12);
  assert.equal(markItems(root, 'rule').length, 3, 'the full cache in every panel');
  // Same panel, same y scale: heights keep the byte ratios.
  const h = (b: number) => heights[b];
  assert.ok(Math.abs(h(3) / h(2) - 1.3) < 0.01, `adakv physical/logical ${h(3) / h(2)}`);
  assert.ok(Math.abs(h(1) / h(0) - 1) < 1e-9);
  // bytesPerEntry can come from the full-cache rows (64 here).
  assert.deepEqual(memoryBars(rows), bars);
  assert.throws(() => memorySpec(rows.filter((r) => r.method !== 'full')), /bytesPerEntry/);
  // Rows without memory figures (a search comparison stores scores only) are left out, not drawn as 0.
  const unmeasured = rows.map((r) => (r.method === 'streaming' ? { ...r, kvEntries: null, kvBytes: null } : r));
  const kept = memoryBars(unmeasured, { bytesPerEntry: BYTES_PER_ENTRY });
  assert.deepEqual(
    kept,
    bars.filter((b) => b.method !== 'streaming'),
  );
  const none = rows.map((r) => ({ ...r, kvEntries: null, kvBytes: null, kvBytesFull: null }));
  assert.deepEqual(memoryBars(none), []);
  assert.throws(() => memorySpec(none), /memory chart needs rows of a compressed method with KV entries and bytes measured/);
  assert.deepEqual(byteUnit(1023), { unit: 'B', scale: 1 });
  assert.deepEqual(byteUnit(3 * 1024 ** 3), { unit: 'GiB', scale: 1024 ** 3 });
});

test('bad rows fail with a message naming the row and field', () => {
  const rows = evalRows();
  rows[3] = { ...rows[3], score: NaN };
  assert.throws(
    () => qualityVsBudgetSpec(rows),
    (e: unknown) =>
      e instanceof KvoptError && /eval row 3 \(task continuation, method snapkv, budget 128\): score must be a finite number, got NaN/.test(e.message),
  );
  const dup = evalRows();
  dup.push({ ...dup[1] });
  assert.throws(() => memorySpec(dup, { bytesPerEntry: 1 }), /appears twice/);
  assert.throws(() => searchProgressSpec([]), /at least one generation/);
});

test('text widths use DejaVu Sans advances (vega would guess 0.8 em per character without node-canvas)', () => {
  assert.ok(Math.abs(dejaVuTextWidth('64', 10) - 12.72) < 1e-9); // digits are 0.636 em
  assert.ok(Math.abs(dejaVuTextWidth('Ag', 10, true) - 14.9) < 1e-9); // bold A 0.774 + g 0.716
  assert.ok(Math.abs(dejaVuTextWidth('é', 10) - 6.5) < 1e-9); // non-ASCII fallback 0.65 em
});

test('scopeSvgIds rewrites ids and the references to them', () => {
  const svg = '<svg><clipPath id="clip1"><rect/></clipPath><g clip-path="url(#clip1)"/><use href="#clip1"/></svg>';
  assert.equal(scopeSvgIds(svg, 'fig'), '<svg><clipPath id="fig-clip1"><rect/></clipPath><g clip-path="url(#fig-clip1)"/><use href="#fig-clip1"/></svg>');
});
