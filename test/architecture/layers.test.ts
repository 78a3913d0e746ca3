// The import structure, read from the source: folders of src/ import only from folders below them (one way
// down), `report/` loads nothing of the engine (the read-only report path never starts a worker pool), and no
// file imports itself through a chain (no cycles). A new folder must be given its place in LAYERS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const SRC = resolve(new URL('../../src', import.meta.url).pathname);

/**
 * Lowest first: a folder may import from folders of lower layers and of its own layer. engine and queue share a
 * layer: the queue is the engine's second executor (the engine hands it work; its workers run the engine's
 * evaluation), so they know each other's types; the file-level cycle check below still applies to them.
 * report and export share one too: both read a stored run for the CLI (charts and tables; pred.py files).
 */
const LAYERS = [
  ['util'],
  ['model'],
  ['graph'],
  ['runtime'],
  ['search'],
  ['tasks'],
  ['store'],
  ['stats'],
  ['compress'],
  ['config'],
  ['engine', 'queue'],
  ['report', 'export'],
  ['cli'],
];
const layerOf = (folder: string) => LAYERS.findIndex((l) => l.includes(folder));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sourceFiles(p) : name.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports (static, re-exports and dynamic import()) of each file, as absolute paths. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm;
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    graph.set(
      file,
      [...text.matchAll(re)].map((m) => resolve(dirname(file), m[1])),
    );
  }
  return graph;
}

const folderOf = (file: string) => relative(SRC, file).split('/')[0];
const graph = importGraph();

test('every import resolves to a source file', () => {
  const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${relative(SRC, f)} → ${relative(SRC, d)}`));
  assert.deepEqual(missing, []);
});

test('folders import one way down the layers; report imports nothing from engine', () => {
  const folders = new Set([...graph.keys()].map(folderOf).filter((f) => !f.endsWith('.ts')));
  const unplaced = [...folders].filter((f) => layerOf(f) < 0);
  assert.deepEqual(unplaced, [], `give src/${unplaced[0]} its place in LAYERS (test/architecture/layers.test.ts)`);
  const upward: string[] = [];
  for (const [file, deps] of graph) {
    const from = folderOf(file);
    for (const dep of deps) {
      const to = folderOf(dep);
      if (layerOf(to) > layerOf(from)) upward.push(`${relative(SRC, file)} → ${relative(SRC, dep)}`);
    }
  }
  assert.deepEqual(upward, [], 'imports from a higher layer');
  assert.ok(layerOf('report') > layerOf('engine') && [...graph].every(([f, deps]) => folderOf(f) !== 'report' || deps.every((d) => folderOf(d) !== 'engine')));
});

test('no import cycles between files', () => {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(SRC, f)).join(' → '));
      return;
    }
    state.set(file, 'open');
    for (const dep of graph.get(file) ?? []) visit(dep, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file, []);
  assert.deepEqual(cycles, []);
});

test('the checker sees what it checks: known edges are present', () => {
  // guards against a regex that silently matches nothing
  const edges = [...graph].flatMap(([f, deps]) => deps.map((d) => `${relative(SRC, f)} → ${relative(SRC, d)}`));
  assert.ok(edges.length > 300, `${edges.length} import edges`);
  assert.ok(edges.includes('report/from-store.ts → config/task-label.ts'));
  assert.ok(edges.includes('search/optimizers/cmaes.ts → search/optimizers/sampler.ts'));
});
