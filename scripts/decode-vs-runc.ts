/**
 * kvopt's decode against llama2.c's run.c on the same checkpoint, side by side in one run (run on purpose, not in
 * tests). run.c is not part of kvopt: build it yourself outside the repository and pass the binary, e.g.
 *
 *   gcc -O3 -o /tmp/runc run.c -lm
 *   node --import tsx scripts/decode-vs-runc.ts --runc /tmp/runc --model ../shared/data/stories260K/stories260K.bin \
 *     --tokenizer ../shared/data/stories260K/tok512.bin [--steps 256] [--reps 5] [--threads 1] [--spin-wait] [--out results/x.json]
 *
 * Both decode greedily from BOS for the same number of positions, alternating, `reps` times. run.c is timed by
 * its own report (tok/s over positions 2..steps, wall) and by its CPU time (user + system from /usr/bin/time);
 * kvopt by wall and CPU time (process.cpuUsage) of generate() with `threads` intra-op threads; --spin-wait lets
 * its idle intra-op threads spin as OpenMP's do by default (kvopt's default is to sleep, see runtime/session.ts). On a shared
 * machine compare CPU time: wall time moves with other processes' load.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { loadModel } from '../src/model/load.ts';
import { ModelRuntime } from '../src/runtime/runtime.ts';

const args = process.argv.slice(2);
const flag = (name: string, dflt?: string): string => {
  const i = args.indexOf(name);
  if (i >= 0 && args[i + 1]) return args[i + 1];
  if (dflt === undefined) {
    process.stderr.write(`decode-vs-runc: ${name} is required (see the header of scripts/decode-vs-runc.ts)\n`);
    process.exit(2);
  }
  return dflt;
};
const runc = flag('--runc');
const modelPath = flag('--model');
const tokenizer = flag('--tokenizer');
const steps = Number(flag('--steps', '256'));
const reps = Number(flag('--reps', '5'));
const threads = Number(flag('--threads', '1'));
const spinWait = args.includes('--spin-wait');
const out = flag('--out', '');
for (const [name, p] of [
  ['--runc', runc],
  ['--model', modelPath],
  ['--tokenizer', tokenizer],
]) {
  if (!existsSync(p)) {
    process.stderr.write(`decode-vs-runc: ${name} ${p} does not exist\n`);
    process.exit(2);
  }
}
if (!existsSync('/usr/bin/time')) {
  process.stderr.write('decode-vs-runc: /usr/bin/time is needed for run.c CPU time (apt-get install time)\n');
  process.exit(2);
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** One run.c run: its reported tok/s and its CPU seconds per token. */
function runRunc(): { tokPerSecWall: number; cpuMsPerToken: number } {
  const r = spawnSync('/usr/bin/time', ['-f', 'CPU %U %S', runc, modelPath, '-z', tokenizer, '-t', '0', '-n', String(steps)], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: String(threads) },
  });
  const achieved = /achieved tok\/s: ([\d.]+)/.exec(r.stderr);
  const cpu = /CPU ([\d.]+) ([\d.]+)/.exec(r.stderr);
  if (r.status !== 0 || !achieved || !cpu) throw new Error(`run.c failed (${r.status}): ${r.stderr.slice(-300)}`);
  // CPU time covers loading too (a few ms for small checkpoints): per token over all positions
  return { tokPerSecWall: Number(achieved[1]), cpuMsPerToken: ((Number(cpu[1]) + Number(cpu[2])) * 1000) / steps };
}

const model = await loadModel(modelPath, { tokenizer });
const rt = await ModelRuntime.create(model, { intraOpNumThreads: threads, spinWait });
const BOS = 1;
const gen = () => rt.generate(null, [BOS], { maxNewTokens: steps - 1, stopTokens: [] });
// run.c stops at a generated BOS; so that both decode the same positions, none may occur within `steps`
const warm = await gen();
if (warm.tokens.includes(BOS)) {
  process.stderr.write(`decode-vs-runc: greedy decoding reaches BOS at position ${warm.tokens.indexOf(BOS) + 1}; use fewer --steps\n`);
  process.exit(2);
}
runRunc();

const kv: { wall: number[]; cpu: number[] } = { wall: [], cpu: [] };
const rc: { wall: number[]; cpu: number[] } = { wall: [], cpu: [] };
const loadStart = loadavg()[0];
for (let r = 0; r < reps; r++) {
  const c0 = cpuMs();
  const t0 = performance.now();
  await gen();
  const wall = performance.now() - t0;
  // steps − 1 decode runs after the BOS prompt run, as run.c's rate counts positions after the first
  kv.wall.push((steps - 1) / (wall / 1000));
  kv.cpu.push((cpuMs() - c0) / steps);
  const o = runRunc();
  rc.wall.push(o.tokPerSecWall);
  rc.cpu.push(o.cpuMsPerToken);
}
const kvCpu = median(kv.cpu);
const rcCpu = median(rc.cpu);
const result = {
  date: new Date().toISOString(),
  model: modelPath,
  steps,
  reps,
  threads,
  spinWait,
  loadAverageStart: loadStart,
  loadAverageEnd: loadavg()[0],
  kvopt: { tokPerSecWall: median(kv.wall), cpuMsPerToken: kvCpu, tokPerCpuSecond: 1000 / kvCpu, all: kv },
  runc: { tokPerSecWall: median(rc.wall), cpuMsPerToken: rcCpu, tokPerCpuSecond: 1000 / rcCpu, all: rc },
  ratioCpu: rcCpu / kvCpu,
  ratioWall: median(kv.wall) / median(rc.wall),
};
await rt.release();
const json = JSON.stringify(result, null, 2);
if (out) {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${json}\n`);
}
process.stdout.write(`${json}\n`);
