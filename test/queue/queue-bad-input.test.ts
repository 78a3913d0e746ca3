// Bad queue input: a malformed URL, an unreachable Redis, a wrong or missing password, a Redis without the
// commands BullMQ needs, a password in the experiment file. Each is one line naming the flag (or key)
// and the address without its password, a non-zero exit, and no run (no database) left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kvopt } from '../engine/cli-run.ts';
import { killRedis, startRedis, writeEvalConfig } from './helpers.ts';

function oneLine(r: { status: number | null; stdout: string; stderr: string }, re: RegExp, secret?: string): void {
  assert.notEqual(r.status, 0, r.stderr);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], re);
  if (secret) assert.ok(!r.stderr.includes(secret), 'the password was printed');
}

test('bad queue input: one line each, non-zero exit, no run created', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvopt-queue-bad-'));
  const cfg = writeEvalConfig(dir, 'queue-bad');
  const db = join(dir, 'k.db');
  const evalWith = (...q: string[]) => kvopt(['eval', '--config', cfg, '--db', db, '--quiet', ...q], { KVOPT_CACHE_DIR: join(dir, 'cache') });

  oneLine(
    evalWith('--queue', 'http://127.0.0.1:6379'),
    /^kvopt: --queue: scheme 'http' is not supported; expected redis:\/\/\[:password@\]host\[:port\]\[\/db\] or rediss:\/\/… \(TLS\)$/,
  );
  oneLine(evalWith('--queue', 'not a url'), /^kvopt: --queue: 'not a url' is not a URL; expected redis:\/\//);
  oneLine(evalWith('--queue', 'redis://127.0.0.1:6379/x'), /^kvopt: --queue: database 'x' is not a number 0-99/);
  oneLine(evalWith('--queue', 'redis://127.0.0.1:6389'), /^kvopt: --queue: redis:\/\/127\.0\.0\.1:6389: connection refused \(is Redis running there\?\)$/);
  oneLine(evalWith('--queue-password-file', join(dir, 'none')), /^kvopt: --queue-password-file: give --queue URL/);
  oneLine(
    evalWith('--queue', 'redis://127.0.0.1:6379', '--queue-password-file', join(dir, 'none')),
    /^kvopt: --queue-password-file: cannot read .*none \(ENOENT\)$/,
  );
  oneLine(kvopt(['worker', '--queue', 'redis://127.0.0.1:6389']), /^kvopt: --queue: redis:\/\/127\.0\.0\.1:6389: connection refused/);

  const withPassword = join(dir, 'with-password.yaml');
  writeFileSync(withPassword, `${readFileSync(cfg, 'utf8')}queue: redis://:hunter2@127.0.0.1:6379\n`);
  oneLine(
    kvopt(['eval', '--config', withPassword, '--db', db, '--quiet']),
    /^kvopt: .*with-password\.yaml: queue.*a password does not belong in the experiment file/,
    'hunter2',
  );

  const secured = await startRedis(6392, ['--requirepass', 'right-pw']);
  const crippled = await startRedis(6393, ['--rename-command', 'EVALSHA', '']);
  try {
    oneLine(
      evalWith('--queue', 'redis://:not-the-pw@127.0.0.1:6392'),
      /^kvopt: --queue: redis:\/\/:\*\*\*@127\.0\.0\.1:6392: wrong password or user name/,
      'not-the-pw',
    );
    oneLine(evalWith('--queue', 'redis://127.0.0.1:6392'), /^kvopt: --queue: redis:\/\/127\.0\.0\.1:6392: Redis needs a password/);
    oneLine(
      evalWith('--queue', 'redis://127.0.0.1:6393'),
      /^kvopt: --queue: redis:\/\/127\.0\.0\.1:6393 lacks commands the queue needs: EVALSHA \(renamed or disabled on this server\)$/,
    );
  } finally {
    await killRedis(secured);
    await killRedis(crippled);
  }
  assert.ok(!existsSync(db), 'no run (no database) was created');
});
