// Queue addresses: parsed once, printed only without the password; the experiment file's `queue:`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configHash } from '../../src/config/hash.ts';
import { parseExperiment } from '../../src/config/load.ts';
import { parseQueueUrl } from '../../src/queue/url.ts';
import { KvoptError } from '../../src/util/errors.ts';

test('redis:// and rediss:// addresses: host, port, db, TLS, user and password; display never holds the password', () => {
  assert.deepEqual(parseQueueUrl('redis://127.0.0.1'), {
    host: '127.0.0.1',
    port: 6379,
    db: 0,
    tls: false,
    username: null,
    password: null,
    display: 'redis://127.0.0.1:6379',
  });
  assert.deepEqual(parseQueueUrl('redis://:s3cret%40x@queue.lab:7000/3'), {
    host: 'queue.lab',
    port: 7000,
    db: 3,
    tls: false,
    username: null,
    password: 's3cret@x',
    display: 'redis://:***@queue.lab:7000/3',
  });
  assert.deepEqual(parseQueueUrl('rediss://kvopt:pw@[::1]:6380/1'), {
    host: '::1',
    port: 6380,
    db: 1,
    tls: true,
    username: 'kvopt',
    password: 'pw',
    display: 'rediss://kvopt:***@[::1]:6380/1',
  });
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-queue-url-'));
  const file = join(dir, 'pw');
  writeFileSync(file, 'from-file\n');
  const t = parseQueueUrl('redis://:in-url@h', '--queue', file);
  assert.equal(t.password, 'from-file');
  assert.equal(t.display, 'redis://:***@h:6379');
});

test('malformed addresses: one KvoptError naming the flag, without the password', () => {
  const err = (url: string) => {
    try {
      parseQueueUrl(url);
    } catch (e) {
      assert.ok(e instanceof KvoptError);
      return e.message;
    }
    assert.fail(`${url} was accepted`);
  };
  assert.match(err('http://h'), /^--queue: scheme 'http' is not supported/);
  assert.match(err('redis://h/db1'), /^--queue: database 'db1' is not a number/);
  assert.match(err('redis://h?x=1'), /^--queue: query strings and fragments are not supported/);
  const m = err('redis//:hunter2@h');
  assert.match(m, /is not a URL/);
  assert.ok(!m.includes('hunter2'));
});

test("the experiment file's queue: is kept (not part of the config hash) and may not hold a password", () => {
  const base = 'name: t\nmodel:\n  path: m.bin\ntasks:\n  - name: passkey\n    data: d.jsonl\n';
  const queued = parseExperiment(`${base}queue: redis://127.0.0.1:6379/2\n`, 'x.yaml', { cwd: '/p' });
  const local = parseExperiment(base, 'x.yaml', { cwd: '/p' });
  assert.equal(queued.queue, 'redis://127.0.0.1:6379/2');
  assert.equal(local.queue, null);
  assert.equal(configHash(queued), configHash(local), 'a run resumes with or without the queue');
  assert.throws(
    () => parseExperiment(`${base}queue: redis://:pw@h:6379\n`, 'x.yaml', { cwd: '/p' }),
    /x\.yaml: queue.*a password does not belong in the experiment file/,
  );
});
