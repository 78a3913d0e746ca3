/**
 * kvopt command-line entry. One file per command in this folder; each exports `register(program)`.
 * Errors meant for the user (KvoptError) print one line and exit non-zero; anything else is a bug and
 * keeps its stack trace.
 */
import { Command, CommanderError } from 'commander';
import { KvoptError } from '../util/errors.ts';
// Command modules (add one import and one list entry per command).
import * as benchCommand from './bench.ts';
import * as evalCommand from './eval.ts';
import * as exportCommand from './export.ts';
import * as regressCommand from './regress.ts';
import * as searchCommand from './search.ts';
import * as generateCommand from './generate.ts';
import * as scoreCommand from './score.ts';
import * as reportCommand from './report.ts';
import * as runsCommand from './runs.ts';
import * as showCommand from './show.ts';
import * as workerCommand from './worker.ts';

const program = new Command();
program
  .name('kvopt')
  .description('KV-cache compression research: evaluate methods, search per-layer budgets, export and gate profiles')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

const commands: { register(program: Command): void }[] = [
  evalCommand, searchCommand, exportCommand, regressCommand, scoreCommand, generateCommand, benchCommand,
  reportCommand, runsCommand, showCommand, workerCommand,
];
for (const cmd of commands) cmd.register(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode);
  }
  if (err instanceof KvoptError) {
    process.stderr.write(`kvopt: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  throw err;
}
