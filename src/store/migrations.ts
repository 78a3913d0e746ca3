/**
 * The store's schema as an ordered list of migrations; PRAGMA user_version is the number applied.
 * Each migration runs in its own immediate transaction together with the version bump, so a killed
 * process leaves the database at one version or the next, never between. Never edit a shipped
 * migration: append a new one.
 *
 * Conventions: times are INTEGER milliseconds since the Unix epoch; *_json columns hold JSON text;
 * a sample's task lives in `samples` (evaluations join it).
 */
import type BetterSqlite3 from 'better-sqlite3';

type Db = BetterSqlite3.Database;

/** v1: experiments, runs, samples, prefills, evaluations (kvopt eval). */
function v1(db: Db): void {
  db.exec(`
    CREATE TABLE experiments (
      id          INTEGER PRIMARY KEY,
      name        TEXT NOT NULL UNIQUE,
      created_at  INTEGER NOT NULL
    );

    CREATE TABLE runs (
      id            INTEGER PRIMARY KEY,
      experiment_id INTEGER NOT NULL REFERENCES experiments(id),
      kind          TEXT NOT NULL CHECK (kind IN ('eval', 'search')),
      config_json   TEXT NOT NULL,            -- the resolved config (canonical JSON)
      config_yaml   TEXT,                     -- the file as written
      config_hash   TEXT NOT NULL,            -- config/hash.ts
      model_path    TEXT NOT NULL,
      model_hash    TEXT,                     -- LoadedModel.weightsHash, set once the model is loaded
      code_version  TEXT NOT NULL,
      seed          INTEGER NOT NULL,
      status        TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed', 'interrupted')),
      started_at    INTEGER NOT NULL,
      heartbeat_at  INTEGER NOT NULL,
      finished_at   INTEGER,
      error         TEXT,
      pid           INTEGER,                  -- of the process that holds the run while 'running'
      host          TEXT
    );
    CREATE INDEX runs_by_config ON runs (config_hash, kind);
    CREATE INDEX runs_by_status ON runs (status);

    -- One row per distinct sample content; a run's samples and their split are in run_samples.
    CREATE TABLE samples (
      id            INTEGER PRIMARY KEY,
      task          TEXT NOT NULL,            -- as in the config: needle, longbench/multi_news, ...
      sample_key    TEXT NOT NULL,            -- the sample's id in its data (line number, _id, grid cell)
      content_hash  TEXT NOT NULL,
      UNIQUE (task, sample_key, content_hash)
    );

    CREATE TABLE run_samples (
      run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
      sample_id INTEGER NOT NULL REFERENCES samples(id),
      split     TEXT NOT NULL CHECK (split IN ('calibration', 'heldout', 'eval')),
      position  INTEGER NOT NULL,             -- order within the run
      PRIMARY KEY (run_id, sample_id)
    ) WITHOUT ROWID;

    -- An event per prefill actually computed (not per reuse): prefill once is checked by counting.
    CREATE TABLE prefills (
      id            INTEGER PRIMARY KEY,
      run_id        INTEGER REFERENCES runs(id) ON DELETE CASCADE,
      model_hash    TEXT NOT NULL,
      content_hash  TEXT NOT NULL,            -- of the prefilled prompt
      setting       TEXT NOT NULL,
      window        INTEGER NOT NULL,
      tokens        INTEGER NOT NULL,
      ms            REAL NOT NULL,
      created_at    INTEGER NOT NULL
    );
    CREATE INDEX prefills_by_run ON prefills (run_id);

    CREATE TABLE evaluations (
      id               INTEGER PRIMARY KEY,
      run_id           INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
      sample_id        INTEGER NOT NULL REFERENCES samples(id),
      method           TEXT NOT NULL,          -- canonical string, config/schema.ts methodKey
      method_options   TEXT NOT NULL DEFAULT '{}',
      budget           TEXT NOT NULL,          -- canonical spec: '128', 'keep=0.2', 'full'
      budget_tokens    REAL,                   -- the spec resolved for this sample (mean per layer)
      budget_profile   TEXT,                   -- JSON per-layer budgets actually used
      setting          TEXT NOT NULL,
      score            REAL,
      metric           TEXT,                   -- name of the metric that gave score
      metrics          TEXT,                   -- JSON {name: value}: secondary metrics (rouge1, exact, loglik, ...)
      prediction       TEXT,
      answer_tokens    INTEGER,
      generated_tokens INTEGER,
      prefill_ms       REAL,
      compress_ms      REAL,
      decode_ms        REAL,
      kv_entries       INTEGER,                -- logical entries kept, all layers and KV heads
      kv_bytes         INTEGER,                -- physical bytes held, padding included
      status           TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
      error            TEXT,
      attempt          INTEGER NOT NULL DEFAULT 1,
      created_at       INTEGER NOT NULL,
      UNIQUE (run_id, sample_id, method, budget, setting)
    );
  `);
}

