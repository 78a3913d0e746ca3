/** `kvopt bench runtime`: runtime throughput, memory and the decode bandwidth bound. */
import type { Command } from 'commander';
import { benchBuild, benchRuntime, type BenchResult } from '../runtime/bench.ts';
import { openModel } from '../runtime/model-ref.ts';
import type { DeviceRequest } from '../runtime/device.ts';
import type { Precision } from '../graph/llama.ts';
import { parseDevice, parseDtype, parseIntFlag } from './generate.ts';
import { parseSelfExtendFlag, withSelfExtend, type SelfExtendOptions } from '../model/self-extend.ts';
import { parseBudgetList } from './eval.ts';
import { benchEngine, type EngineBenchResult } from '../engine/bench.ts';
import { budgetOf, parseMethod, splitMethodList } from '../compress/index.ts';
import { KvoptError } from '../util/errors.ts';

function formatEngineBench(r: EngineBenchResult): string {
  const ms = (x: number) => `${x.toFixed(1)} ms`;
  const lines = [
    `model                 ${r.model} (${(r.parameters / 1e6).toFixed(1)}M parameters${r.threads ? `, ${r.threads} threads` : ''}); context ${r.contextTokens}, answer ${r.answerTokens}`,
    `load average          ${r.machine.loadAverageStart.toFixed(1)} → ${r.machine.loadAverageEnd.toFixed(1)} on ${r.machine.cores} cores (ratios are within this run)`,
    `prefill               ${ms(r.prefill.ms)} (${r.prefill.tokensPerSec.toFixed(0)} tok/s); value norms once per prefill ${ms(r.prefill.valueNormsMs)}`,
    `measured warm         each shape run once untimed first; prefill and per item: the median of ${r.methods[0]?.repeats ?? 0} timed runs`,
    '',
    `method                 per item:  compress     decode    metrics   overhead      total   prefill-once (wall, CPU)`,
  ];
  for (const m of r.methods) {
    const p = m.perItem;
    lines.push(
      `${m.method.padEnd(22)} ${String(m.items).padStart(3)} items ${ms(p.compressMs).padStart(10)} ${ms(p.decodeMs).padStart(10)} ${ms(p.metricsMs).padStart(10)} ${ms(p.overheadMs).padStart(10)} ${ms(p.totalMs).padStart(10)} ${m.prefillOnceRatio.toFixed(1).padStart(10)}× ${m.prefillOnceRatioCpu.toFixed(1).padStart(6)}×`,
    );
  }
  const c = r.candidateLoop;
  lines.push(
    '',
    `candidates (${c.candidates}, snapkv)   scoring ${ms(c.scoring.msPerCandidateBatch1)} at batch 1, ${ms(c.scoring.msPerCandidateBatchB)} at batch ${c.candidates} per candidate: ${c.scoring.speedup.toFixed(2)}× (CPU ${c.scoring.speedupCpu.toFixed(2)}×)`,
    `                        generation (${c.generation.tokens} tokens) ${ms(c.generation.msPerCandidateBatch1)} at batch 1, ${ms(c.generation.msPerCandidateBatchB)} at batch ${c.candidates}: ${c.generation.speedup.toFixed(2)}× (CPU ${c.generation.speedupCpu.toFixed(2)}×)`,
  );
  if (r.prefillVsGemm) {
    const g = r.prefillVsGemm;
    lines.push(
      `prefill vs GEMM       ${g.prefillGflops.toFixed(1)} GFLOP/s at ${g.tokens} tokens, fp32 GEMM ${g.gemmGflops.toFixed(1)} GFLOP/s: ${g.ratio.toFixed(2)}× (per CPU second ${g.ratioCpu.toFixed(2)}×)`,
    );
  }
  return lines.join('\n');
}

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
    `host↔device per step  ${r.hostDeviceBytesPerStep} bytes = ${(100 * r.hostDeviceFractionOfCache).toFixed(3)} % of the ${mb(r.cacheBytesAtContext)} cache (${r.deviceResidentCache ? `cache on the device; first step ${r.hostDeviceBytesFirstStep} bytes` : 'host-resident cache: the past goes in every step'})`,
    `host↔device prefill   ${r.prefillHostToDeviceBytes} bytes up, ${r.prefillDeviceToHostBytes} down (statistics and logits${r.gatherHostToDeviceBytes === null ? ', and the cache' : ''})`,
    ...(r.gatherHostToDeviceBytes === null
      ? []
      : [
          `host↔device per item  ${r.gatherHostToDeviceBytes} bytes up (kept indices, every entry) = ${(100 * (r.gatherFractionOfCache ?? 0)).toFixed(3)} % of the prompt's cache, ${r.gatherDeviceToHostBytes} down`,
          `host↔device norms     ${r.valueNormsDeviceToHostBytes} bytes down per prefill (CriticalKV/DefensiveKV's value norms, computed on the device), ${r.valueNormsHostToDeviceBytes} up (W_o once per session)`,
        ]),
    `load average          ${r.loadAverage.toFixed(1)} (figures from a busy machine are not comparable)`,
    `bandwidth bound       ${r.decodeBoundTokensPerSec.toFixed(1)} tok/s at batch 1 = ${r.memoryBandwidthGBs.toFixed(1)} GB/s (one-thread memcpy) / (${mb(r.weightBytes)} weights + KV)`,
  ].join('\n');
}

