/**
 * Markdown table of a SelfExtend `kvopt eval --json` file (experiments/selfextend*.yaml): one row per
 * SelfExtend variant × method × budget, one column per task entry (e.g. retrieval length), mean score
 * (mean log-likelihood for the continuation task).
 *   node --import tsx scripts/summarize-selfextend.ts results/selfextend.json > results/selfextend.md
 */
import { readFileSync } from 'node:fs';

interface Row {
  task: string;
  method: string;
  budget: string;
  meanScore: number;
  meanBudgetTokens: number;
  metrics?: Record<string, number>;
  n: number;
  failed: number;
}
const file = process.argv[2];
if (!file) throw new Error('usage: summarize-selfextend.ts RESULTS.json');
const rows = (JSON.parse(readFileSync(file, 'utf8')) as { rows: Row[] }).rows;
const split = (label: string) => {
  const m = /^(.*?)(\+selfextend\(G=\d+,W=\d+\))?$/.exec(label)!;
  return { task: m[1], variant: m[2] ? m[2].slice(1) : 'off' };
};
// tasks by their longest prompt (shortest first), variants off first then by G, W
const longest = (t: string) => Math.max(...rows.filter((r) => split(r.task).task === t && r.method === 'full').map((r) => r.meanBudgetTokens));
const tasks = [...new Set(rows.map((r) => split(r.task).task))].sort((a, b) => longest(a) - longest(b));
const gw = (v: string) => (v === 'off' ? [0, 0] : (/G=(\d+),W=(\d+)/.exec(v)!.slice(1).map(Number) as number[]));
const variants = [...new Set(rows.map((r) => split(r.task).variant))].sort((a, b) => gw(a)[0] - gw(b)[0] || gw(a)[1] - gw(b)[1]);
const methods = [...new Set(rows.map((r) => r.method))];
const budgets = [...new Set(rows.map((r) => r.budget))].sort((a, b) => (a === 'full' ? -1 : b === 'full' ? 1 : a.localeCompare(b)));
const cell = (r: Row | undefined) => (r ? `${(r.metrics?.loglik ?? r.meanScore).toFixed(3)}${r.failed ? ` (${r.failed} failed)` : ''}` : '—');
const out = [`| SelfExtend | method | budget | ${tasks.join(' | ')} |`, `|---|---|---|${tasks.map(() => '---:').join('|')}|`];
for (const v of variants) {
  for (const m of methods) {
    for (const b of budgets) {
      const mine = tasks.map((t) => rows.find((r) => r.method === m && r.budget === b && split(r.task).task === t && split(r.task).variant === v));
      if (mine.every((r) => !r)) continue;
      out.push(`| ${v} | ${m} | ${b} | ${mine.map(cell).join(' | ')} |`);
    }
  }
}
const n = [...new Set(rows.map((r) => r.n))].join('/');
out.push(
  '',
  `mean score (continuation: mean log-likelihood) per cell; ${n} samples per cell; prompt tokens per task: ${tasks
    .map(
      (t) =>
        `${t} ${variants.map((v) => rows.find((r) => r.method === 'full' && split(r.task).task === t && split(r.task).variant === v)?.meanBudgetTokens.toFixed(0) ?? '—').join('/')}`,
    )
    .join('; ')} (variants in row order)`,
);
process.stdout.write(out.join('\n') + '\n');
