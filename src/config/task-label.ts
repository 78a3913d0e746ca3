/** How a configured task is named in results (eval rows, reports). */
import { basename } from 'node:path';
import { selfExtendLabel } from '../model/self-extend.ts';
import type { TaskConfig } from './schema.ts';

const sameSelfExtend = (a: TaskConfig, b: TaskConfig) =>
  (a.selfExtend ? selfExtendLabel(a.selfExtend) : '') === (b.selfExtend ? selfExtendLabel(b.selfExtend) : '');

const dataName = (t: TaskConfig) => basename(t.data).replace(/\.[^.]*$/, '');

const optionsLabel = (o: Record<string, unknown>) =>
  Object.keys(o).length === 0
    ? '(defaults)'
    : `(${Object.keys(o)
        .sort()
        .map((k) => `${k}=${typeof o[k] === 'object' ? JSON.stringify(o[k]) : String(o[k])}`)
        .join(',')})`;

/**
 * The task's name in results: `continuation[essays]` when the config names the same task more than once,
 * `continuation[essays](contextTokens=960,...)` when with the same data too (its options tell them apart), and
 * `+selfextend(G=8,W=128)` appended for a SelfExtend variant (config/self-extend.ts).
 */
export function taskLabel(task: TaskConfig, all: readonly TaskConfig[]): string {
  const se = task.selfExtend ? `+${selfExtendLabel(task.selfExtend)}` : '';
  const same = all.filter((t) => t.name === task.name && sameSelfExtend(t, task));
  if (same.length < 2) return task.name + se;
  const opts = same.filter((t) => dataName(t) === dataName(task)).length < 2 ? '' : optionsLabel(task.options);
  return `${task.name}[${dataName(task)}]${opts}${se}`;
}
