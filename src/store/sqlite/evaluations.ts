/** Evaluations in SQLite (storage.ts EvaluationStorage), and the per-cell aggregates of the results table. */
import { evaluationKeyString, type EvaluationStorage, FULL_METHOD } from '../storage.ts';
import type { EvaluationKey, EvaluationRow, EvaluationStatus, InsertOutcome, ResultAggregate, StoredEvaluation } from '../types.ts';
import { json, num, parse, type Row, type SqliteConnection } from './connection.ts';

export class SqliteEvaluations implements EvaluationStorage {
  constructor(private readonly c: SqliteConnection) {}

  /** True when an 'ok' evaluation is stored under the key (a failed one does not count). */
  hasEvaluation(k: EvaluationKey): boolean {
    return this.evaluationStatus(k)?.status === 'ok';
  }

  evaluationStatus(k: EvaluationKey): { status: EvaluationStatus; attempt: number } | null {
    const r = this.c.db
      .prepare('SELECT status, attempt FROM evaluations WHERE run_id = ? AND sample_id = ? AND method = ? AND budget = ? AND setting = ?')
      .get(k.runId, k.sampleId, k.method, k.budget, k.setting) as Row | undefined;
    return r ? { status: r.status as EvaluationStatus, attempt: r.attempt as number } : null;
  }

  /** evaluationKeyString of every 'ok' evaluation of the run: what a resumed run skips. */
  completedEvaluationKeys(runId: number): Set<string> {
    const rows = this.c.db.prepare(`SELECT sample_id, method, budget, setting FROM evaluations WHERE run_id = ? AND status = 'ok'`).all(runId) as Row[];
    return new Set(
      rows.map((r) =>
        evaluationKeyString({ sampleId: r.sample_id as number, method: r.method as string, budget: r.budget as string, setting: r.setting as string }),
      ),
    );
  }

  /**
   * Stores an evaluation, idempotent on (run, sample, method, budget, setting): an 'ok' row is never
   * overwritten; a 'failed' row is replaced by an 'ok' one or by a later attempt.
   */
  insertEvaluation(e: EvaluationRow): InsertOutcome {
    return this.c.transaction(() => {
      const prev = this.evaluationStatus(e);
      const attempt = e.attempt ?? 1;
      if (prev && (prev.status === 'ok' || (e.status === 'failed' && attempt <= prev.attempt))) return 'kept';
      const values = [
        e.runId,
        e.sampleId,
        e.method,
        JSON.stringify(e.methodOptions ?? {}),
        e.budget,
        e.budgetTokens ?? null,
        json(e.budgetProfile),
        e.setting,
        e.score,
        e.metric ?? null,
        json(e.metrics),
        e.prediction ?? null,
        e.answerTokens ?? null,
        e.generatedTokens ?? null,
        e.prefillMs ?? null,
        e.compressMs ?? null,
        e.decodeMs ?? null,
        e.kvEntries ?? null,
        e.kvBytes ?? null,
        e.status,
        e.error ?? null,
        attempt,
        this.c.now(),
        json(e.headBudgets),
      ];
      if (prev) {
        this.c.db
          .prepare('DELETE FROM evaluations WHERE run_id = ? AND sample_id = ? AND method = ? AND budget = ? AND setting = ?')
          .run(e.runId, e.sampleId, e.method, e.budget, e.setting);
      }
      this.c.db
        .prepare(
          `INSERT INTO evaluations (run_id, sample_id, method, method_options, budget, budget_tokens, budget_profile,
             setting, score, metric, metrics, prediction, answer_tokens, generated_tokens, prefill_ms, compress_ms, decode_ms,
             kv_entries, kv_bytes, status, error, attempt, created_at, head_budgets)
           VALUES (${values.map(() => '?').join(', ')})`,
        )
        .run(...values);
      return prev ? 'replaced' : 'inserted';
    });
  }

