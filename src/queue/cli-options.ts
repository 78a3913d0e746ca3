/**
 * `--queue URL` / `--queue-password-file FILE` / YAML `queue:` for eval and search: resolved into a
 * connected QueueCoordinator before any run is created (so a bad address leaves nothing behind).
 */
import type { Command } from 'commander';
import { KvoptError } from '../util/errors.ts';
import { QueueCoordinator } from './coordinator.ts';
import { parseQueueUrl } from './url.ts';

export interface QueueFlags {
  queue?: string;
  queuePasswordFile?: string;
}

export function addQueueOptions(cmd: Command): Command {
  return cmd
    .option('--queue <url>', 'run on `kvopt worker` processes through this Redis: redis://[:password@]host[:port][/db] or rediss:// (TLS)')
    .option('--queue-password-file <file>', "the Redis password, read from this file's first line");
}

/** The coordinator for `--queue` (or the file's `queue:`), checked against the server; null: the local pool. */
export async function queueFromFlags(f: QueueFlags, fromConfig: string | null, quiet = false): Promise<QueueCoordinator | null> {
  const url = f.queue ?? fromConfig;
  if (url === null || url === undefined) {
    if (f.queuePasswordFile !== undefined) throw new KvoptError('--queue-password-file: give --queue URL (or queue: in the experiment file) too');
    return null;
  }
  const field = f.queue !== undefined ? '--queue' : 'queue';
  return QueueCoordinator.connect(parseQueueUrl(url, field, f.queuePasswordFile), { quiet, field });
}
