/**
 * Runs and their leases in SQLite (storage.ts RunStorage). Runs follow Optuna's trial states: 'running' with
 * a heartbeat; a run whose process died (its pid is gone on this host, or its heartbeat is older than the
 * stale limit) is marked 'interrupted' and can be resumed under the same id.
 */
import { hostname } from 'node:os';
import { KvoptError } from '../../util/errors.ts';
import { codeVersion } from '../code-version.ts';
import { DEFAULT_STALE_MS, type RunStorage } from '../storage.ts';
import type { NewRun, RunKind, RunRow, RunStatus, RunSummary } from '../types.ts';
import { num, type Row, type SqliteConnection } from './connection.ts';

function runFromRow(r: Row): RunRow {
  return {
    id: r.id as number,
    experimentId: r.experiment_id as number,
    experiment: r.experiment as string,
    kind: r.kind as RunKind,
    configJson: r.config_json as string,
    configYaml: (r.config_yaml as string | null) ?? null,
    configHash: r.config_hash as string,
    modelPath: r.model_path as string,
    modelHash: (r.model_hash as string | null) ?? null,
    codeVersion: r.code_version as string,
    seed: r.seed as number,
    status: r.status as RunStatus,
    startedAt: r.started_at as number,
    heartbeatAt: r.heartbeat_at as number,
    finishedAt: num(r.finished_at),
    error: (r.error as string | null) ?? null,
    pid: num(r.pid),
    host: (r.host as string | null) ?? null,
  };
}

const RUN_SELECT = `SELECT r.*, x.name AS experiment FROM runs r JOIN experiments x ON x.id = r.experiment_id`;

