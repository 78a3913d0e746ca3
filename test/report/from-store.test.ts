/**
 * Reports from a REAL stored run: the test makes an eval run (stories260K; continuation + the project's
 * needle set; both settings; snapkv and adakv at two budgets) and a tiny EvolKV search with the CLI, as a
 * user would, then renders every chart from the database and checks the SVG/HTML: axes, series counts,
 * the stored values drawn (against numbers recomputed here from the raw evaluations), no NaN. Also
 * `kvopt runs --json`, `kvopt show` and the one-line errors of bad input.
 *
 * Needs the shared data (KVOPT_SHARED_DATA, default ../shared/data): fails, never skips, without it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ReadOnlyStorage, Store } from '../../src/store/store.ts';
import { budgetLabel, parseRunRef, reportDataFromStore, scoreDigits, taskColumn } from '../../src/report/from-store.ts';
import type { ReportData } from '../../src/report/types.ts';
import { KvoptError } from '../../src/util/errors.ts';
import { sharedDataPath } from '../helpers/shared-data.ts';
import { markGroups, markItems, parseSvg, rectHeight, texts, type SvgNode } from './svg.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const model = sharedDataPath('stories260K', 'stories260K.bin');
const tokenizer = sharedDataPath('stories260K', 'tok512.bin');
const essays = sharedDataPath('paul_graham_essays');

const dir = mkdtempSync(join(tmpdir(), 'kvopt-report-store-'));
const db = join(dir, 'runs.db');
const needleFile = join(dir, 'needle.jsonl'); // a copy: one test edits it afterwards
const env = { ...process.env, KVOPT_CACHE_DIR: join(dir, 'graphs'), NO_COLOR: '1' };
const kvopt = (...args: string[]) => spawnSync(process.execPath, ['bin/kvopt.mjs', ...args], { cwd: root, encoding: 'utf8', env });

const SEARCH_BUDGET = 48;
const CONTEXT_TOKENS = 128; // continuation: the prompt is BOS + 128 tokens
let evalRun = 0;
let searchRun = 0;

before(() => {
  copyFileSync(join(root, 'datasets', 'needle.jsonl'), needleFile);
  const common = `model:\n  path: ${model}\n  tokenizer: ${tokenizer}\n`;
  const continuation = `  - name: continuation\n    data: ${essays}\n    seed: 1\n    options: { contextTokens: ${CONTEXT_TOKENS}, continuationTokens: 16 }\n`;
  writeFileSync(
    join(dir, 'eval.yaml'),
    `name: report-eval\n${common}tasks:\n${continuation}    samples: 2\n  - name: needle\n    data: ${needleFile}\n` +
      `setting: [question-aware, question-agnostic]\nmethods: [snapkv, adakv]\nbudgets: [32, 0.5]\nwindow: 16\n`,
  );
  writeFileSync(
    join(dir, 'search.yaml'),
    `name: report-search\n${common}tasks:\n${continuation}    samples: 3\n    heldout: 1\nsetting: question-aware\nmethods: [snapkv]\nbudgets: [${SEARCH_BUDGET}]\n` +
      `search:\n  scorer: snapkv\n  budget: ${SEARCH_BUDGET}\n  optimizer: cmaes\n  group_size: 5\n  population: 4\n  generations: 2\n  fitness: task\n  seed: 0\n  min_budget: 8\n`,
  );
  for (const cmd of ['eval', 'search']) {
    const r = kvopt(cmd, '--config', join(dir, `${cmd}.yaml`), '--db', db, '--quiet', '--workers', '1');
    assert.equal(r.status, 0, `kvopt ${cmd} failed: ${r.stderr}`);
  }
  const store = Store.open(db, { mustExist: true });
  evalRun = store.getRun('latest', 'eval').id;
  searchRun = store.getRun('latest', 'search').id;
  store.close();
});

after(() => rmSync(dir, { recursive: true, force: true }));

function withStore<T>(fn: (s: ReadOnlyStorage) => T): T {
  const s = Store.open(db, { mustExist: true });
  try {
    return fn(s);
  } finally {
    s.close();
  }
}

/** Checks every figure must pass; returns the parsed tree and its texts. */
function readSvg(path: string): { svg: string; root: SvgNode; text: string[] } {
  const svg = readFileSync(path, 'utf8');
  assert.ok(!svg.includes('NaN') && !/Infinity|undefined/.test(svg), `${basename(path)}: no NaN / Infinity / undefined`);
  const root = parseSvg(svg);
  assert.ok(Number(root.attrs.width) > 100 && Number(root.attrs.height) > 100, `${basename(path)}: sane size`);
  return { svg, root, text: texts(root) };
}

