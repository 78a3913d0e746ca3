/**
 * The exit code of an eval or search run, with one line on stderr when it is not 0:
 * 0 complete; 2 finished with failed evaluations (stored as failed; --resume re-runs them);
 * 130 / 143 interrupted by SIGINT / SIGTERM (--resume continues); 1 any other unfinished state.
 */
import type { RunStatus } from '../store/types.ts';

export const EXIT_FAILED_EVALUATIONS = 2;

export function runExitCode(status: RunStatus, interruptedBy: 'SIGINT' | 'SIGTERM' | null, failed: number, total: number): number {
  if (status === 'complete') return 0;
  if (status === 'interrupted') {
    process.stderr.write(`kvopt: interrupted${interruptedBy ? ` by ${interruptedBy}` : ''}; run the same command with --resume to continue\n`);
    return interruptedBy === 'SIGTERM' ? 143 : 130;
  }
  if (failed > 0) {
    process.stderr.write(
      `kvopt: ${failed} of ${total} evaluations failed (stored as failed); fix the cause and run the same command with --resume to re-run them\n`,
    );
    return EXIT_FAILED_EVALUATIONS;
  }
  process.stderr.write(`kvopt: the run ended ${status}\n`);
  return 1;
}