  /** Every evaluation of the run (ok and failed), in a stable order. */
  evaluationsForRun(runId: number): StoredEvaluation[] {
    const rows = this.c.db
      .prepare(
        `SELECT e.*, s.task, s.sample_key FROM evaluations e JOIN samples s ON s.id = e.sample_id
         WHERE e.run_id = ? ORDER BY s.task, e.sample_id, e.method, e.budget, e.setting`,
      )
      .all(runId) as Row[];
    return rows.map((r) => ({
      id: r.id as number,
      runId: r.run_id as number,
      sampleId: r.sample_id as number,
      task: r.task as string,
      sampleKey: r.sample_key as string,
      method: r.method as string,
      methodOptions: parse(r.method_options) as Record<string, unknown>,
      budget: r.budget as string,
      budgetTokens: num(r.budget_tokens),
      budgetProfile: parse(r.budget_profile) as number[] | null,
      headBudgets: parse(r.head_budgets) as number[][] | null,
      setting: r.setting as string,
      score: num(r.score),
      metric: (r.metric as string | null) ?? null,
      metrics: parse(r.metrics) as Record<string, number> | null,
      prediction: (r.prediction as string | null) ?? null,
      answerTokens: num(r.answer_tokens),
      generatedTokens: num(r.generated_tokens),
      prefillMs: num(r.prefill_ms),
      compressMs: num(r.compress_ms),
      decodeMs: num(r.decode_ms),
      kvEntries: num(r.kv_entries),
      kvBytes: num(r.kv_bytes),
      status: r.status as EvaluationStatus,
      error: (r.error as string | null) ?? null,
      attempt: r.attempt as number,
      createdAt: r.created_at as number,
    }));
  }

  /**
   * Per method × budget × setting × task: counts and means over ok evaluations, and the paired means of
   * quality loss: the row's and `full`'s mean score over the samples both scored (so a failed sample does
   * not skew the ratio). `full` is averaged per sample and setting first.
   */
  resultAggregates(runId: number): ResultAggregate[] {
    const rows = this.c.db
      .prepare(
        `WITH full AS (
           SELECT sample_id, setting, AVG(score) AS score FROM evaluations
           WHERE run_id = ? AND method = ? AND status = 'ok' AND score IS NOT NULL GROUP BY sample_id, setting)
         SELECT e.method, e.budget, e.setting, s.task,
           SUM(e.status = 'ok') AS n,
           SUM(e.status = 'failed') AS failed,
           AVG(CASE WHEN e.status = 'ok' THEN e.score END) AS mean_score,
           AVG(CASE WHEN e.status = 'ok' THEN e.budget_tokens END) AS mean_budget_tokens,
           AVG(CASE WHEN e.status = 'ok' THEN e.kv_entries END) AS mean_kv_entries,
           AVG(CASE WHEN e.status = 'ok' THEN e.kv_bytes END) AS mean_kv_bytes,
           AVG(CASE WHEN e.status = 'ok' AND f.score IS NOT NULL THEN e.score END) AS paired_score,
           AVG(CASE WHEN e.status = 'ok' AND e.score IS NOT NULL THEN f.score END) AS full_score
         FROM evaluations e
         JOIN samples s ON s.id = e.sample_id
         LEFT JOIN full f ON f.sample_id = e.sample_id AND f.setting = e.setting
         WHERE e.run_id = ?
         GROUP BY e.method, e.budget, e.setting, s.task
         ORDER BY e.method <> ?, e.method, mean_budget_tokens, e.budget, e.setting, s.task`,
      )
      .all(runId, FULL_METHOD, runId, FULL_METHOD) as Row[];
    return rows.map((r) => ({
      method: r.method as string,
      budget: r.budget as string,
      setting: r.setting as string,
      task: r.task as string,
      n: r.n as number,
      failed: r.failed as number,
      meanScore: num(r.mean_score),
      meanBudgetTokens: num(r.mean_budget_tokens),
      meanKvEntries: num(r.mean_kv_entries),
      meanKvBytes: num(r.mean_kv_bytes),
      pairedScore: num(r.paired_score),
      fullScore: num(r.full_score),
    }));
  }

  fullCacheTokens(sampleId: number, setting: string, modelHash: string): number | null {
    const r = this.c.db
      .prepare(
        `SELECT MAX(e.budget_tokens) AS t FROM evaluations e JOIN runs r ON r.id = e.run_id
         WHERE e.sample_id = ? AND e.method = ? AND e.setting = ? AND e.status = 'ok' AND r.model_hash = ?`,
      )
      .get(sampleId, FULL_METHOD, setting, modelHash) as Row;
    return num(r.t);
  }
}
