/** kvopt worker: evaluate the jobs of queued runs (`kvopt eval|search --queue URL`) on this machine. */
import type { Command } from 'commander';
import { DEVICES } from '../config/schema.ts';
import { QueueWorker } from '../queue/queue-worker.ts';
import { parseQueueUrl } from '../queue/url.ts';
import type { Device } from '../runtime/types.ts';
import { KvoptError } from '../util/errors.ts';

interface WorkerFlags {
  queue: string;
  queuePasswordFile?: string;
  device?: string;
  concurrency: string;
  workers: string;
  model?: string;
  tokenizer?: string;
  prefillCache?: string;
  name?: string;
  quiet?: boolean;
}

function positiveInt(flag: string, v: string): number {
  const n = /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 1) throw new KvoptError(`${flag}: expected a positive integer, got '${v}'`);
  return n;
}

export function register(program: Command): void {
  program
    .command('worker')
    .description('take evaluation jobs of queued runs (eval/search --queue) from Redis and run them here')
    .requiredOption('--queue <url>', 'the Redis of the runs: redis://[:password@]host[:port][/db] or rediss:// (TLS)')
    .option('--queue-password-file <file>', "the Redis password, read from this file's first line")
    .option('--device <d>', `device for the models: ${DEVICES.join(' | ')} (default: the one each run names)`)
    .option('--concurrency <n>', 'jobs (samples) evaluated at once', '1')
    .option('--workers <n>', "local worker threads, each with its own model copy ('auto' or a number)", '1')
    .option('--model <path>', "the runs' model file on this machine, when it is not at the path the runs name")
    .option('--tokenizer <path>', 'tokenizer file for --model (llama2.c checkpoints)')
    .option('--prefill-cache <dir>', 'keep prefill records in this folder (default: a temporary folder, removed at exit)')
    .option('--name <id>', 'worker id shown by coordinators (default: host.pid)')
    .option('--quiet', 'print only errors')
    .addHelpText(
      'after',
      `
A worker waits for runs, checks each run's model (same weights hash, or it refuses the run and says why),
then evaluates its jobs. Ctrl-C / SIGTERM: finishes the jobs in flight and exits 0 (twice: hands them back).

Examples:
  kvopt worker --queue redis://127.0.0.1:6379
  kvopt worker --queue redis://gpu-box.lan:6379/2 --queue-password-file ~/.kvopt-redis --device cuda --concurrency 2
  kvopt worker --queue rediss://queue.lab:6380 --model /data/models/llama-3-8b   # model at another path here`,
    )
    .action(async (f: WorkerFlags) => {
      const target = parseQueueUrl(f.queue, '--queue', f.queuePasswordFile);
      if (f.device !== undefined && !(DEVICES as readonly string[]).includes(f.device)) {
        throw new KvoptError(`--device: expected one of ${DEVICES.join(', ')}, got '${f.device}'`);
      }
      if (f.tokenizer !== undefined && f.model === undefined) throw new KvoptError('--tokenizer: give --model too (the tokenizer of that model file)');
      const workers = f.workers === 'auto' ? 'auto' : positiveInt('--workers', f.workers);
      const worker = await QueueWorker.start({
        target,
        device: (f.device as Device | undefined) ?? null,
        concurrency: positiveInt('--concurrency', f.concurrency),
        workers,
        model: f.model ?? null,
        tokenizer: f.tokenizer ?? null,
        prefillCache: f.prefillCache ?? null,
        name: f.name ?? null,
        quiet: f.quiet ?? false,
      });
      let signals = 0;
      const onSignal = () => {
        signals++;
        if (signals === 1) void worker.stop(false);
        else void worker.stop(true).then(() => process.exit(0));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      await worker.finished;
      process.exit(0);
    });
}
