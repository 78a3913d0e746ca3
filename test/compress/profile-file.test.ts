import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeProfile, parseProfile, readProfile, serializeProfile, toKvpressRatios, writeProfile } from '../../src/compress/profile-file.ts';
import { KvoptError } from '../../src/util/errors.ts';

const profile = makeProfile([20, 28, 36, 44], { model: 'stories260K', method: 'snapkv', fitness: 81.5, searchRunId: 3 });

test('makeProfile derives the target from the layers', () => {
  assert.equal(profile.target, 32);
  assert.equal(profile.format, 'kvopt-budget-profile/1');
});

test('json, yaml and csv files round-trip through write/read', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-profile-'));
  try {
    for (const ext of ['json', 'yaml', 'yml']) {
      const path = join(dir, `p.${ext}`);
      writeProfile(path, profile);
      assert.deepEqual(readProfile(path), profile, ext);
    }
    const csv = join(dir, 'p.csv');
    writeProfile(csv, profile);
    const back = readProfile(csv);
    assert.deepEqual(back.layers, profile.layers);
    assert.equal(back.target, 32);
    assert.deepEqual(back.meta, {}); // csv keeps budgets only
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('csv export text is layer,budget', () => {
  assert.equal(serializeProfile(profile, 'csv'), 'layer,budget\n0,20\n1,28\n2,36\n3,44\n');
});

test("kvpress ratios: 1 − b/T, and kvpress's int(T·(1 − r)) gives back exactly b", () => {
  const T = 1000;
  const layers = [128, 100, 3, 999, 1000, 1500, 0, 70];
  const r = toKvpressRatios(layers, T);
  assert.equal(r[0], 1 - 128 / 1000);
  assert.equal(r[4], 0);
  assert.equal(r[5], 0); // more budget than context: nothing removed
  r.forEach((ri, i) => {
    assert.ok(ri >= 0 && ri <= 1); // b = 0 gives 1 (kvpress then keeps int(0) = 0, or 1 since its PR #264)
    assert.ok(Math.abs(ri - Math.max(0, 1 - layers[i] / T)) < 1e-12);
    assert.equal(Math.trunc(T * (1 - ri)), Math.min(layers[i], T), `layer ${i}`);
  });
  // exhaustive: every budget for a few context lengths survives kvpress's truncation
  for (const len of [7, 100, 333, 4096]) {
    toKvpressRatios(
      Array.from({ length: len + 1 }, (_, b) => b),
      len,
    ).forEach((ri, b) => assert.equal(Math.trunc(len * (1 - ri)), b));
  }
  const text = serializeProfile(profile, 'kvpress', { contextLength: 256 });
  assert.deepEqual(JSON.parse(text), toKvpressRatios(profile.layers, 256));
  assert.match(text, /^\[0\.921875, /);
  assert.throws(() => serializeProfile(profile, 'kvpress'), /context length/);
});

test('validation errors name the file and the field', () => {
  const bad = (text: string, format: 'json' | 'yaml', re: RegExp) =>
    assert.throws(
      () => parseProfile(text, 'prof.json', format),
      (e: unknown) => e instanceof KvoptError && re.test((e as Error).message),
    );
  bad('{"format":"x","target":1,"layers":[1]}', 'json', /^prof\.json: format:/);
  bad('{"format":"kvopt-budget-profile/1","target":-1,"layers":[1]}', 'json', /^prof\.json: target:/);
  bad('{"format":"kvopt-budget-profile/1","target":2,"layers":[1, 2.5]}', 'json', /^prof\.json: layers\[1\]:/);
  bad('{"format":"kvopt-budget-profile/1","target":3,"layers":[1, 2]}', 'json', /^prof\.json: target: .*mean of layers is 1\.5/);
  bad('{"format":"kvopt-budget-profile/1","target":1,"layers":[1],"extra":1}', 'json', /^prof\.json: extra: unknown field/);
  bad('format: kvopt-budget-profile/1\ntarget: 1\nlayers: [1]\nmeta: [1]\n', 'yaml', /^prof\.json: meta:/);
  bad('{not json', 'json', /^prof\.json: not valid JSON/);
  assert.throws(() => parseProfile('layer,budget\n0,4\n2,5\n', 'p.csv', 'csv'), /p\.csv: line 3: layer: expected 1/);
  assert.throws(() => readProfile('/nonexistent/p.json'), /\/nonexistent\/p\.json: cannot read/);
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-profile-'));
  try {
    writeFileSync(join(dir, 'p.txt'), '');
    assert.throws(() => readProfile(join(dir, 'p.txt')), /extension/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
