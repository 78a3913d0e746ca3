/**
 * The queue address: `redis://[user][:password@]host[:port][/db]` or `rediss://…` (TLS), parsed once into
 * a QueueTarget. The password may also come from a file (`--queue-password-file`), which wins over the URL.
 * `display` is the address with any password replaced by `***`: the only form that is ever printed,
 * logged or stored.
 */
import { readFileSync } from 'node:fs';
import { KvoptError } from '../util/errors.ts';

export interface QueueTarget {
  host: string;
  port: number;
  db: number;
  tls: boolean;
  username: string | null;
  password: string | null;
  /** Printable form: never holds the password. */
  display: string;
}

/** Parses `url` (the flag or YAML key named `field`); `passwordFile` replaces a password in the URL. */
export function parseQueueUrl(url: string, field = '--queue', passwordFile?: string): QueueTarget {
  const expected = 'expected redis://[:password@]host[:port][/db] or rediss://… (TLS)';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new KvoptError(`${field}: '${redactLoose(url)}' is not a URL; ${expected}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new KvoptError(`${field}: scheme '${u.protocol.replace(/:$/, '')}' is not supported; ${expected}`);
  if (!u.hostname) throw new KvoptError(`${field}: no host in '${redactLoose(url)}'; ${expected}`);
  if (u.search || u.hash) throw new KvoptError(`${field}: query strings and fragments are not supported in '${redactLoose(url)}'; ${expected}`);
  const port = u.port === '' ? 6379 : Number(u.port);
  const path = u.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d{1,2}$/.test(path)) throw new KvoptError(`${field}: database '${path}' is not a number 0-99; ${expected}`);
  const db = path === '' ? 0 : Number(path);
  let password = u.password ? decodeURIComponent(u.password) : null;
  if (passwordFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(passwordFile, 'utf8');
    } catch (e) {
      throw new KvoptError(`--queue-password-file: cannot read ${passwordFile} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    password = text.replace(/\r?\n$/, '');
    if (password === '') throw new KvoptError(`--queue-password-file: ${passwordFile} is empty; expected the Redis password on its first line`);
  }
  const username = u.username ? decodeURIComponent(u.username) : null;
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const auth = username || password ? `${username ?? ''}${password ? ':***' : ''}@` : '';
  const display = `${u.protocol}//${auth}${u.hostname}:${port}${db ? `/${db}` : ''}`;
  return { host, port, db, tls: u.protocol === 'rediss:', username, password, display };
}

/** A best-effort redaction of something that did not parse as a URL: drop anything between `:` and `@`. */
function redactLoose(s: string): string {
  return s.replace(/\/\/([^/@]*):[^/@]*@/, '//$1:***@');
}