function assertTexts(text: string[], expected: string[], what: string): void {
  for (const e of expected) assert.ok(text.includes(e), `${what}: text "${e}" drawn; have: ${text.join(' | ')}`);
}

/** The drawn marks' aria labels, parsed into {field: value}. */
function itemLabels(root: SvgNode, type: string, role?: string): Record<string, string>[] {
  return (
    markItems(root, type)
      .filter((n) => role === undefined || n.attrs['aria-roledescription'] === role)
      // vega writes negative numbers with a real minus sign (U+2212).
      .map((n) =>
        Object.fromEntries(
          (n.attrs['aria-label'] ?? '').split('; ').map((kv) => [kv.slice(0, kv.indexOf(': ')), kv.slice(kv.indexOf(': ') + 2).replace(/^\u2212/, '-')]),
        ),
      )
  );
}

const close = (a: number, b: number, tol = 1e-9) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));
const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

test('pure helpers: budget labels, task labels, score digits, --run values', () => {
  assert.equal(budgetLabel('keep=0.2'), '20%');
  assert.equal(budgetLabel('keep=0.125'), '12.5%');
  assert.equal(budgetLabel('64'), '64');
  assert.equal(budgetLabel('full'), 'full');
  assert.equal(taskColumn('needle', 'question-agnostic', true), 'needle (q-agnostic)');
  assert.equal(taskColumn('needle', 'question-agnostic', false), 'needle');
  assert.equal(scoreDigits([0.64, 0.8]), 2);
  assert.equal(scoreDigits([0.0427, 0.5]), 4); // 0.0427 keeps three significant digits
  assert.equal(scoreDigits([0, 0.0097]), 5);
  assert.equal(parseRunRef('latest'), 'latest');
  assert.equal(parseRunRef('12'), 12);
  for (const bad of ['0', '-1', '1.5', 'x', '']) assert.throws(() => parseRunRef(bad), KvoptError, bad);
});

