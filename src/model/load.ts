/**
 * loadModel: one entry point for every model source.
 *  - a directory → Hugging Face folder (config.json + safetensors, tokenizer.json when present);
 *  - a file ending in .gguf or starting with the GGUF magic → GGUF;
 *  - any other file → llama2.c checkpoint, with the tokenizer from opts.tokenizer or, failing that, a
 *    `tokenizer.bin` or `tok*.bin` beside it.
 * `opts.tokenizer` overrides the source's tokenizer: a directory or *.json → Hugging Face tokenizer, else a
 * llama2.c tokenizer .bin.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { KvoptError } from '../util/errors.ts';
import { hasGgufMagic, loadGguf } from './gguf.ts';
import { weightsHash } from './hash.ts';
import { loadHfFolder } from './hf.ts';
import { loadLlama2cCheckpoint } from './llama2c.ts';
import type { LoadedModel, ModelSpec, ModelWeights, TextTokenizer } from './spec.ts';
import { loadHfTokenizer } from './tokenizer-hf.ts';
import { loadLlama2cTokenizer } from './tokenizer-llama2c.ts';

export async function loadModel(path: string, opts: { tokenizer?: string } = {}): Promise<LoadedModel> {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new KvoptError(`${path}: model not found (expected a Hugging Face folder, a .gguf file or a llama2.c .bin)`);
  let spec: ModelSpec;
  let weights: ModelWeights;
  let tokenizer: TextTokenizer | null = null;
  let kind: LoadedModel['source']['kind'];
  if (statSync(abs).isDirectory()) {
    kind = 'hf';
    ({ spec, weights } = loadHfFolder(abs));
    if (!opts.tokenizer && existsSync(join(abs, 'tokenizer.json'))) {
      tokenizer = loadHfTokenizer(abs, { bosId: spec.bosTokenId, eosId: spec.eosTokenId });
    }
  } else if (abs.endsWith('.gguf') || hasGgufMagic(abs)) {
    kind = 'gguf';
    ({ spec, weights, tokenizer } = await loadGguf(abs));
  } else {
    kind = 'llama2c';
    ({ spec, weights } = loadLlama2cCheckpoint(abs));
    if (!opts.tokenizer) tokenizer = loadLlama2cTokenizer(findLlama2cTokenizer(abs), spec.vocabSize);
  }
  if (opts.tokenizer) tokenizer = loadTokenizerFile(opts.tokenizer, spec.vocabSize);
  if (tokenizer && tokenizer.vocabSize > spec.vocabSize) {
    throw new KvoptError(`${opts.tokenizer ?? path}: tokenizer has ${tokenizer.vocabSize} tokens but the model's vocab is ${spec.vocabSize}`);
  }
  return { spec, weights, tokenizer, source: { kind, path: abs }, weightsHash: weightsHash(spec, weights) };
}

/** A tokenizer given explicitly: a folder or .json → Hugging Face, else llama2.c .bin. */
export function loadTokenizerFile(path: string, vocabSize?: number): TextTokenizer {
  if (!existsSync(path)) throw new KvoptError(`${path}: tokenizer not found`);
  if (statSync(path).isDirectory() || path.endsWith('.json')) return loadHfTokenizer(path);
  return loadLlama2cTokenizer(path, vocabSize);
}

/** tokenizer.bin, else the single tok*.bin, beside a llama2.c checkpoint. */
function findLlama2cTokenizer(checkpoint: string): string {
  const dir = dirname(checkpoint);
  const tried = join(dir, 'tokenizer.bin');
  if (existsSync(tried)) return tried;
  const toks = readdirSync(dir)
    .filter((f) => /^tok.*\.bin$/.test(f) && join(dir, f) !== checkpoint)
    .sort();
  if (toks.length === 1) return join(dir, toks[0]);
  if (toks.length > 1) {
    throw new KvoptError(`${checkpoint}: several tokenizers beside the checkpoint (${toks.join(', ')}); pass one with --tokenizer`);
  }
  throw new KvoptError(`${checkpoint}: llama2.c checkpoint needs a tokenizer: tried ${tried} and tok*.bin in ${dir} (none found); pass --tokenizer PATH`);
}