export function register(program: Command): void {
  const bench = program.command('bench').description('benchmarks');
  bench
    .command('engine')
    .description(
      'the candidate loop: prefill, per-item compress/decode/metrics/overhead, prefill-once ratio per method, batch 1 vs batch B, prefill vs GEMM rate',
    )
    .requiredOption('--model <path>', 'model path, or random:<preset> (random:tiny, random:100m) for a seeded random Llama')
    .option('--tokenizer <path>', 'tokenizer file when the model needs one to load')
    .option('--context <n>', 'prompt tokens prefilled once', parseIntFlag('--context', 1), 2048)
    .option('--answer <n>', 'continuation tokens scored per item (and generated per candidate)', parseIntFlag('--answer', 1), 32)
    .option('--methods <list>', 'comma-separated methods', 'snapkv,adakv,defensivekv,criticalkv')
    .option('--budgets <list>', 'budgets per method, decoded together (tokens per KV head or fractions of the context)', '0.1,0.2,0.5')
    .option('--candidates <n>', 'candidates of the batch-B vs batch-1 measurement', parseIntFlag('--candidates', 1), 10)
    .option('--chunk-size <n>', 'prefill chunk size', parseIntFlag('--chunk-size', 1), 512)
    .option('--repeats <n>', "timed prefills and runs of each method's items, after an untimed one (the medians are reported)", parseIntFlag('--repeats', 1), 5)
    .option('--threads <n>', 'intra-op threads (default: all cores)', parseIntFlag('--threads', 1))
    .option('--no-gemm', 'skip the 1,024-token prefill against the fp32 GEMM rate')
    .option('--json', 'print one JSON object')
    .addHelpText(
      'after',
      `
Examples:
  kvopt bench engine --model random:100m --context 2048 --answer 32 --methods snapkv,adakv,defensivekv,criticalkv --json > results/bench-engine.json
  kvopt bench engine --model ../shared/data/stories260K/stories260K.bin --context 256 --answer 32 --budgets 0.2`,
    )
    .action(
      async (o: {
        model: string;
        tokenizer?: string;
        context: number;
        answer: number;
        methods: string;
        budgets: string;
        candidates: number;
        chunkSize: number;
        repeats: number;
        threads?: number;
        gemm: boolean;
        json?: boolean;
      }) => {
        const written = splitMethodList(o.methods);
        if (written.length === 0) throw new KvoptError('--methods: give at least one method, e.g. snapkv,adakv');
        const methods = written.map((m) => {
          try {
            return { written: m, spec: parseMethod(m) };
          } catch (e) {
            throw new KvoptError(`--methods: ${(e as Error).message}`);
          }
        });
        const budgets = parseBudgetList(o.budgets).map((b) => {
          const budget = budgetOf(b);
          if (!budget)
            throw new KvoptError(`--budgets: '${b}' is not a budget (expected tokens per KV head, an integer, or a fraction of the context below 1)`);
          return budget;
        });
        const model = await openModel(o.model, { tokenizer: o.tokenizer });
        const r = await benchEngine(model, {
          context: o.context,
          answer: o.answer,
          methods,
          budgets,
          candidates: o.candidates,
          chunkSize: o.chunkSize,
          repeats: o.repeats,
          threads: o.threads,
          skipGemm: !o.gemm,
        });
        process.stdout.write((o.json ? JSON.stringify(r, null, 2) : formatEngineBench(r)) + '\n');
      },
    );
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
    .option(
      '--device-bandwidth-gbs <n>',
      "the GPU's memory bandwidth in GB/s (e.g. 4800 for an H200) for the decode bound",
      parseIntFlag('--device-bandwidth-gbs', 1),
    )
    .option('--build-only', 'only build the graph (weights streamed into it): build time, data size, peak RSS')
    .option('--bandwidth-mib <n>', 'array size of the memory-bandwidth measurement', parseIntFlag('--bandwidth-mib', 1), 256)
    .option('--self-extend <G,W>', 'benchmark the SelfExtend graph (group size G, neighbour window W)', (v: string) => parseSelfExtendFlag(v))
    .addHelpText(
      'after',
      `
Examples:
  kvopt bench runtime --model models/tiny --self-extend 8,128 --prompt-tokens 2048 --decode-tokens 16 --json
  kvopt bench runtime --model ../shared/data/stories260K/stories260K.bin --tokenizer ../shared/data/stories260K/tok512.bin
  kvopt bench runtime --model random:100m --prompt-tokens 256 --decode-tokens 16 --batch 10 --json
  kvopt bench runtime --model random:1b --dtype fp16 --build-only          # streamed fp16 build: peak RSS vs fp32 size
  kvopt bench runtime --model random:8b --dtype fp16 --device webgpu! --prompt-tokens 8192 --json   # says first if it cannot fit`,
    )
    .action(
      async (o: {
        model: string;
        tokenizer?: string;
        json?: boolean;
        batch: number;
        promptTokens: number;
        decodeTokens: number;
        device: DeviceRequest;
        dtype: Precision;
        threads?: number;
        bandwidthMib: number;
        buildOnly?: boolean;
        deviceBandwidthGbs?: number;
        selfExtend?: SelfExtendOptions;
      }) => {
        const model = withSelfExtend(await openModel(o.model, { tokenizer: o.tokenizer }), o.selfExtend, '--self-extend');
        if (o.buildOnly) {
          const b = benchBuild(model, o.dtype);
          const gib = (x: number) => `${(x / 2 ** 30).toFixed(2)} GiB`;
          process.stdout.write(
            (o.json
              ? JSON.stringify(b, null, 2)
              : `graph build  ${b.model} (${(b.parameters / 1e9).toFixed(3)}B parameters, ${b.dtype}): ${(b.graphBuildColdMs / 1000).toFixed(1)} s, ` +
                `data ${gib(b.graphDataBytes)}, peak RSS ${gib(b.peakRssBytes)} (fp32 weights would be ${gib(b.fp32WeightBytes)}; load ${b.loadAverage.toFixed(1)})`) +
              '\n',
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
      },
    );
}
