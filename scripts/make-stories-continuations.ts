/**
 * In-domain text for the continuation task on stories260K: the model's own samples (temperature 1, fixed
 * seeds), so that "what the full cache would say next" is text the model knows. Writes one {"text"} JSON
 * per line. The model stays in ../shared/data; only its samples (made by this project) are written here.
 *
 *   node --import tsx scripts/make-stories-continuations.ts [modelDir] [out] [count] [tokens]
 *   defaults: $KVOPT_SHARED_DATA/stories260K  datasets/stories260k-samples.jsonl  24  480
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadModel } from '../src/model/load.ts';
import { ModelRuntime } from '../src/runtime/runtime.ts';

const root = resolve(import.meta.dirname, '..');
const shared = process.env.KVOPT_SHARED_DATA ?? resolve(root, '../shared/data');
const dir = process.argv[2] ?? join(shared, 'stories260K');
const out = process.argv[3] ?? join(root, 'datasets/stories260k-samples.jsonl');
const count = Number(process.argv[4] ?? 24);
const tokens = Number(process.argv[5] ?? 480);

const model = await loadModel(join(dir, 'stories260K.bin'), { tokenizer: join(dir, 'tok512.bin') });
const tok = model.tokenizer!;
const rt = await ModelRuntime.create(model, { intraOpNumThreads: 1 });
const lines: string[] = [];
for (let seed = 1; seed <= count; seed++) {
  // No stop token: past an end of story the model starts the next one, giving long in-domain documents.
  const r = await rt.generate(null, [tok.bosId!], { maxNewTokens: tokens, temperature: 1, seed, stopTokens: [] });
  const text = tok.decode(r.tokens).replace(/\s+\n/g, '\n').trim();
  lines.push(JSON.stringify({ text, seed }));
  process.stderr.write(`sample ${seed}/${count}: ${r.tokens.length} tokens\n`);
}
await rt.release();
writeFileSync(out, lines.join('\n') + '\n');
process.stderr.write(`wrote ${out}\n`);
