/** Runs the continuation scoring graph (src/graph/scoring.ts) over B candidates' logits in one call. */
import * as ort from 'onnxruntime-node';
import { buildScoringGraph } from '../graph/scoring.ts';

export interface ContinuationScores {
  /** [B, n] log p(target_t | candidate b), float64. */
  targetLogProb: Float64Array;
  /** [B, n] KL(p_ref ‖ q_b) per position, nats. */
  kl: Float64Array;
  /** [B, n] argmax of each logits row (first maximum). */
  argmax: Int32Array;
}

export class ContinuationScorer {
  private constructor(
    private readonly vocabSize: number,
    private readonly session: ort.InferenceSession,
  ) {}

  static async create(vocabSize: number, intraOpNumThreads?: number): Promise<ContinuationScorer> {
    const opts: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      executionProviders: ['cpu'],
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    };
    if (intraOpNumThreads) opts.intraOpNumThreads = intraOpNumThreads;
    return new ContinuationScorer(vocabSize, await ort.InferenceSession.create(buildScoringGraph(vocabSize), opts));
  }

  /** logits [B, n, V] (row t predicts targets[t]); refLogProbs [n, V]. */
  async score(logits: Float32Array, B: number, targets: readonly number[], refLogProbs: Float64Array): Promise<ContinuationScores> {
    const V = this.vocabSize;
    const n = targets.length;
    if (logits.length !== B * n * V || refLogProbs.length !== n * V) throw new Error('internal: continuation scoring shapes differ');
    const r = await this.session.run({
      logits: new ort.Tensor('float32', logits, [B, n, V]),
      targets: new ort.Tensor(
        'int64',
        BigInt64Array.from(targets, (t) => BigInt(t)),
        [n],
      ),
      ref_logprobs: new ort.Tensor('float64', refLogProbs, [n, V]),
    });
    return {
      targetLogProb: r.target_logprob.data as Float64Array,
      kl: r.kl.data as Float64Array,
      argmax: Int32Array.from(r.argmax.data as BigInt64Array, (x) => Number(x)),
    };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
