/**
 * Progress for long runs: a cli-progress bar with ETA on a TTY; on a pipe or in CI, a plain line every
 * `intervalMs` (cli-progress prints nothing without a TTY unless told to, see node-stack-notes §5).
 * Everything goes to stderr so stdout stays clean for tables and JSON.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** Adds finished units; `detail` is shown next to the bar (e.g. the last method evaluated). */
  tick(n?: number, detail?: string): void;
  setTotal(total: number): void;
  stop(): void;
}

export function createProgress(label: string, total: number, opts: { quiet?: boolean; intervalMs?: number } = {}): Progress {
  if (opts.quiet) return { tick() {}, setTotal() {}, stop() {} };
  const tty = Boolean(process.stderr.isTTY) && !process.env.CI;
  if (tty) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted} | {detail}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { detail: '' });
    return {
      tick: (n = 1, detail = '') => bar.increment(n, { detail }),
      setTotal: (t) => bar.setTotal(t),
      stop: () => bar.stop(),
    };
  }
  // Plain lines for logs: at most one per interval, plus the final one.
  const intervalMs = opts.intervalMs ?? 10_000;
  const start = Date.now();
  let done = 0;
  let last = 0;
  let t = total;
  const line = (detail: string) => {
    const elapsed = (Date.now() - start) / 1000;
    const eta = done > 0 ? ((t - done) * elapsed) / done : NaN;
    process.stderr.write(
      `${label}: ${done}/${t} (${t ? ((100 * done) / t).toFixed(0) : 100}%) elapsed ${elapsed.toFixed(0)}s` +
        `${Number.isFinite(eta) ? ` eta ${eta.toFixed(0)}s` : ''}${detail ? ` | ${detail}` : ''}\n`,
    );
  };
  return {
    tick(n = 1, detail = '') {
      done += n;
      if (Date.now() - last >= intervalMs || done >= t) {
        last = Date.now();
        line(detail);
      }
    },
    setTotal(x) {
      t = x;
    },
    stop() {},
  };
}
