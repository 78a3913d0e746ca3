/**
 * The EvolKV comparison at the end of a search (evolkv vs uniform vs pyramid at the same mean budget) with
 * intervals: each allocation's mean with its bootstrap interval, and the paired difference EvolKV − other
 * on the same samples, which says whether the found profile beats the schedules beyond noise.
 */
import { type BootstrapOptions, type Estimate, meanInterval, type PairedDifference, pairedDifference, seedFor } from './bootstrap.ts';

export interface AllocationScores {
  budget: number;
  allocation: string;
  perSample: { calibration: Record<string, number>; heldout: Record<string, number> | null };
}

export interface ComparisonStats {
  budget: number;
  allocation: string;
  calibration: Estimate | null;
  heldout: Estimate | null;
  /** EvolKV − this allocation, paired over samples (null for the EvolKV row itself). */
  calibrationDiff: PairedDifference | null;
  heldoutDiff: PairedDifference | null;
}

const finite = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).filter(([, v]) => Number.isFinite(v)));

function paired(a: Record<string, number>, b: Record<string, number>, opts: BootstrapOptions): PairedDifference | null {
  const ids = Object.keys(a).filter((id) => Number.isFinite(a[id]) && Number.isFinite(b[id]));
  return ids.length
    ? pairedDifference(
        ids.map((id) => a[id]),
        ids.map((id) => b[id]),
        opts,
      )
    : null;
}

export function comparisonStats(rows: readonly AllocationScores[], opts: BootstrapOptions = {}): ComparisonStats[] {
  return rows.map((r) => {
    const found = rows.find((x) => x.budget === r.budget && x.allocation === 'evolkv');
    const o = (label: string) => ({ ...opts, seed: seedFor(opts.seed ?? 0, `${r.budget}|${r.allocation}|${label}`) });
    const mean = (m: Record<string, number> | null, label: string) => (m ? meanInterval(Object.values(finite(m)), o(label)) : null);
    const self = r.allocation === 'evolkv' || !found;
    return {
      budget: r.budget,
      allocation: r.allocation,
      calibration: mean(r.perSample.calibration, 'cal'),
      heldout: mean(r.perSample.heldout, 'held'),
      calibrationDiff: self ? null : paired(found!.perSample.calibration, r.perSample.calibration, o('dcal')),
      heldoutDiff: self || !found!.perSample.heldout || !r.perSample.heldout ? null : paired(found!.perSample.heldout, r.perSample.heldout, o('dheld')),
    };
  });
}