test('eval run → report data: rows match the raw evaluations; labels carry the setting', () => {
  const { data, evals } = withStore((s) => ({ data: reportDataFromStore(s, evalRun), evals: s.evaluationsForRun(evalRun) }));
  const rows = data.evalRows!;
  // 2 tasks × 2 settings × (full + 2 methods × 2 budgets).
  assert.equal(rows.length, 4 * 5);
  assert.deepEqual([...new Set(rows.map((r) => r.task))].sort(), [
    'continuation (q-agnostic)',
    'continuation (q-aware)',
    'needle (q-agnostic)',
    'needle (q-aware)',
  ]);
  assert.deepEqual([...new Set(rows.map((r) => r.budgetLabel))].sort(), ['32', '50%', 'full']);
  // Every cell against a naive mean over the stored evaluations.
  for (const r of rows) {
    const [task, short] = /^(\w+) \((q-\w+)\)$/.exec(r.task)!.slice(1) as [string, string];
    const setting = short === 'q-aware' ? 'question-aware' : 'question-agnostic';
    const budget = r.budgetLabel === '50%' ? 'keep=0.5' : r.budgetLabel;
    const mine = evals.filter((e) => e.task === task && e.setting === setting && e.method === r.method && e.budget === budget);
    assert.ok(mine.length > 0 && mine.every((e) => e.status === 'ok'), r.task);
    assert.equal(r.n, mine.length);
    assert.ok(close(r.score, meanOf(mine.map((e) => e.score!))), `${r.method} ${r.budgetLabel} ${r.task} score`);
    assert.ok(close(r.budget, meanOf(mine.map((e) => e.budgetTokens!))), 'budget = mean tokens');
    assert.ok(close(r.kvBytes!, meanOf(mine.map((e) => e.kvBytes!))), 'physical bytes');
    const full = evals.filter((e) => e.task === task && e.setting === setting && e.method === 'full');
    assert.ok(close(r.kvBytesFull!, meanOf(full.map((e) => e.kvBytes!))), 'full bytes of the same task and setting');
    const fullScore = meanOf(full.map((e) => e.score!));
    assert.ok(close(r.qualityLoss!, 1 - r.score / fullScore), 'loss = 1 − score/full (all samples paired)');
  }
  // A fraction budget resolves per prompt: 50% of the continuation prompt (129 tokens) is 64 tokens.
  assert.equal(rows.find((r) => r.task === 'continuation (q-aware)' && r.method === 'snapkv' && r.budgetLabel === '50%')!.budget, 64);
  // adakv allocates per head: the per-head heatmap is the mean of the stored [layer][head] counts, and each
  // layer's heads keep Hkv × its budget in total (adakv's exact per-layer total).
  assert.ok(
    data.notes?.some((n) => /Per-head allocation: adakv at /.test(n)),
    String(data.notes),
  );
  const heads = data.profile!.headBudgets!;
  assert.equal(heads.length, 5);
  const chosen = evals.filter((e) => e.method === 'adakv' && data.profile!.label!.startsWith(`adakv at ${e.budget} (${e.setting},`));
  assert.ok(chosen.length > 0);
  heads.forEach((row, l) => {
    assert.equal(row.length, 4);
    const want = meanOf(chosen.map((e) => e.headBudgets![l].reduce((a, b) => a + b, 0))) / 4;
    assert.ok(close(meanOf(row), want), `layer ${l}: mean over heads = stored budget`);
    assert.ok(close(data.profile!.layerBudgets[l], want));
  });
  // ~3 significant digits, and enough to tell every two different scores apart
  const digits = data.table!.digits!;
  assert.ok(digits >= scoreDigits(rows.map((r) => r.score)));
  const distinctScores = new Set(rows.map((r) => r.score));
  assert.equal(new Set([...distinctScores].map((x) => x.toFixed(digits))).size, distinctScores.size);
  for (const r of rows) if (r.n > 1) assert.ok(r.scoreLo! <= r.score && r.score <= r.scoreHi!, `${r.method} ${r.task}: interval holds the mean`);
});

