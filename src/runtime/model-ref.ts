/** Resolves a --model argument: `random:<preset>[:seed]` (seeded random Llama) or a model path (src/model/load.ts). */
import type { LoadedModel } from '../model/spec.ts';
import { loadModel } from '../model/load.ts';
import { randomModelFromRef } from './in-memory-model.ts';

export async function openModel(ref: string, opts: { tokenizer?: string } = {}): Promise<LoadedModel> {
  if (ref.startsWith('random:')) return randomModelFromRef(ref);
  return loadModel(ref, { tokenizer: opts.tokenizer });
}
