/** A run's samples and prefill events in SQLite (storage.ts SampleStorage). */
import type { SampleStorage } from '../storage.ts';
import type { NewSample, PrefillEvent, RunSample } from '../types.ts';
import type { Row, SqliteConnection } from './connection.ts';

export class SqliteSamples implements SampleStorage {
  constructor(private readonly c: SqliteConnection) {}

  /** Registers the run's samples in order; returns their ids. Calling again with the same list is a no-op. */
  registerSamples(runId: number, samples: readonly NewSample[]): number[] {
    return this.c.transaction(() => {
      const ins = this.c.db.prepare(
        'INSERT INTO samples (task, sample_key, content_hash) VALUES (?, ?, ?) ON CONFLICT (task, sample_key, content_hash) DO NOTHING',
      );
      const get = this.c.db.prepare('SELECT id FROM samples WHERE task = ? AND sample_key = ? AND content_hash = ?');
      const link = this.c.db.prepare(
        `INSERT INTO run_samples (run_id, sample_id, split, position) VALUES (?, ?, ?, ?)
         ON CONFLICT (run_id, sample_id) DO UPDATE SET split = excluded.split, position = excluded.position`,
      );
      const position = this.c.db.prepare('SELECT position FROM run_samples WHERE run_id = ? AND sample_id = ?');
      let next = (this.c.db.prepare('SELECT COALESCE(MAX(position) + 1, 0) AS p FROM run_samples WHERE run_id = ?').get(runId) as Row).p as number;
      return samples.map((s) => {
        ins.run(s.task, s.key, s.contentHash);
        const id = (get.get(s.task, s.key, s.contentHash) as Row).id as number;
        const existing = position.get(runId, id) as Row | undefined;
        link.run(runId, id, s.split, existing ? existing.position : next++);
        return id;
      });
    });
  }

  samplesForRun(runId: number): RunSample[] {
    const rows = this.c.db
      .prepare(
        `SELECT s.id, s.task, s.sample_key, s.content_hash, rs.split, rs.position
         FROM run_samples rs JOIN samples s ON s.id = rs.sample_id WHERE rs.run_id = ? ORDER BY rs.position`,
      )
      .all(runId) as Row[];
    return rows.map((r) => ({
      id: r.id as number,
      task: r.task as string,
      key: r.sample_key as string,
      contentHash: r.content_hash as string,
      split: r.split as RunSample['split'],
      position: r.position as number,
    }));
  }

  /** Records one prefill actually computed (call it on a cache miss, not on reuse). */
  recordPrefill(p: PrefillEvent): void {
    this.c.db
      .prepare(
        `INSERT INTO prefills (run_id, model_hash, content_hash, setting, window, tokens, ms, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(p.runId, p.modelHash, p.contentHash, p.setting, p.window, p.tokens, p.ms, this.c.now());
  }

  /** Prefills computed, for one run or for the whole database. */
  prefillCount(runId?: number): number {
    const r =
      runId === undefined
        ? this.c.db.prepare('SELECT COUNT(*) AS n FROM prefills').get()
        : this.c.db.prepare('SELECT COUNT(*) AS n FROM prefills WHERE run_id = ?').get(runId);
    return (r as Row).n as number;
  }

  /**
   * Mean prompt length (tokens, rounded) over the distinct prompts the run prefilled; null when it has no
   * prefill events (e.g. every prefill came from the on-disk cache). Used to turn budgets into ratios.
   */
  meanPrefillTokens(runId: number): number | null {
    const r = this.c.db
      .prepare(
        `SELECT AVG(tokens) AS t FROM (SELECT MAX(tokens) AS tokens FROM prefills WHERE run_id = ?
         GROUP BY model_hash, content_hash, setting, window)`,
      )
      .get(runId) as Row;
    return r.t === null ? null : Math.round(r.t as number);
  }

  /** Prefills of the run per distinct prompt prefilled (1.0: none twice; 0 when nothing was prefilled). */
  prefillsPerPrompt(runId: number): number {
    const r = this.c.db
      .prepare(
        `SELECT COUNT(*) AS n, COUNT(DISTINCT model_hash || '|' || content_hash || '|' || setting || '|' || window) AS p
         FROM prefills WHERE run_id = ?`,
      )
      .get(runId) as Row;
    return (r.p as number) ? (r.n as number) / (r.p as number) : 0;
  }

  /** The most times any one prompt was prefilled for the same model, setting and window (1 = prefill once held). */
  maxPrefillsPerPrompt(runId?: number): number {
    const r = this.c.db
      .prepare(
        `SELECT COALESCE(MAX(n), 0) AS m FROM (SELECT COUNT(*) AS n FROM prefills WHERE (? IS NULL OR run_id = ?)
         GROUP BY model_hash, content_hash, setting, window)`,
      )
      .get(runId ?? null, runId ?? null) as Row;
    return r.m as number;
  }

  prefilledTokens(modelHash: string, contentHash: string, setting: string): number | null {
    const r = this.c.db
      .prepare('SELECT MAX(tokens) AS t FROM prefills WHERE model_hash = ? AND content_hash = ? AND setting = ?')
      .get(modelHash, contentHash, setting) as Row;
    return r.t === null ? null : (r.t as number);
  }
}