/** Is process `pid` alive on this machine? (EPERM: alive but not ours.) */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class SqliteRuns implements RunStorage {
  constructor(private readonly c: SqliteConnection) {}

  /** The experiment's id, created on first use. */
  createExperiment(name: string): number {
    return this.c.transaction(() => {
      this.c.db.prepare('INSERT INTO experiments (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING').run(name, this.c.now());
      return (this.c.db.prepare('SELECT id FROM experiments WHERE name = ?').get(name) as Row).id as number;
    });
  }

  /** A new run in state 'running', held by this process. */
  createRun(r: NewRun): RunRow {
    return this.c.transaction(() => {
      const experimentId = this.createExperiment(r.experiment);
      const t = this.c.now();
      const info = this.c.db
        .prepare(
          `INSERT INTO runs (experiment_id, kind, config_json, config_yaml, config_hash, model_path, model_hash,
             code_version, seed, status, started_at, heartbeat_at, pid, host)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)`,
        )
        .run(
          experimentId,
          r.kind,
          r.configJson,
          r.configYaml ?? null,
          r.configHash,
          r.modelPath,
          r.modelHash ?? null,
          r.codeVersion ?? codeVersion(),
          r.seed,
          t,
          t,
          process.pid,
          hostname(),
        );
      return this.getRun(Number(info.lastInsertRowid));
    });
  }

  /** A run by id, or the newest run ('latest', optionally of one kind). KvoptError when there is none. */
  getRun(ref: number | 'latest', kind?: RunKind): RunRow {
    let row: Row | undefined;
    if (ref === 'latest') {
      row = kind
        ? (this.c.db.prepare(`${RUN_SELECT} WHERE r.kind = ? ORDER BY r.id DESC LIMIT 1`).get(kind) as Row | undefined)
        : (this.c.db.prepare(`${RUN_SELECT} ORDER BY r.id DESC LIMIT 1`).get() as Row | undefined);
      if (!row) throw new KvoptError(`${this.c.path}: no ${kind ? `${kind} ` : ''}runs yet`);
    } else {
      row = this.c.db.prepare(`${RUN_SELECT} WHERE r.id = ?`).get(ref) as Row | undefined;
      if (!row) throw new KvoptError(`${this.c.path}: no run with id ${ref}`);
    }
    return runFromRow(row);
  }

  /**
   * The newest run of `kind` with this config hash that did not complete, after marking dead 'running'
   * runs as interrupted. A run still held by a live process is returned too (resumeRun then refuses it).
   */
  findResumableRun(configHash: string, kind: RunKind, staleMs = DEFAULT_STALE_MS): RunRow | null {
    this.markInterrupted(staleMs);
    const row = this.c.db
      .prepare(`${RUN_SELECT} WHERE r.config_hash = ? AND r.kind = ? AND r.status <> 'complete' ORDER BY r.id DESC LIMIT 1`)
      .get(configHash, kind) as Row | undefined;
    return row ? runFromRow(row) : null;
  }

  /** Records the weights hash once the model is loaded; a resumed run must see the same model. */
  setModelHash(runId: number, modelHash: string): void {
    this.c.transaction(() => {
      const run = this.getRun(runId);
      if (run.modelHash !== null && run.modelHash !== modelHash) {
        throw new KvoptError(
          `run ${runId} was made with model ${run.modelHash.slice(0, 12)}, but ${run.modelPath} now hashes to ${modelHash.slice(0, 12)}; start a new run instead of --resume`,
        );
      }
      this.c.db.prepare('UPDATE runs SET model_hash = ? WHERE id = ?').run(modelHash, runId);
    });
  }

  /**
   * Renews this process's lease on a run it holds. False when the lease is lost: another process took
   * the run over (e.g. while this one was stopped longer than the stale limit); the caller must stop.
   */
  heartbeat(runId: number): boolean {
    const info = this.c.db
      .prepare(`UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = 'running' AND pid = ? AND host = ?`)
      .run(this.c.now(), runId, process.pid, hostname());
    return info.changes > 0;
  }

  /** Whether this process still holds the run (status running, its pid and host). */
  holdsRun(runId: number): boolean {
    const r = this.c.db.prepare('SELECT status, pid, host FROM runs WHERE id = ?').get(runId) as Row | undefined;
    return r !== undefined && r.status === 'running' && r.pid === process.pid && r.host === hostname();
  }

  /** The newest complete run of `kind` with this config hash (what `--resume` names when nothing is left to do). */
  completedRun(configHash: string, kind: RunKind): RunRow | null {
    const row = this.c.db
      .prepare(`${RUN_SELECT} WHERE r.config_hash = ? AND r.kind = ? AND r.status = 'complete' ORDER BY r.id DESC LIMIT 1`)
      .get(configHash, kind) as Row | undefined;
    return row ? runFromRow(row) : null;
  }

  /**
   * Deletes a run that stored no work (no evaluation, generation or profile), e.g. one rejected right after
   * it was created, so `latest` never names it. Returns whether it was deleted.
   */
  discardEmptyRun(runId: number): boolean {
    return this.c.transaction(() => {
      const work = this.c.db
        .prepare(
          `SELECT (SELECT COUNT(*) FROM evaluations WHERE run_id = ?) + (SELECT COUNT(*) FROM generations WHERE run_id = ?)
             + (SELECT COUNT(*) FROM profiles WHERE run_id = ?) AS n`,
        )
        .get(runId, runId, runId) as Row;
      if ((work.n as number) > 0) return false;
      this.c.db.prepare('DELETE FROM runs WHERE id = ?').run(runId);
      return true;
    });
  }

  /** Ends a run: 'complete', 'failed' (with the error) or 'interrupted' (e.g. Ctrl-C). */
  finishRun(runId: number, status: Exclude<RunStatus, 'running'>, error: string | null = null): void {
    const t = this.c.now();
    this.c.db.prepare('UPDATE runs SET status = ?, error = ?, finished_at = ?, heartbeat_at = ?, pid = NULL WHERE id = ?').run(status, error, t, t, runId);
  }

  /**
   * Marks as 'interrupted' every 'running' run whose process is gone: its pid is dead on this host, or
   * its heartbeat is older than `staleMs`. Returns their ids.
   */
  markInterrupted(staleMs = DEFAULT_STALE_MS): number[] {
    return this.c.transaction(() => {
      const host = hostname();
      const t = this.c.now();
      const running = this.c.db.prepare(`SELECT id, pid, host, heartbeat_at FROM runs WHERE status = 'running'`).all() as Row[];
      const dead = running.filter((r) => {
        if (r.pid === process.pid && r.host === host) return false; // ours
        if (r.host === host && typeof r.pid === 'number' && !pidAlive(r.pid)) return true;
        return t - (r.heartbeat_at as number) > staleMs;
      });
      const mark = this.c.db.prepare(`UPDATE runs SET status = 'interrupted', pid = NULL, error = 'process ended without finishing the run' WHERE id = ?`);
      for (const r of dead) mark.run(r.id);
      return dead.map((r) => r.id as number);
    });
  }

  /**
   * Takes over a run to continue it: it becomes 'running' under this process. Refuses a run that another
   * live process still holds, and a complete run.
   */
  resumeRun(runId: number, staleMs = DEFAULT_STALE_MS): RunRow {
    return this.c.transaction(() => {
      this.markInterrupted(staleMs);
      const run = this.getRun(runId);
      if (run.status === 'complete') throw new KvoptError(`run ${runId} is already complete; nothing to resume`);
      if (run.status === 'running' && !(run.pid === process.pid && run.host === hostname())) {
        const ago = Math.round((this.c.now() - run.heartbeatAt) / 1000);
        throw new KvoptError(`run ${runId} is still running (pid ${run.pid} on ${run.host}, heartbeat ${ago}s ago)`);
      }
      const t = this.c.now();
      this.c.db
        .prepare(`UPDATE runs SET status = 'running', error = NULL, finished_at = NULL, heartbeat_at = ?, pid = ?, host = ? WHERE id = ?`)
        .run(t, process.pid, hostname(), runId);
      return this.getRun(runId);
    });
  }

  /** Runs, newest first, with best fitness, evaluation counts and duration. */
  listRuns(opts: { experiment?: string; limit?: number } = {}): RunSummary[] {
    const rows = this.c.db
      .prepare(
        `${RUN_SELECT.replace(
          'SELECT r.*, x.name AS experiment',
          `SELECT r.*, x.name AS experiment,
          (SELECT MAX(c.fitness) FROM candidates c JOIN generations g ON g.id = c.generation_id
             WHERE g.run_id = r.id AND c.split = 'calibration') AS best_fitness,
          (SELECT COUNT(*) FROM evaluations e WHERE e.run_id = r.id AND e.status = 'ok') AS n_ok,
          (SELECT COUNT(*) FROM evaluations e WHERE e.run_id = r.id AND e.status = 'failed') AS n_failed,
          (SELECT COUNT(*) FROM generations g WHERE g.run_id = r.id) AS n_generations`,
        )}
         WHERE (? IS NULL OR x.name = ?) ORDER BY r.id DESC LIMIT ?`,
      )
      .all(opts.experiment ?? null, opts.experiment ?? null, opts.limit ?? -1) as Row[];
    return rows.map((r) => {
      const run = runFromRow(r);
      return {
        ...run,
        bestFitness: num(r.best_fitness),
        evaluationsOk: r.n_ok as number,
        evaluationsFailed: r.n_failed as number,
        generations: r.n_generations as number,
        durationMs: (run.finishedAt ?? run.heartbeatAt) - run.startedAt,
      };
    });
  }
}
