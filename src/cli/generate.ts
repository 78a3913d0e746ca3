/** `kvopt generate`: greedy or sampled continuation of a prompt; prints only the generated text. */
import type { Command } from 'commander';
import { KvoptError } from '../util/errors.ts';
import { parseSelfExtendFlag, withSelfExtend, type SelfExtendOptions } from '../model/self-extend.ts';
import { openModel } from '../runtime/model-ref.ts';
import { ModelRuntime } from '../runtime/runtime.ts';
import { parseDeviceRequest, type DeviceRequest } from '../runtime/device.ts';
import { graphOptionsFor, type Precision } from '../graph/llama.ts';

export function parseIntFlag(flag: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new KvoptError(`${flag} must be an integer >= ${min}, got '${v}'`);
    return n;
  };
}

/** `--device cpu|cuda|webgpu`, with a trailing ! to make an unavailable GPU an error. */
export function parseDevice(v: string): DeviceRequest {
  return parseDeviceRequest(v, '--device');
}

/** `--dtype fp32|fp16`. */
export function parseDtype(v: string): Precision {
  if (v !== 'fp32' && v !== 'fp16') throw new KvoptError(`--dtype: expected fp32 or fp16, got '${v}'`);
  return v;
}

export function register(program: Command): void {
  program
    .command('generate')
    .description('generate a continuation of --prompt and print only the generated text')
    .requiredOption('--model <path>', 'model: HF folder, .gguf file, llama2.c .bin, or random:<preset>')
    .option('--tokenizer <path>', 'tokenizer file when the model has none beside it (llama2.c tokenizer .bin, tokenizer.json)')
    .option('--prompt <text>', 'prompt text; empty starts from BOS', '')
    .option('--max-new-tokens <n>', 'tokens to generate at most', parseIntFlag('--max-new-tokens', 0), 128)
    .option(
      '--temperature <t>',
      '0 = greedy; > 0 samples from softmax(logits / t)',
      (v: string) => {
        const t = Number(v);
        if (!Number.isFinite(t) || t < 0) throw new KvoptError(`--temperature must be a number >= 0, got '${v}'`);
        return t;
      },
      0,
    )
    .option('--seed <s>', 'sampling seed', parseIntFlag('--seed', 0), 0)
    .option('--device <device>', 'cpu (default), cuda or webgpu (falls back to cpu with a message; webgpu! makes that an error)', parseDevice, {
      device: 'cpu',
      required: false,
    } as DeviceRequest)
    .option('--dtype <t>', 'fp32 (default) or fp16: graph weights and KV cache precision', parseDtype, 'fp32' as Precision)
    .option('--threads <n>', 'intra-op threads (default: all cores)', parseIntFlag('--threads', 1))
    .option('--self-extend <G,W>', 'SelfExtend: group size G, neighbour window W (context becomes (L - W)*G + W)', (v: string) => parseSelfExtendFlag(v))
    .addHelpText(
      'after',
      `
Examples:
  kvopt generate --model ../shared/data/stories260K/stories260K.bin --tokenizer ../shared/data/stories260K/tok512.bin --prompt "Once upon a time"
  kvopt generate --model models/tiny --self-extend 8,128 --prompt "$(head -c 6000 long.txt)" --max-new-tokens 3
  kvopt generate --model ./Llama-3.2-1B --prompt "The capital of France is" --max-new-tokens 20
  kvopt generate --model model.gguf --temperature 0.8 --seed 3 --device cuda
  kvopt generate --model ./Llama-3.2-1B --prompt "Hello" --device webgpu! --dtype fp16`,
    )
    .action(
      async (o: {
        model: string;
        tokenizer?: string;
        prompt: string;
        maxNewTokens: number;
        temperature: number;
        seed: number;
        device: DeviceRequest;
        dtype: Precision;
        threads?: number;
        selfExtend?: SelfExtendOptions;
      }) => {
        const model = withSelfExtend(await openModel(o.model, { tokenizer: o.tokenizer }), o.selfExtend, '--self-extend');
        const tok = model.tokenizer;
        if (!tok) throw new KvoptError(`--model ${o.model} has no tokenizer; pass --tokenizer PATH`);
        let prompt = tok.encode(o.prompt, { addBos: true });
        if (prompt.length === 0) {
          if (tok.bosId === null) throw new KvoptError(`--prompt is empty and the tokenizer of ${o.model} has no BOS token to start from`);
          prompt = [tok.bosId];
        }
        const ctx = model.spec.maxPositionEmbeddings;
        if (prompt.length > ctx) throw new KvoptError(`--prompt has ${prompt.length} tokens, longer than the model context of ${ctx}`);
        const rt = await ModelRuntime.create(model, {
          device: o.device.device,
          requireDevice: o.device.required,
          intraOpNumThreads: o.threads,
          graphOptions: graphOptionsFor(o.dtype, o.selfExtend),
        });
        const res = await rt.generate(null, prompt, {
          maxNewTokens: Math.min(o.maxNewTokens, ctx - prompt.length),
          temperature: o.temperature,
          seed: o.seed,
          stopTokens: tok.eosId !== null ? [tok.eosId] : [],
        });
        await rt.release();
        process.stdout.write(tok.decode(res.tokens) + '\n');
      },
    );
}