/** v2: search history (generations with optimiser state, candidates) and found profiles. */
function v2(db: Db): void {
  db.exec(`
    CREATE TABLE generations (
      id               INTEGER PRIMARY KEY,
      run_id           INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
      group_index      INTEGER NOT NULL,       -- EvolKV layer group
      generation       INTEGER NOT NULL,       -- within the group, from 0
      optimizer_state  TEXT NOT NULL,          -- JSON, enough to continue the optimiser exactly
      search_state     TEXT,                   -- JSON: RNG, global best, anything else resume needs
      best_fitness     REAL,
      median_fitness   REAL,
      best_candidate   INTEGER,                -- candidate_index of the generation's best
      heldout_score    REAL,                   -- task score of the generation's best on the held-out split
      wall_ms          REAL,
      prefill_ms       REAL,
      decode_ms        REAL,
      created_at       INTEGER NOT NULL,
      UNIQUE (run_id, group_index, generation)
    );

    CREATE TABLE candidates (
      id              INTEGER PRIMARY KEY,
      generation_id   INTEGER NOT NULL REFERENCES generations(id) ON DELETE CASCADE,
      candidate_index INTEGER NOT NULL,
      split           TEXT NOT NULL CHECK (split IN ('calibration', 'heldout')),
      budgets         TEXT NOT NULL,           -- JSON int[L], the full per-layer profile
      fitness         REAL,
      task_score      REAL,
      cache_score     REAL,
      sample_scores   TEXT,                    -- JSON {sample id: score}
      UNIQUE (generation_id, candidate_index, split)
    );

    -- Final profiles of a search, one per target budget (the searched one and its transfers).
    CREATE TABLE profiles (
      id                INTEGER PRIMARY KEY,
      run_id            INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
      budget            INTEGER NOT NULL,      -- target mean tokens per KV head per layer
      budgets           TEXT NOT NULL,         -- JSON int[L]
      source            TEXT NOT NULL CHECK (source IN ('search', 'transfer')),
      fitness           REAL,
      calibration_score REAL,
      heldout_score     REAL,
      created_at        INTEGER NOT NULL,
      UNIQUE (run_id, budget)
    );
  `);
}

/** v3: per-head allocations of an evaluation (head-wise allocators), for the per-head heatmap. */
function v3(db: Db): void {
  db.exec(`ALTER TABLE evaluations ADD COLUMN head_budgets TEXT; -- JSON int[L][Hkv]: entries kept per layer and KV head`);
}

/** Migration i (0-based) takes the schema from version i to i + 1. */
export const MIGRATIONS: readonly ((db: Db) => void)[] = [v1, v2, v3];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Applies the missing migrations up to `target` (default: all). Returns the versions applied. */
export function migrate(db: Db, target = SCHEMA_VERSION): number[] {
  const applied: number[] = [];
  for (;;) {
    const done = db
      .transaction(() => {
        const v = schemaVersion(db); // read inside the write lock: two openers never apply the same step
        if (v >= target) return false;
        MIGRATIONS[v](db);
        db.pragma(`user_version = ${v + 1}`);
        applied.push(v + 1);
        return true;
      })
      .immediate();
    if (!done) return applied;
  }
}
