// Child process of real-sizes.test.ts: builds the fp16 graph of a lazily generated random Llama and prints
// benchBuild's JSON (peak RSS is this process's own).
import { tinySpec } from '../../src/model/random.ts';
import { lazyRandomWeights, lazyWeightsHash } from '../../src/model/random-lazy.ts';
import { benchBuild } from '../../src/runtime/bench.ts';

const spec = tinySpec(JSON.parse(process.argv[2]));
const model = {
  spec,
  weights: lazyRandomWeights(spec, 1),
  tokenizer: null,
  source: { kind: 'random' as const, path: 'random:test-lazy' },
  weightsHash: lazyWeightsHash(spec, 1),
  streamed: true,
};
process.stdout.write(JSON.stringify(benchBuild(model, 'fp16')) + '\n');