test('needle grid from the stored run: length × depth from the sample meta, scores from the evaluations', () => {
  const { data, evals, samples } = withStore((s) => ({
    data: reportDataFromStore(s, evalRun),
    evals: s.evaluationsForRun(evalRun),
    samples: s.samplesForRun(evalRun),
  }));
  const meta = new Map(
    readFileSync(join(root, 'datasets', 'needle.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => {
        const o = JSON.parse(l) as { id: string; meta: { haystack_sentences: number; depth_percent: number } };
        return [o.id, o.meta];
      }),
  );
  const cells = data.needle!;
  const panels = [...new Set(cells.map((c) => c.method))];
  // full + 2 methods × 2 budgets, each in 2 settings; 15 samples = 3 haystack sizes × 5 depths.
  assert.equal(panels.length, 10);
  assert.ok(panels.includes('full (q-aware)') && panels.includes('adakv @ 50% (q-agnostic)'), panels.join(', '));
  assert.equal(cells.length, 10 * 15);
  const lengths = [...new Set(cells.map((c) => c.contextLength))].sort((a, b) => a - b);
  assert.equal(lengths.length, 3);
  const sizes = [...new Set([...meta.values()].map((m) => m.haystack_sentences))].sort((a, b) => a - b);
  // A length is the mean prompt without the question (full cache, q-agnostic) over that haystack size.
  sizes.forEach((size, i) => {
    const ids = samples.filter((s) => s.task === 'needle' && meta.get(s.key)!.haystack_sentences === size).map((s) => s.id);
    const t = evals.filter((e) => ids.includes(e.sampleId) && e.method === 'full' && e.setting === 'question-agnostic').map((e) => e.budgetTokens!);
    assert.equal(lengths[i], Math.round(meanOf(t)), `haystack of ${size} sentences`);
  });
  // Every cell is the score of the one sample at that size and depth.
  const key = (method: string, budget: string, setting: string) =>
    (method === 'full' ? 'full' : `${method} @ ${budgetLabel(budget)}`) + ` (${setting === 'question-aware' ? 'q-aware' : 'q-agnostic'})`;
  for (const e of evals.filter((x) => x.task === 'needle')) {
    const m = meta.get(e.sampleKey)!;
    const cell = cells.find(
      (c) =>
        c.method === key(e.method, e.budget, e.setting) &&
        c.contextLength === lengths[sizes.indexOf(m.haystack_sentences)] &&
        c.depth === m.depth_percent / 100,
    );
    assert.ok(cell, `cell of ${e.sampleKey} ${e.method} ${e.budget} ${e.setting}`);
    assert.ok(close(cell.score, e.score!), e.sampleKey);
  }
});

test('search run → report data: generations, profile vs uniform and a hand-computed pyramid, split comparison', () => {
  const { data, gens, profiles, best, prompt } = withStore((s) => ({
    data: reportDataFromStore(s, searchRun),
    gens: s.generations(searchRun),
    profiles: s.profiles(searchRun),
    best: s.bestCandidate(searchRun),
    prompt: s.meanPrefillTokens(searchRun),
  }));
  assert.deepEqual(
    data.searchGenerations,
    gens.map((g) => ({ group: g.group, generation: g.generation, best: g.bestFitness, median: g.medianFitness, heldoutBest: g.heldoutScore })),
  );
  assert.equal(data.searchGenerations!.length, 2);
  assert.equal(data.run!.bestFitness, best!.fitness);
  const p = data.profile!;
  assert.deepEqual(p.layerBudgets, profiles.find((x) => x.source === 'search')!.budgets);
  assert.equal(p.target, SEARCH_BUDGET);
  // PyramidKV by hand: T = 129, w = 32 (snapkv's window), B′ = 48 − 32 = 16, min = ⌊16/20⌋ = 0,
  // max = 2·16 − 0 = 32 (< T − w), x_l = 32 − 8l, plus w.
  assert.equal(prompt, CONTEXT_TOKENS + 1);
  assert.deepEqual(p.pyramid, [64, 56, 48, 40, 32]);
  // The final comparison per split: 2 calibration samples, 1 held out.
  const rows = data.evalRows!;
  assert.deepEqual([...new Set(rows.map((r) => r.method))].sort(), ['evolkv:snapkv', 'pyramid:snapkv', 'uniform:snapkv']);
  assert.deepEqual([...new Set(rows.map((r) => r.task))].sort(), ['continuation (calibration)', 'continuation (held-out)']);
  assert.deepEqual(rows.map((r) => r.n).sort(), [1, 1, 1, 2, 2, 2]);
  const evolkvHeld = rows.find((r) => r.method === 'evolkv:snapkv' && r.task === 'continuation (held-out)')!;
  assert.ok(close(evolkvHeld.score, profiles[0].heldoutScore!), 'held-out score of the profile as the search stored it');
  assert.equal(data.table!.average, false);
});

