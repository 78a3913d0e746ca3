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

/** The reference distribution p over n positions in the parts the scoring graph reads (see graph/scoring.ts). */
export interface ReferenceDistribution {
  /** [n, V] p = exp(log p). */
  probs: Float64Array;
  /** [n] Σ_v p_v log p_v. */
  negEntropy: Float64Array;
  /** [n] Σ_v p_v (1 up to rounding; kept so the KL equals Σ_v p_v (log p_v − log q_v) to rounding). */
  mass: Float64Array;
}

/** The parts of p from its log-probabilities [n, V], once per sample. */
export function referenceDistribution(logProbs: Float64Array, n: number, V: number): ReferenceDistribution {
  const probs = new Float64Array(n * V);
  const negEntropy = new Float64Array(n);
  const mass = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    let h = 0;
    let m = 0;
    for (let v = t * V; v < (t + 1) * V; v++) {
      const pv = Math.exp(logProbs[v]);
      probs[v] = pv;
      h += pv * logProbs[v];
      m += pv;
    }
    negEntropy[t] = h;
    mass[t] = m;
  }
  return { probs, negEntropy, mass };
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

  /**
   * rows [B, n − k, V] predict targets[k..n−1]; `first` [V] (k = 1) predicts targets[0] for every candidate, or is
   * null (k = 0); ref over the n positions.
   */
  async score(rows: Float32Array, first: Float32Array | null, B: number, targets: readonly number[], ref: ReferenceDistribution): Promise<ContinuationScores> {
    const V = this.vocabSize;
    const n = targets.length;
    const k = first ? 1 : 0;
    if (rows.length !== B * (n - k) * V || ref.probs.length !== n * V || (first && first.length !== V)) {
      throw new Error('internal: continuation scoring shapes differ');
    }
    const r = await this.session.run({
      logits: new ort.Tensor('float32', rows, [B, n - k, V]),
      first_logits: new ort.Tensor('float32', first ?? new Float32Array(0), [k, V]),
      targets: new ort.Tensor(
        'int64',
        BigInt64Array.from(targets, (t) => BigInt(t)),
        [n],
      ),
      ref_probs: new ort.Tensor('float64', ref.probs, [n, V]),
      ref_neg_entropy: new ort.Tensor('float64', ref.negEntropy, [n]),
      ref_mass: new ort.Tensor('float64', ref.mass, [n]),
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
