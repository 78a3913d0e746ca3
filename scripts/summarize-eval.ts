/**
 * Markdown summary of a `kvopt eval --json` file: per task and setting, one row per method, one column
 * group per budget with score loss, top-1 agreement and KL vs the full cache (continuation metrics).
 *   node --import tsx scripts/summarize-eval.ts results/stories260k-methods.json > results/stories260k-methods.md
 */
import { readFileSync } from 'node:fs';
import type { ResultRow } from '../src/store/types.ts';

const file = process.argv[2];
if (!file) throw new Error('usage: summarize-eval.ts RESULTS.json');
const rows = (JSON.parse(readFileSync(file, 'utf8')) as { rows: ResultRow[] }).rows;
const budgets = [...new Set(rows.filter((r) => r.budget.startsWith('keep=')).map((r) => r.budget))].sort();
const pct = (x: number | null | undefined) => (x === null || x === undefined ? '—' : `${(100 * x).toFixed(1)}%`);
const f3 = (x: number | undefined) => (x === undefined ? '—' : x.toFixed(3));
const out: string[] = [];
for (const task of [...new Set(rows.map((r) => r.task))]) {
  for (const setting of [...new Set(rows.map((r) => r.setting))]) {
    const mine = rows.filter((r) => r.task === task && r.setting === setting);
    if (!mine.length) continue;
    const n = mine[0].n;
    out.push(`### ${task}, ${setting} (${n} samples)`, '');
    out.push(`| method | ${budgets.map((b) => `${b.slice(5)}: loss / top-1 / KL`).join(' | ')} |`);
    out.push(`|---|${budgets.map(() => '---').join('|')}|`);
    const methods = [...new Set(mine.map((r) => r.method))].filter((m) => m !== 'full');
    // order by KL at the middle budget (lower is closer to the full cache)
    const mid = budgets[Math.floor(budgets.length / 2)];
    const kl = (m: string) => mine.find((r) => r.method === m && (r.budget === mid || r.budget === 'full'))?.metrics.kl ?? Infinity;
    for (const m of methods.sort((a, b) => kl(a) - kl(b))) {
      const cells = budgets.map((b) => {
        const r = mine.find((x) => x.method === m && (x.budget === b || x.budget === 'full'));
        return r ? `${pct(r.qualityLoss)} / ${f3(r.metrics.top1)} / ${f3(r.metrics.kl)}` : '—';
      });
      out.push(`| ${m} | ${cells.join(' | ')} |`);
    }
    out.push('');
  }
}
process.stdout.write(out.join('\n'));
