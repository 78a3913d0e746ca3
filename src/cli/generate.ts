/** `kvopt generate`: greedy or sampled continuation of a prompt; prints only the generated text. */
import type { Command } from 'commander';
import { KvoptError } from '../util/errors.ts';
import { parseSelfExtendFlag, selfExtendGraphOptions, withSelfExtend, type SelfExtendOptions } from '../model/self-extend.ts';
import { openModel } from '../runtime/model-ref.ts';
import { ModelRuntime } from '../runtime/runtime.ts';
import type { Device } from '../runtime/types.ts';

export function parseIntFlag(flag: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new KvoptError(`${flag} must be an integer >= ${min}, got '${v}'`);
    return n;
  };
}

export function parseDevice(v: string): Device {
  if (v !== 'cpu' && v !== 'cuda' && v !== 'webgpu') throw new KvoptError(`--device must be cpu, cuda or webgpu, got '${v}'`);
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
    .option('--temperature <t>', '0 = greedy; > 0 samples from softmax(logits / t)', (v: string) => {
      const t = Number(v);
      if (!Number.isFinite(t) || t < 0) throw new KvoptError(`--temperature must be a number >= 0, got '${v}'`);
      return t;
    }, 0)
    .option('--seed <s>', 'sampling seed', parseIntFlag('--seed', 0), 0)
    .option('--device <device>', 'cpu (default), cuda or webgpu (falls back to cpu with a message)', parseDevice, 'cpu' as Device)
    .option('--threads <n>', 'intra-op threads (default: all cores)', parseIntFlag('--threads', 1))
    .option('--self-extend <G,W>', 'SelfExtend: group size G, neighbour window W (context becomes (L - W)*G + W)', (v: string) => parseSelfExtendFlag(v))
    .addHelpText(
      'after',
      `
Examples:
  kvopt generate --model ../shared/data/stories260K/stories260K.bin --tokenizer ../shared/data/stories260K/tok512.bin --prompt "Once upon a time"
  kvopt generate --model models/tiny --self-extend 8,128 --prompt "$(head -c 6000 long.txt)" --max-new-tokens 3
  kvopt generate --model ./Llama-3.2-1B --prompt "The capital of France is" --max-new-tokens 20
  kvopt generate --model model.gguf --temperature 0.8 --seed 3 --device cuda`,
    )
    .action(async (o: { model: string; tokenizer?: string; prompt: string; maxNewTokens: number; temperature: number; seed: number; device: Device; threads?: number; selfExtend?: SelfExtendOptions }) => {
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
      const rt = await ModelRuntime.create(model, { device: o.device, intraOpNumThreads: o.threads, graphOptions: selfExtendGraphOptions(o.selfExtend) });
      const res = await rt.generate(null, prompt, {
        maxNewTokens: Math.min(o.maxNewTokens, ctx - prompt.length),
        temperature: o.temperature,
        seed: o.seed,
        stopTokens: tok.eosId !== null ? [tok.eosId] : [],
      });
      await rt.release();
      process.stdout.write(tok.decode(res.tokens) + '\n');
    });
}
