/**
 * Redis connections for the queue, and the check made before anything is created: the server answers,
 * the password is right, the version is one BullMQ supports, and the commands BullMQ and kvopt use are
 * there (a managed Redis may rename or disable some). Each failure is one line naming the address
 * (never the password) and what is wrong.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { KvoptError } from '../util/errors.ts';
import type { QueueTarget } from './url.ts';

/** BullMQ's own minimum (bullmq RedisConnection.minimumVersion). */
const MIN_VERSION = [5, 0, 0];
/**
 * Commands used by BullMQ's Lua scripts and workers, and by kvopt (worker presence through CLIENT LIST,
 * run clean-up through SCAN/UNLINK).
 */
export const NEEDED_COMMANDS = ['eval', 'evalsha', 'script', 'bzpopmin', 'xadd', 'xread', 'xtrim', 'client', 'scan', 'unlink', 'hset', 'hgetall', 'zadd'];

export function redisOptions(t: QueueTarget, name?: string): RedisOptions {
  return {
    host: t.host,
    port: t.port,
    db: t.db,
    username: t.username ?? undefined,
    password: t.password ?? undefined,
    tls: t.tls ? {} : undefined,
    connectionName: name,
    // BullMQ's workers block on Redis: commands wait for a reconnect instead of failing.
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(250 * times, 2000),
  };
}

function versionBelow(version: string, min: number[]): boolean {
  const v = version.split('.').map(Number);
  for (let i = 0; i < min.length; i++) if ((v[i] ?? 0) !== min[i]) return (v[i] ?? 0) < min[i];
  return false;
}

/** Rephrases a connection or auth error as one line about `t`. */
export function describeRedisError(t: QueueTarget, e: unknown): string {
  const msg = String((e as Error)?.message ?? e);
  const code = (e as NodeJS.ErrnoException)?.code;
  if (/WRONGPASS|invalid password|invalid username-password/i.test(msg)) return `${t.display}: wrong password or user name (Redis answered WRONGPASS)`;
  if (/NOAUTH/i.test(msg)) return `${t.display}: Redis needs a password (redis://:PASSWORD@host, or --queue-password-file)`;
  if (/without any password configured|AUTH.*called without/i.test(msg)) return `${t.display}: a password was given but this Redis has none configured`;
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(msg)) return `${t.display}: connection refused (is Redis running there?)`;
  if (code === 'ENOTFOUND' || /ENOTFOUND|EAI_AGAIN/.test(msg)) return `${t.display}: unknown host '${t.host}'`;
  if (/ETIMEDOUT|timed? ?out/i.test(msg)) return `${t.display}: no answer (timed out)`;
  if (/SSL|TLS|EPROTO|certificate/i.test(msg)) return `${t.display}: TLS handshake failed (${msg.split('\n')[0]})`;
  return `${t.display}: ${msg.split('\n')[0]}`;
}

/**
 * Connects once without retrying and checks the server; throws a KvoptError (one line) when it is not
 * usable. The connection is closed again: callers open their own long-lived ones afterwards.
 */
export async function checkRedis(t: QueueTarget, field = '--queue'): Promise<void> {
  const r = new Redis({ ...redisOptions(t), lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 5000 });
  let socketError: unknown = null; // the cause; connect() itself only says "Connection is closed."
  r.on('error', (e) => (socketError ??= e));
  try {
    try {
      await r.connect();
      await r.ping();
    } catch (e) {
      throw new KvoptError(`${field}: ${describeRedisError(t, socketError ?? e)}`);
    }
    const info = String(await r.info('server'));
    const version = /redis_version:([\d.]+)/.exec(info)?.[1] ?? '0.0.0';
    if (versionBelow(version, MIN_VERSION))
      throw new KvoptError(`${field}: ${t.display} runs Redis ${version}; BullMQ needs ${MIN_VERSION.join('.')} or newer`);
    let docs: unknown[];
    try {
      docs = (await r.call('COMMAND', 'INFO', ...NEEDED_COMMANDS)) as unknown[];
    } catch (e) {
      throw new KvoptError(
        `${field}: ${t.display} does not allow COMMAND INFO (${String((e as Error).message).split('\n')[0]}); kvopt needs it to check the server`,
      );
    }
    const missing = NEEDED_COMMANDS.filter((_, i) => docs[i] === null || docs[i] === undefined);
    if (missing.length) {
      throw new KvoptError(
        `${field}: ${t.display} lacks commands the queue needs: ${missing.map((c) => c.toUpperCase()).join(', ')} (renamed or disabled on this server)`,
      );
    }
  } finally {
    r.disconnect();
  }
}
