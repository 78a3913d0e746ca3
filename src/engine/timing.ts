/**
 * Where a run's time went, in the buckets the workers measure (prefill, compress, decode, metrics), and what
 * is left of wall time × workers (messages, storage, the optimiser, idle workers), so a summary accounts for
 * every bucket.
 */
import type { ItemResult } from './evaluate.ts';

export interface RunTiming {
  wallMs: number;
  /** Workers the run had: wall × workers is the time the buckets can fill. */
  workers: number;
  prefillMs: number;
  compressMs: number;
  decodeMs: number;
  metricsMs: number;
}

export function emptyTiming(workers: number): RunTiming {
  return { wallMs: 0, workers, prefillMs: 0, compressMs: 0, decodeMs: 0, metricsMs: 0 };
}

export function addItemTiming(t: RunTiming, r: ItemResult): void {
  t.compressMs += r.compressMs;
  t.decodeMs += r.decodeMs;
  t.metricsMs += r.metricsMs;
}

/** "worker time: prefill 1.2 s, compress …, decode …, metrics …; other 3 % of wall × 2 workers". */
export function timingLine(t: RunTiming): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const measured = t.prefillMs + t.compressMs + t.decodeMs + t.metricsMs;
  const capacity = t.wallMs * t.workers;
  const other = capacity > 0 ? Math.max(0, (capacity - measured) / capacity) : 0;
  return (
    `worker time: prefill ${s(t.prefillMs)}, compress ${s(t.compressMs)}, decode ${s(t.decodeMs)}, metrics ${s(t.metricsMs)}; ` +
    `other ${(100 * other).toFixed(0)} % of wall × ${t.workers} worker${t.workers === 1 ? '' : 's'} (messages, storage, optimiser, idle)`
  );
}
