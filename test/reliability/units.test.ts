// Small parts of the reliability work, each against hand-made cases: the record seal, the prefill disk
// cache's use of it, errors packed across the worker boundary, profile paths relative to the YAML, and
// the data identity of a run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseExperiment } from '../../src/config/load.ts';
import { checkDataUnchanged, dataHashes } from '../../src/engine/data-identity.ts';
import { PrefillDiskCache, writeFileFully } from '../../src/engine/prefill-cache.ts';
import { SEAL_BYTES, seal, unseal } from '../../src/engine/record-seal.ts';
import { packWorkerError, unpackWorkerError, WorkerInternalError } from '../../src/engine/worker-error.ts';
import type { PrefillRecord } from '../../src/runtime/types.ts';
import { DiskFullError } from '../../src/util/disk-full.ts';
import { KvoptError } from '../../src/util/errors.ts';

test('seal: a 44-byte trailer of magic, length and sha256; any cut, growth or flipped byte fails the check', () => {
  const body = Buffer.from('a prefill record body, any format at all');
  const sealed = seal(body);
  assert.equal(sealed.length, body.length + SEAL_BYTES);
  assert.equal(sealed.subarray(body.length, body.length + 4).toString('latin1'), 'KVSL');
  assert.equal(Number(sealed.readBigUInt64LE(body.length + 4)), body.length);
  assert.deepEqual(sealed.subarray(body.length + 12), createHash('sha256').update(body).digest());
  const ok = unseal(sealed);
  assert.ok('body' in ok && ok.body.equals(body));
  assert.match((unseal(sealed.subarray(0, 10)) as { error: string }).error, /10 bytes, shorter than the seal/);
  assert.match((unseal(sealed.subarray(0, sealed.length - 1)) as { error: string }).error, /no integrity seal/);
  assert.match(
    (unseal(Buffer.concat([Buffer.from('x'), sealed])) as { error: string }).error,
    new RegExp(`length ${body.length + 1}, the seal says ${body.length}`),
  );
  const flipped = Buffer.from(sealed);
  flipped[3] ^= 1;
  assert.equal((unseal(flipped) as { error: string }).error, 'checksum mismatch');
  assert.match((unseal(Buffer.alloc(100, 1)) as { error: string }).error, /no integrity seal/); // an unsealed (older) file
});

function record(n: number): PrefillRecord {
  const f = (k: number, s: number) => Float32Array.from({ length: k }, (_, i) => Math.sin(i * s));
  return {
    tokens: Array.from({ length: n }, (_, i) => i + 1),
    cache: { layers: [{ keys: f(4 * n, 1), values: f(4 * n, 2), bias: new Float32Array(n), length: n }], nextPosition: n },
    window: 2,
    ms: 1.5,
    windowAttention: [f(2 * n, 4)],
    attentionColumnSums: [f(n, 5)],
    lastLogits: f(7, 6),
  } as unknown as PrefillRecord;
}

test('prefill disk cache: records round-trip; a truncated or altered record reads as absent and is named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-seal-'));
  const cache = new PrefillDiskCache(dir);
  const r = record(50);
  cache.put('ab12', r);
  const back = cache.get('ab12')!;
  assert.deepEqual(back.tokens, r.tokens);
  assert.deepEqual(Array.from(back.cache.layers[0].keys), Array.from(r.cache.layers[0].keys));
  assert.deepEqual(Array.from(back.lastLogits), Array.from(r.lastLogits));
  const p = cache.path('ab12');
  const whole = readFileSync(p);
  writeFileSync(p, whole.subarray(0, whole.length - 100));
  const before = PrefillDiskCache.rejected.length;
  assert.equal(cache.get('ab12'), null);
  assert.equal(PrefillDiskCache.rejected.length, before + 1);
  assert.ok(PrefillDiskCache.rejected.at(-1)!.startsWith(p));
  const altered = Buffer.from(whole);
  altered[200] ^= 0xff;
  writeFileSync(p, altered);
  assert.equal(cache.get('ab12'), null);
  cache.put('ab12', r); // recomputed and written back whole
  assert.deepEqual(cache.get('ab12')!.tokens, r.tokens);
  assert.equal(statSync(p).size, whole.length);
});

test('writeFileFully writes every byte of a large buffer; ENOSPC (/dev/full) surfaces as a disk-full error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-write-'));
  const big = Buffer.alloc(5 * 2 ** 20 + 3, 7);
  writeFileFully(join(dir, 'big'), big);
  assert.equal(statSync(join(dir, 'big')).size, big.length);
  assert.throws(
    () => writeFileFully('/dev/full', Buffer.alloc(10)),
    (e: NodeJS.ErrnoException) => e.code === 'ENOSPC',
  );
});

