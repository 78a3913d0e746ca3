/** `kvopt bench runtime`: runtime throughput, memory and the decode bandwidth bound. */
import type { Command } from 'commander';
import { benchBuild, benchRuntime, type BenchResult } from '../runtime/bench.ts';
import { openModel } from '../runtime/model-ref.ts';
import type { DeviceRequest } from '../runtime/device.ts';
import type { Precision } from '../graph/llama.ts';
import { parseDevice, parseDtype, parseIntFlag } from './generate.ts';
import { parseSelfExtendFlag, withSelfExtend, type SelfExtendOptions } from '../model/self-extend.ts';

function formatBench(r: BenchResult): string {
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  return [
    `model                 ${r.model} (${(r.parameters / 1e6).toFixed(2)}M parameters, ${r.dtype}, ${r.device}${r.threads ? `, ${r.threads} threads` : ''}${r.graphOptions.selfExtend ? `, SelfExtend G=${r.graphOptions.selfExtend.group} W=${r.graphOptions.selfExtend.window}` : ''})`,
    `graph build           cold ${(r.graphBuildColdMs / 1000).toFixed(2)} s, cached ${r.graphBuildCachedMs.toFixed(1)} ms; session create ${(r.sessionCreateMs / 1000).toFixed(2)} s`,
    `prefill               ${r.prefillTokensPerSec.toFixed(1)} tok/s (${r.promptTokens} tokens)`,
    `decode batch 1        ${r.decodeTokensPerSecBatch1.toFixed(1)} tok/s (${r.decodeTokens} steps; step median ${r.decodeStepMsBatch1.median.toFixed(1)} ms, min ${r.decodeStepMsBatch1.min.toFixed(1)} ms)`,
    `decode batch ${String(r.batch).padEnd(8)} ${r.decodeTokensPerSecBatchN.toFixed(1)} tok/s (total over the batch; step median ${r.decodeStepMsBatchN.median.toFixed(1)} ms, min ${r.decodeStepMsBatchN.min.toFixed(1)} ms)`,
    `peak RSS              ${mb(r.peakRssBytes)}`,
    `KV bytes per token    ${r.kvBytesPerToken} (2·L·Hkv·hd·${r.dtype === 'fp16' ? 2 : 4})`,
    `host↔device per step  ${r.hostDeviceBytesPerStep} bytes = ${(100 * r.hostDeviceFractionOfCache).toFixed(3)} % of the ${mb(r.cacheBytesAtContext)} cache (${r.deviceResidentCache ? 'cache on the device; first step uploads ' + r.hostDeviceBytesFirstStep + ' bytes' : 'host-resident cache: the past goes in every step'})`,
    `load average          ${r.loadAverage.toFixed(1)} (figures from a busy machine are not comparable)`,
    `bandwidth bound       ${r.decodeBoundTokensPerSec.toFixed(1)} tok/s at batch 1 = ${r.memoryBandwidthGBs.toFixed(1)} GB/s (one-thread memcpy) / (${mb(r.weightBytes)} weights + KV)`,
  ].join('\n');
}

export function register(program: Command): void {
  const bench = program.command('bench').description('benchmarks');
  bench
    .command('runtime')
    .description('prefill and decode tokens/s (batch 1 and N), peak RSS, KV bytes per token, graph build time')
    .requiredOption('--model <path>', 'model path, or random:<preset> (random:tiny, random:100m) for a seeded random Llama')
    .option('--tokenizer <path>', 'tokenizer file when the model needs one to load')
    .option('--json', 'print one JSON object')
    .option('--batch <n>', 'batch size of the batched decode', parseIntFlag('--batch', 1), 10)
    .option('--prompt-tokens <n>', 'prompt length for prefill', parseIntFlag('--prompt-tokens', 1), 256)
    .option('--decode-tokens <n>', 'decode steps', parseIntFlag('--decode-tokens', 1), 32)
    .option('--device <device>', 'cpu (default), cuda or webgpu (webgpu! : no CPU fallback)', parseDevice, { device: 'cpu', required: false } as DeviceRequest)
    .option('--dtype <t>', 'fp32 (default) or fp16 weights and KV cache', parseDtype, 'fp32' as Precision)
    .option('--threads <n>', 'intra-op threads (default: all cores)', parseIntFlag('--threads', 1))
    .option('--device-bandwidth-gbs <n>', "the GPU's memory bandwidth in GB/s (e.g. 4800 for an H200) for the decode bound", parseIntFlag('--device-bandwidth-gbs', 1))
    .option('--build-only', 'only build the graph (weights streamed into it): build time, data size, peak RSS')
    .option('--bandwidth-mib <n>', 'array size of the memory-bandwidth measurement', parseIntFlag('--bandwidth-mib', 1), 256)
    .option('--self-extend <G,W>', 'benchmark the SelfExtend graph (group size G, neighbour window W)', (v: string) => parseSelfExtendFlag(v))
    .addHelpText('after', `
Examples:
  kvopt bench runtime --model models/tiny --self-extend 8,128 --prompt-tokens 2048 --decode-tokens 16 --json
  kvopt bench runtime --model ../shared/data/stories260K/stories260K.bin --tokenizer ../shared/data/stories260K/tok512.bin
  kvopt bench runtime --model random:100m --prompt-tokens 256 --decode-tokens 16 --batch 10 --json
  kvopt bench runtime --model random:1b --dtype fp16 --build-only          # streamed fp16 build: peak RSS vs fp32 size
  kvopt bench runtime --model random:8b --dtype fp16 --device webgpu! --prompt-tokens 8192 --json   # says first if it cannot fit`)
    .action(async (o: { model: string; tokenizer?: string; json?: boolean; batch: number; promptTokens: number; decodeTokens: number; device: DeviceRequest; dtype: Precision; threads?: number; bandwidthMib: number; buildOnly?: boolean; deviceBandwidthGbs?: number; selfExtend?: SelfExtendOptions }) => {
      const model = withSelfExtend(await openModel(o.model, { tokenizer: o.tokenizer }), o.selfExtend, '--self-extend');
      if (o.buildOnly) {
        const b = benchBuild(model, o.dtype);
        const gib = (x: number) => `${(x / 2 ** 30).toFixed(2)} GiB`;
        process.stdout.write(
          (o.json
            ? JSON.stringify(b, null, 2)
            : `graph build  ${b.model} (${(b.parameters / 1e9).toFixed(3)}B parameters, ${b.dtype}): ${(b.graphBuildColdMs / 1000).toFixed(1)} s, ` +
              `data ${gib(b.graphDataBytes)}, peak RSS ${gib(b.peakRssBytes)} (fp32 weights would be ${gib(b.fp32WeightBytes)}; load ${b.loadAverage.toFixed(1)})`) + '\n',
        );
        return;
      }
      const r = await benchRuntime(model, {
        batch: o.batch,
        promptTokens: o.promptTokens,
        decodeTokens: o.decodeTokens,
        device: o.device.device,
        requireDevice: o.device.required,
        precision: o.dtype,
        intraOpNumThreads: o.threads,
        bandwidthMiB: o.bandwidthMib,
        selfExtend: o.selfExtend,
        deviceBandwidthGBs: o.deviceBandwidthGbs,
      });
      process.stdout.write((o.json ? JSON.stringify(r, null, 2) : formatBench(r)) + '\n');
    });
}
