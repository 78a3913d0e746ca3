/** The search history in SQLite (storage.ts SearchStorage): generations, candidates, profiles. */
import { KvoptError } from '../../util/errors.ts';
import type { SearchStorage } from '../storage.ts';
import type { CandidateRow, GenerationRow, NewCandidate, NewGeneration, NewProfile, ProfileRow } from '../types.ts';
import { json, num, parse, type Row, type SqliteConnection } from './connection.ts';

function generationFromRow(r: Row): GenerationRow {
  return {
    id: r.id as number,
    runId: r.run_id as number,
    group: r.group_index as number,
    generation: r.generation as number,
    optimizerState: parse(r.optimizer_state),
    searchState: parse(r.search_state),
    bestFitness: num(r.best_fitness),
    medianFitness: num(r.median_fitness),
    bestCandidate: num(r.best_candidate),
    heldoutScore: num(r.heldout_score),
    wallMs: num(r.wall_ms),
    prefillMs: num(r.prefill_ms),
    decodeMs: num(r.decode_ms),
    createdAt: r.created_at as number,
  };
}

function candidateFromRow(r: Row): CandidateRow {
  return {
    id: r.id as number,
    generationId: r.generation_id as number,
    index: r.candidate_index as number,
    split: r.split as 'calibration' | 'heldout',
    budgets: parse(r.budgets) as number[],
    fitness: num(r.fitness),
    taskScore: num(r.task_score),
    cacheScore: num(r.cache_score),
    sampleScores: (parse(r.sample_scores) as Record<string, number> | null) ?? {},
  };
}

export class SqliteSearch implements SearchStorage {
  constructor(private readonly c: SqliteConnection) {}

  /**
   * Stores a generation, its candidates and the optimiser state after it, in ONE immediate transaction:
   * a kill leaves the generation whole or absent. Storing the same (run, group, generation) twice is an error.
   */
  saveGeneration(g: NewGeneration, candidates: readonly NewCandidate[]): number {
    return this.c.transaction(() => {
      const exists = this.c.db.prepare('SELECT 1 FROM generations WHERE run_id = ? AND group_index = ? AND generation = ?').get(g.runId, g.group, g.generation);
      if (exists) throw new KvoptError(`run ${g.runId}: generation ${g.generation} of group ${g.group} is already stored`);
      const info = this.c.db
        .prepare(
          `INSERT INTO generations (run_id, group_index, generation, optimizer_state, search_state, best_fitness,
             median_fitness, best_candidate, heldout_score, wall_ms, prefill_ms, decode_ms, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          g.runId,
          g.group,
          g.generation,
          JSON.stringify(g.optimizerState),
          json(g.searchState),
          g.bestFitness,
          g.medianFitness,
          g.bestCandidate ?? null,
          g.heldoutScore ?? null,
          g.wallMs ?? null,
          g.prefillMs ?? null,
          g.decodeMs ?? null,
          this.c.now(),
        );
      const id = Number(info.lastInsertRowid);
      const ins = this.c.db.prepare(
        `INSERT INTO candidates (generation_id, candidate_index, split, budgets, fitness, task_score, cache_score, sample_scores)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      for (const c of candidates) {
        ins.run(id, c.index, c.split ?? 'calibration', JSON.stringify(c.budgets), c.fitness, c.taskScore, c.cacheScore, json(c.sampleScores ?? {}));
      }
      return id;
    });
  }

  /** The last stored generation (highest group, then generation) with its candidates; null if none. */
  loadLatestGeneration(runId: number): (GenerationRow & { candidates: CandidateRow[] }) | null {
    const r = this.c.db.prepare('SELECT * FROM generations WHERE run_id = ? ORDER BY group_index DESC, generation DESC LIMIT 1').get(runId) as Row | undefined;
    if (!r) return null;
    const g = generationFromRow(r);
    return { ...g, candidates: this.candidates(g.id) };
  }

  /** All generations of a run in order (the calibration and held-out curves). */
  generations(runId: number): GenerationRow[] {
    const rows = this.c.db.prepare('SELECT * FROM generations WHERE run_id = ? ORDER BY group_index, generation').all(runId) as Row[];
    return rows.map(generationFromRow);
  }

  candidates(generationId: number): CandidateRow[] {
    const rows = this.c.db.prepare('SELECT * FROM candidates WHERE generation_id = ? ORDER BY split, candidate_index').all(generationId) as Row[];
    return rows.map(candidateFromRow);
  }

  /** The run's best calibration candidate so far (highest fitness; the earliest on ties). */
  bestCandidate(runId: number): CandidateRow | null {
    const r = this.c.db
      .prepare(
        `SELECT c.* FROM candidates c JOIN generations g ON g.id = c.generation_id
         WHERE g.run_id = ? AND c.split = 'calibration' AND c.fitness IS NOT NULL
         ORDER BY c.fitness DESC, g.group_index, g.generation, c.candidate_index LIMIT 1`,
      )
      .get(runId) as Row | undefined;
    return r ? candidateFromRow(r) : null;
  }

  /** Stores (or replaces) the run's profile for one target budget. */
  saveProfile(p: NewProfile): void {
    this.c.db
      .prepare(
        `INSERT INTO profiles (run_id, budget, budgets, source, fitness, calibration_score, heldout_score, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (run_id, budget) DO UPDATE SET budgets = excluded.budgets, source = excluded.source,
           fitness = excluded.fitness, calibration_score = excluded.calibration_score,
           heldout_score = excluded.heldout_score, created_at = excluded.created_at`,
      )
      .run(p.runId, p.budget, JSON.stringify(p.budgets), p.source, p.fitness ?? null, p.calibrationScore ?? null, p.heldoutScore ?? null, this.c.now());
  }

  profiles(runId: number): ProfileRow[] {
    const rows = this.c.db.prepare('SELECT * FROM profiles WHERE run_id = ? ORDER BY budget').all(runId) as Row[];
    return rows.map((r) => ({
      id: r.id as number,
      runId: r.run_id as number,
      budget: r.budget as number,
      budgets: parse(r.budgets) as number[],
      source: r.source as 'search' | 'transfer',
      fitness: num(r.fitness),
      calibrationScore: num(r.calibration_score),
      heldoutScore: num(r.heldout_score),
      createdAt: r.created_at as number,
    }));
  }
}
