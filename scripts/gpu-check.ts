/**
 * The GPU check: on a machine with a GPU and Vulkan (WebGPU), prints ONE JSON object:
 *   - webgpu: the probe (is there an adapter at all);
 *   - stories260K: greedy 200 tokens from BOS on WebGPU (cache on the device) vs the CPU provider: must match;
 *   - bench: `kvopt bench runtime` on random:1b and random:8b in fp16 at an 8k-token prompt (prefill tok/s, decode
 *     tok/s at batch 1 and 10, host↔device bytes per step, and the fraction of the memory-bandwidth limit when
 *     --device-bandwidth-gbs is given, e.g. 4800 for an H200). A model that does not fit is reported, not crashed.
 * Exit 0 when WebGPU works and stories260K matches (the figures are informational), else 1.
 *
 *   node --import tsx scripts/gpu-check.ts [--quick] [--device-bandwidth-gbs N] [--models random:1b,random:8b]
 * --quick: stories260K 40 tokens and random:tiny only (to test the check itself on a software GPU).
 * On a machine without Node or network, use scripts/gpu-check (pack here, run there).
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { loadModel } from '../src/model/load.ts';
import { ModelRuntime } from '../src/runtime/runtime.ts';
import { probeWebgpu } from '../src/runtime/webgpu-probe.ts';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const quick = args.includes('--quick');
const bandwidth = flag('--device-bandwidth-gbs');
const models = (flag('--models') ?? (quick ? 'random:tiny' : 'random:1b,random:8b')).split(',');
const root = resolve(import.meta.dirname, '..');
const shared = process.env.KVOPT_SHARED_DATA ?? resolve(root, '../shared/data');

const out: Record<string, unknown> = { date: new Date().toISOString(), node: process.version, quick };
const probe = await probeWebgpu();
out.webgpu = probe;

let storiesMatch = false;
if (probe.ok) {
  const model = await loadModel(resolve(shared, 'stories260K/stories260K.bin'), { tokenizer: resolve(shared, 'stories260K/tok512.bin') });
  const n = quick ? 40 : 200;
  const gpu = await ModelRuntime.create(model, { device: 'webgpu', requireDevice: true });
  const cpu = await ModelRuntime.create(model, {});
  const t0 = performance.now();
  const g = await gpu.generate(null, [1], { maxNewTokens: n, stopTokens: [] });
  const gpuMs = performance.now() - t0;
  const c = await cpu.generate(null, [1], { maxNewTokens: n, stopTokens: [] });
  storiesMatch = g.tokens.length === n && g.tokens.every((t, i) => t === c.tokens[i]);
  out.stories260K = { tokens: n, match: storiesMatch, webgpuMs: Math.round(gpuMs), text: model.tokenizer!.decode(g.tokens).slice(0, 80) };
  await gpu.release();
  await cpu.release();

  const bench: Record<string, unknown> = {};
  for (const m of models) {
    const prompt = m === 'random:tiny' ? '64' : '8192';
    const r = spawnSync(
      process.execPath,
      [
        'bin/kvopt.mjs',
        'bench',
        'runtime',
        '--model',
        m,
        '--dtype',
        'fp16',
        '--device',
        'webgpu!',
        '--prompt-tokens',
        prompt,
        '--decode-tokens',
        quick ? '4' : '32',
        '--batch',
        '10',
        '--json',
        ...(bandwidth ? ['--device-bandwidth-gbs', bandwidth] : []),
      ],
      { cwd: root, encoding: 'utf8', maxBuffer: 1 << 24 },
    );
    const errLines = (r.stderr ?? '').split('\n').filter((l) => l.trim() && !l.startsWith('Warning:'));
    const error =
      errLines.filter((l) => l.startsWith('kvopt:')).join(' ') ||
      `exit ${r.status ?? r.signal}: ${errLines.find((l) => /Error/.test(l)) ?? errLines.at(-1) ?? ''}`;
    bench[m] = r.status === 0 ? JSON.parse(r.stdout) : { error };
  }
  out.bench = bench;
}
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
process.exit(probe.ok && storiesMatch ? 0 : 1);