test('kvopt report: every chart of the eval run drawn from the store, with its axes, series and values', () => {
  const out = join(dir, 'report-eval');
  const r = kvopt('report', '--db', db, '--run', String(evalRun), '--out', out, '--format', 'html,svg,png,md,tex');
  assert.equal(r.status, 0, r.stderr);
  const written = r.stdout.trim().split('\n');
  const figures = ['eval-quality', 'eval-loss', 'needle', 'memory', 'budget-profile', 'head-allocation'];
  assert.deepEqual(
    written.map((p) => basename(p)),
    ['report.html', ...figures.map((f) => `${f}.svg`), ...figures.map((f) => `${f}.png`), 'report.md', 'results.tex', 'paired.tex'],
  );
  for (const p of written) assert.ok(existsSync(p), p);
  for (const f of figures)
    assert.ok(
      readFileSync(join(out, `${f}.png`))
        .subarray(0, 4)
        .equals(Buffer.from([0x89, 0x50, 0x4e, 0x47])),
      `${f}.png`,
    );
  const data = withStore((s) => reportDataFromStore(s, evalRun));
  const rows = data.evalRows!;
  const tasks = ['continuation (q-agnostic)', 'continuation (q-aware)', 'needle (q-agnostic)', 'needle (q-aware)'];

  // Quality vs budget: one panel per task, one line per method in each, the full cache as a rule.
  {
    const { root, text } = readSvg(join(out, 'eval-quality.svg'));
    assertTexts(text, ['budget (tokens per KV head per layer)', 'score (95% interval)', 'snapkv', 'adakv', 'full cache', ...tasks], 'eval-quality');
    assert.equal(markItems(root, 'line').length, 2 * 4, 'a line per method per task');
    assert.equal(markItems(root, 'rule').length, 4 + 2 * 2 * 4, 'a full-cache rule per task, an interval bar per point');
    const points = itemLabels(root, 'symbol', 'point');
    assert.equal(points.length, 2 * 2 * 4);
    for (const r of rows.filter((x) => x.method !== 'full')) {
      assert.ok(
        points.some(
          (p) => p.method === r.method && close(Number(p.score), r.score, 1e-10) && close(Number(p['budget (tokens per KV head per layer)']), r.budget, 1e-10),
        ),
        `${r.method} ${r.budgetLabel} ${r.task}`,
      );
    }
  }
  // Quality loss at the smallest budget: a bar per method × (task + average).
  {
    const { root, text } = readSvg(join(out, 'eval-loss.svg'));
    assertTexts(text, ['Quality loss at budget 32', 'method', 'quality loss (%) = 1 − score / full (95% interval)', 'average', ...tasks], 'eval-loss');
    const bars = itemLabels(root, 'rect', 'bar');
    assert.equal(bars.length, 2 * 5);
    for (const r of rows.filter((x) => x.method !== 'full' && x.budgetLabel === '32')) {
      const bar = bars.find((b) => b.method === r.method && b.task === r.task)!;
      assert.ok(close(Number(bar['quality loss (%) = 1 − score / full (95% interval)']), r.qualityLoss! * 100, 1e-9), `${r.method} ${r.task}`);
    }
  }
  // Memory: logical and physical bars per method and budget; physical ≥ logical (padding), full cache rule.
  {
    const { root, text } = readSvg(join(out, 'memory.svg'));
    assertTexts(text, ['KV cache memory: logical vs physical', 'KV cache (KiB, mean over tasks)', 'logical', 'physical', '32', '50%'], 'memory');
    const bars = itemLabels(root, 'rect', 'bar');
    assert.equal(bars.length, 2 * 2 * 2);
    assert.equal(markItems(root, 'rule').length, 2, 'full-cache rule per budget panel');
    // snapkv at 32 keeps 32 tokens × 5 layers × 4 KV heads × 64 bytes = 40 KiB, logical and physical alike.
    for (const b of bars.filter((x) => x.method === 'snapkv' && Number(x['KV cache (KiB, mean over tasks)']) < 50)) {
      assert.ok(close(Number(b['KV cache (KiB, mean over tasks)']), (32 * 5 * 4 * 64) / 1024), JSON.stringify(b));
    }
    const heights = markItems(root, 'rect')
      .filter((n) => n.attrs['aria-roledescription'] === 'bar')
      .map((n) => ({ label: n.attrs['aria-label'], h: rectHeight(n.attrs.d!) }));
    const adakv = heights.filter((x) => x.label.includes('adakv'));
    const logical = adakv.filter((x) => x.label.includes('logical')).map((x) => x.h);
    const physical = adakv.filter((x) => x.label.includes('physical')).map((x) => x.h);
    logical.forEach((h, i) => assert.ok(physical[i] >= h - 1e-6, 'padding never shrinks a cache'));
  }
  // Needle: 10 panels of 3 lengths × 5 depths.
  {
    const { root, text } = readSvg(join(out, 'needle.svg'));
    assertTexts(
      text,
      ['Needle in a haystack', 'context length (tokens)', 'needle depth', '0%', '100%', 'full (q-aware)', 'snapkv @ 32 (q-agnostic)', 'score'],
      'needle',
    );
    assert.equal(itemLabels(root, 'rect').length, 150);
    // One rect group per panel, in panel order; a rect's label has its length, depth and score.
    const panels = [...new Set(data.needle!.map((c) => c.method))];
    const groups = markGroups(root, 'rect');
    assert.equal(groups.length, panels.length);
    panels.forEach((panel, i) => {
      const drawn = groups[i].children.filter((n) => n.tag === 'path').map((n) => n.attrs['aria-label']);
      const mine = data.needle!.filter((c) => c.method === panel);
      assert.equal(drawn.length, mine.length, panel);
      for (const c of mine) {
        const want = `context length (tokens): ${c.contextLength}; needle depth: ${Math.round(c.depth * 100)}%; score: `;
        const label = drawn.find((l) => l.startsWith(want));
        assert.ok(label && close(Number(label.slice(want.length)), c.score, 1e-10), `${panel}: ${want}${c.score}`);
      }
    });
  }
  // HTML: self-contained, every figure inline, the results table, the notes.
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.ok(!/<script|<link|src="http|url\(http/i.test(html), 'no scripts or external resources');
  assert.ok(!html.includes('NaN'));
  for (const f of figures) assert.ok(html.includes(`<figure id="fig-${f}"><svg`), f);
  assert.ok(html.includes('<table class="results">') && html.includes('needle (q-aware)') && html.includes('Full cache'));
  assert.ok(html.includes('Per-head allocation: adakv at'));
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  assert.ok(md.includes('![Needle in a haystack](needle.png)'));
  const tex = readFileSync(join(out, 'results.tex'), 'utf8');
  assert.ok(tex.includes('\\toprule') && tex.includes('continuation (q-agnostic)') && tex.includes('50\\%'));
});

test('kvopt report: the search run draws search progress and the budget profile', () => {
  const out = join(dir, 'report-search');
  const r = kvopt('report', '--db', db, '--run', 'latest', '--out', out, '--format', 'svg,html');
  assert.equal(r.status, 0, r.stderr);
  const names = r.stdout
    .trim()
    .split('\n')
    .map((p) => basename(p));
  assert.deepEqual(names, ['report.html', 'search-progress.svg', 'budget-profile.svg', 'eval-quality.svg']);
  const data: ReportData = withStore((s) => reportDataFromStore(s, searchRun));
  {
    const { root, text } = readSvg(join(out, 'search-progress.svg'));
    assertTexts(
      text,
      [
        'Search progress',
        'generation',
        'fitness',
        'calibration best',
        'calibration median',
        'held-out score',
        "held-out task score of each generation's best (no cache bonus)",
        '1',
        '2',
      ],
      'search',
    );
    assert.equal(markGroups(root, 'line').length, 3);
    const points = itemLabels(root, 'symbol', 'point');
    assert.equal(points.length, 3 * 2);
    for (const g of data.searchGenerations!) {
      const at = points.filter((p) => Number(p.generation) === g.generation + 1);
      assert.ok(close(Number(at.find((p) => p.series === 'calibration best')!.fitness), g.best, 1e-10));
      assert.ok(close(Number(at.find((p) => p.series === 'calibration median')!.fitness), g.median, 1e-10));
      assert.ok(close(Number(at.find((p) => p['held-out score'] !== undefined)!['held-out score']), g.heldoutBest!, 1e-10));
    }
    assert.ok(!text.includes('1.5') && text.filter((t) => t === '1').length === 2, 'integer generation ticks only (one axis per panel)');
  }
  {
    const { root, text } = readSvg(join(out, 'budget-profile.svg'));
    assertTexts(
      text,
      [`Per-layer budgets (target mean ${SEARCH_BUDGET})`, 'layer', 'budget (tokens per KV head)', 'evolkv (snapkv)', 'uniform', 'pyramid'],
      'profile',
    );
    const bars = markItems(root, 'rect').filter((n) => n.attrs['aria-roledescription'] === 'bar');
    const heights = bars.map((n) => rectHeight(n.attrs.d!));
    const budgets = data.profile!.layerBudgets;
    assert.equal(heights.length, budgets.length);
    heights.forEach((h, i) => assert.ok(Math.abs(h / heights[0] - budgets[i] / budgets[0]) < 1e-6, `bar ${i} ∝ budget`));
    const pyramid = itemLabels(root, 'symbol')
      .filter((p) => p.series === 'pyramid')
      .map((p) => Number(p['budget (tokens per KV head)']));
    assert.deepEqual(pyramid, [64, 56, 48, 40, 32]);
    assert.equal(markGroups(root, 'line').length, 2);
  }
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.ok(html.includes('continuation (held-out)') && html.includes('evolkv:snapkv'));
  assert.ok(/Quality loss: no quality loss/.test(html), 'the figures a search cannot make are listed');
});

test('kvopt runs and kvopt show print the history and the results table', () => {
  const runs = kvopt('runs', '--db', db, '--json');
  assert.equal(runs.status, 0, runs.stderr);
  const list = JSON.parse(runs.stdout) as {
    id: number;
    kind: string;
    status: string;
    configHash: string;
    bestFitness: number | null;
    durationS: number;
    evaluationsOk: number;
  }[];
  assert.deepEqual(
    list.map((r) => [r.id, r.kind, r.status]),
    [
      [searchRun, 'search', 'complete'],
      [evalRun, 'eval', 'complete'],
    ],
  );
  for (const r of list) {
    assert.match(r.configHash, /^[0-9a-f]{64}$/);
    assert.ok(r.durationS > 0 && r.durationS < 600);
  }
  const best = withStore((s) => s.bestCandidate(searchRun)!.fitness);
  assert.equal(list[0].bestFitness, best);
  assert.equal(list[1].bestFitness, null);
  const evalCount = withStore((s) => s.evaluationsForRun(evalRun).filter((e) => e.status === 'ok').length);
  assert.equal(list[1].evaluationsOk, evalCount);

  const table = kvopt('runs', '--db', db, '--limit', '1');
  assert.equal(table.status, 0, table.stderr);
  const lines = table.stdout.trim().split('\n');
  assert.match(lines[0], /^ID\s+KIND\s+NAME\s+STATUS\s+CONFIG\s+BEST/);
  assert.equal(lines.length, 2, 'header + the newest run');
  assert.match(lines[1], new RegExp(`^\\s*${searchRun}\\s+search\\s+report-search\\s+complete\\s+[0-9a-f]{12}\\s+${best!.toFixed(4)}`));

  const show = kvopt('show', '--db', db, '--run', String(evalRun));
  assert.equal(show.status, 0, show.stderr);
  assert.match(show.stdout, /^id:\s+\d+\nkind:\s+eval\nname:\s+report-eval\nstatus:\s+complete\nconfig hash:\s+[0-9a-f]{64}\n/);
  const header = show.stdout.split('\n').find((l) => l.startsWith('| Budget'))!;
  assert.deepEqual(
    header
      .split('|')
      .map((c) => c.trim())
      .filter(Boolean),
    ['Budget', 'Method', 'continuation (q-agnostic)', 'continuation (q-aware)', 'needle (q-agnostic)', 'needle (q-aware)', 'Avg.'],
  );
  // One cell checked against the raw evaluations: snapkv at 32 on needle (q-aware), "score (loss%)".
  const data = withStore((s) => reportDataFromStore(s, evalRun));
  const evals = withStore((s) => s.evaluationsForRun(evalRun)).filter((e) => e.task === 'needle' && e.setting === 'question-aware');
  const score = meanOf(evals.filter((e) => e.method === 'snapkv' && e.budget === '32').map((e) => e.score!));
  const full = meanOf(evals.filter((e) => e.method === 'full').map((e) => e.score!));
  const loss = ((1 - score / full) * 100).toFixed(1).replace('-', '−');
  // Budgets ascend and the first budget is 32: the first snapkv row is the one at 32.
  const row = show.stdout.split('\n').find((l) => /^\|[ 32]+\| snapkv /.test(l))!;
  const d = data.table!.digits!;
  const cell = data.evalRows!.find((r) => r.method === 'snapkv' && r.budgetLabel === '32' && r.task === 'needle (q-aware)')!;
  const pct = (x: number) => (x * 100).toFixed(1).replace('-', '−');
  assert.equal(
    row.split('|')[6].trim(),
    `${score.toFixed(d)} [${cell.scoreLo!.toFixed(d)}, ${cell.scoreHi!.toFixed(d)}] (${loss}% [${pct(cell.lossLo!)}, ${pct(cell.lossHi!)}])`,
  );
  assert.ok(cell.scoreLo! <= score && score <= cell.scoreHi!);

  const json = kvopt('show', '--db', db, '--run', 'latest', '--json');
  assert.equal(json.status, 0, json.stderr);
  const shown = JSON.parse(json.stdout) as { run: { id: number }; generations: unknown[]; profiles: { budgets: number[] }[] };
  assert.equal(shown.run.id, searchRun);
  assert.equal(shown.generations.length, 2);
  assert.deepEqual(
    shown.profiles[0].budgets,
    withStore((s) => s.profiles(searchRun)[0].budgets),
  );
});

test('bad input: one line naming the problem, non-zero exit', () => {
  // Each spawn costs seconds of CLI start-up on a shared machine: one case per kind of error (--run values: see the first test).
  const cases: [string[], RegExp][] = [
    [['report', '--db', join(dir, 'none.db')], /none\.db: no such kvopt database/],
    [['show', '--db', db, '--run', '99'], /no run with id 99/],
    [['report', '--db', db, '--format', 'html,pdf'], /--format: unknown format 'pdf'/],
    [['runs', '--db', db, '--limit', 'x'], /--limit: expected a positive integer, got 'x'/],
  ];
  for (const [args, message] of cases) {
    const r = kvopt(...args);
    assert.notEqual(r.status, 0, `${args.join(' ')} should fail`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^kvopt: /);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
  assert.ok(!existsSync(join(dir, 'none.db')), 'a missing database is not created');
});

test('a needle file edited since the run: the heatmap is left out with the reason, never misread', () => {
  const lines = readFileSync(needleFile, 'utf8').trim().split('\n');
  const first = JSON.parse(lines[0]) as { meta: { depth_percent: number } };
  first.meta.depth_percent = 60;
  writeFileSync(needleFile, [JSON.stringify(first), ...lines.slice(1)].join('\n') + '\n');
  const data = withStore((s) => reportDataFromStore(s, evalRun));
  assert.equal(data.needle, undefined);
  assert.ok(
    data.notes!.some((n) => /Needle in a haystack \(needle\): not drawn, .*needle\.jsonl changed since the run \(sample needle-0 is different\)/.test(n)),
    String(data.notes),
  );
});
