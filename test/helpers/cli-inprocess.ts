// Runs the kvopt CLI in this process through its entry (src/cli/main.ts `run`), capturing stdout and
// stderr: the same code path as bin/kvopt.mjs without a process start per case.
import { run } from '../../src/cli/main.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(argv: string[], opts: { cwd?: string } = {}): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const w1 = process.stdout.write;
  const w2 = process.stderr.write;
  const cwd = process.cwd();
  // Only what kvopt writes is captured: the test runner reports through the same process.stdout (from
  // its stream internals), asynchronously, and its output must pass through untouched.
  const capture = (sink: string[], original: typeof process.stdout.write, stream: NodeJS.WriteStream) =>
    ((chunk: unknown, ...rest: unknown[]) => {
      if (!/\/src\/|commander/.test(new Error().stack ?? '')) return (original as (...a: unknown[]) => boolean).call(stream, chunk, ...rest);
      sink.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture(out, w1, process.stdout);
  process.stderr.write = capture(err, w2, process.stderr);
  try {
    if (opts.cwd) process.chdir(opts.cwd);
    const code = await run(argv);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.chdir(cwd);
    process.stdout.write = w1;
    process.stderr.write = w2;
  }
}