test('errors keep their kind across the worker boundary', () => {
  // What a worker throws goes through structured clone, which keeps only a plain Error's message.
  const cross = (e: unknown) => unpackWorkerError(structuredClone(packWorkerError(e)));
  const k = cross(new KvoptError('model.bin: not a llama2.c checkpoint', 3));
  assert.ok(k instanceof KvoptError);
  assert.equal((k as KvoptError).message, 'model.bin: not a llama2.c checkpoint');
  assert.equal((k as KvoptError).exitCode, 3);
  const d = cross(new DiskFullError('disk full while writing /x; free space and run with --resume'));
  assert.ok(d instanceof DiskFullError);
  const sys = cross(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', path: '/tmp/r.kvpf' }));
  assert.ok(sys instanceof DiskFullError);
  assert.equal((sys as Error).message, 'disk full while writing /tmp/r.kvpf; free space and run with --resume');
  const bug = cross(new TypeError("Cannot read properties of undefined (reading 'keys')"));
  assert.ok(bug instanceof WorkerInternalError && !(bug instanceof KvoptError));
  assert.equal((bug as Error).message, "Cannot read properties of undefined (reading 'keys')");
  assert.match((bug as Error).stack!, /TypeError|units\.test\.ts/);
  const plain = new Error('not packed');
  assert.equal(unpackWorkerError(plain), plain);
});

const PROFILE = JSON.stringify({ format: 'kvopt-budget-profile/1', target: 8, layers: [8, 8], meta: {} }, null, 1).replace(/\[\s*8,\s*8\s*\]/, '[8, 8]');

test("a method's file: option is relative to the YAML's folder, whatever the working directory", () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-paths-'));
  mkdirSync(join(dir, 'exp'));
  writeFileSync(join(dir, 'exp', 'prof.json'), PROFILE);
  writeFileSync(join(dir, 'prof2.json'), PROFILE);
  const text = `name: p\nmodel: { path: m.bin }\ntasks: [{ name: passkey, data: d.jsonl }]\nmethods: [{ profile: { file: prof.json } }]\nbudgets: [8]\nsearch: { budget: 8, scorer: { snapkv: { allocator: profile, file: ../prof2.json } } }\n`;
  const c = parseExperiment(text, join(dir, 'exp', 'x.yaml'), { cwd: '/' });
  assert.equal(c.methods[0].options.file, join(dir, 'exp', 'prof.json'));
  assert.equal(c.methods[0].key, parseExperiment(text, 'exp/x.yaml', { cwd: dir }).methods[0].key, 'the key keeps the path as written');
  assert.equal(c.search!.scorer.options.file, join(dir, 'prof2.json'));
});

test('data identity: every data file (and profile file) is hashed; a change, removal or addition is named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-data-'));
  mkdirSync(join(dir, 'hay'));
  writeFileSync(join(dir, 'hay', 'a.txt'), 'alpha');
  writeFileSync(join(dir, 'hay', 'b.txt'), 'beta');
  writeFileSync(join(dir, 'p.json'), PROFILE);
  const text = `name: d\nmodel: { path: m.bin }\ntasks: [{ name: needle, data: hay, options: { lengths: [64], depths: [50] } }]\nmethods: [{ profile: { file: p.json } }]\nbudgets: [8]\n`;
  const c = parseExperiment(text, join(dir, 'x.yaml'));
  const h = dataHashes(c);
  assert.deepEqual(Object.keys(h).sort(), [join(dir, 'hay', 'a.txt'), join(dir, 'hay', 'b.txt'), join(dir, 'p.json')].sort());
  assert.equal(h[join(dir, 'hay', 'a.txt')], createHash('sha256').update('alpha').digest('hex'));
  checkDataUnchanged(1, h, dataHashes(c));
  writeFileSync(join(dir, 'hay', 'b.txt'), 'beta!');
  assert.throws(() => checkDataUnchanged(1, h, dataHashes(c)), new RegExp(`--resume: ${join(dir, 'hay', 'b.txt')} changed since run 1 started`));
  writeFileSync(join(dir, 'hay', 'b.txt'), 'beta');
  writeFileSync(join(dir, 'hay', 'c.txt'), 'gamma');
  assert.throws(() => checkDataUnchanged(1, h, dataHashes(c)), /c\.txt is new since run 1 started/);
  writeFileSync(join(dir, 'p.json'), PROFILE.replace('[8, 8]', '[6, 10]'));
  assert.throws(() => checkDataUnchanged(1, h, dataHashes(c)), /p\.json changed since run 1 started/);
  checkDataUnchanged(1, undefined, dataHashes(c)); // runs stored before data hashes existed resume as before
});
