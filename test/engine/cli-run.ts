// Spawning the real CLI for engine tests: a whole run, or a run killed with SIGKILL once the database
// shows enough progress.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import Database from 'better-sqlite3';

export const repoRoot = resolve(new URL('../..', import.meta.url).pathname);

export function kvopt(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/kvopt.mjs', ...args], { cwd: repoRoot, encoding: 'utf8', timeout: 300_000, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A read-only count from the run's database (0 while it does not exist yet). */
export function count(db: string, sql: string): number {
  if (!existsSync(db)) return 0;
  const d = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return (d.prepare(sql).get() as { n: number }).n;
  } catch {
    return 0; // tables not created yet
  } finally {
    d.close();
  }
}

/**
 * Starts `kvopt args`, SIGKILLs it as soon as `progress()` reaches `atLeast` (polled), and resolves with
 * the progress seen at the kill. Rejects if the process ends by itself first.
 */
export function killWhen(args: string[], progress: () => number, atLeast: number): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['bin/kvopt.mjs', ...args], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    let killed = false;
    const timer = setInterval(() => {
      const n = progress();
      if (n >= atLeast && !killed) {
        killed = true;
        child.kill('SIGKILL');
        clearInterval(timer);
        child.once('exit', () => resolvePromise(n));
      }
    }, 50);
    child.once('exit', (code) => {
      if (!killed) {
        clearInterval(timer);
        reject(new Error(`kvopt ended (code ${code}) before it was killed:\n${stderr}`));
      }
    });
  });
}
