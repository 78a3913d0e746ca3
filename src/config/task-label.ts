/** How a configured task is named in results (eval rows, reports). */
import { basename } from 'node:path';
import type { TaskConfig } from './schema.ts';

/** The task's name in results: `continuation[essays]` when the config names the same task more than once. */
export function taskLabel(task: TaskConfig, all: readonly TaskConfig[]): string {
  if (all.filter((t) => t.name === task.name).length < 2) return task.name;
  return `${task.name}[${basename(task.data).replace(/\.[^.]*$/, '')}]`;
}
