/**
 * Seeded random numbers for the search: xoshiro128** (Blackman & Vigna) for uniforms, Box-Muller with a
 * cached spare for normals. The whole state (four 32-bit words and the spare) is JSON-serialisable, so a search
 * restored from the store draws exactly the numbers an uninterrupted one would have drawn.
 */

export interface RngState {
  /** xoshiro128** words, each an unsigned 32-bit integer. */
  s: [number, number, number, number];
  /** The second normal of the last Box-Muller pair, not yet used (null when none is cached). */
  spare: number | null;
}

const TWO_PI = 2 * Math.PI;

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** SplitMix32 step: spreads an integer seed over the 128-bit state so nearby seeds give unrelated streams. */
function splitmix32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x9e3779b9) >>> 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** Mixes two integers into one 32-bit seed (for derived streams, e.g. one per EvolKV group). */
export function deriveSeed(seed: number, stream: number): number {
  const next = splitmix32((seed >>> 0) ^ Math.imul(stream + 1, 0x27d4eb2d));
  next();
  return next();
}

export class Rng {
  private s: Uint32Array; // [4]
  private spare: number | null;

  private constructor(s: ArrayLike<number>, spare: number | null) {
    this.s = Uint32Array.from(s);
    this.spare = spare;
  }

  /** A generator from an integer seed (any JS integer; only its low 32 bits matter). */
  static fromSeed(seed: number): Rng {
    if (!Number.isInteger(seed)) throw new Error(`rng seed must be an integer, got ${seed}`);
    const next = splitmix32(seed);
    const s = [next(), next(), next(), next()];
    if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1; // the all-zero state is a fixed point
    return new Rng(s, null);
  }

  static fromState(state: RngState): Rng {
    if (!Array.isArray(state?.s) || state.s.length !== 4 || !state.s.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32)) {
      throw new Error('rng state: s must be four unsigned 32-bit integers');
    }
    if (state.spare !== null && typeof state.spare !== 'number') throw new Error('rng state: spare must be a number or null');
    return new Rng(state.s, state.spare);
  }

  state(): RngState {
    return { s: [this.s[0], this.s[1], this.s[2], this.s[3]], spare: this.spare };
  }

  /** Next raw unsigned 32-bit output of xoshiro128**. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits (two 32-bit outputs). */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal by Box-Muller; every second call returns the cached spare. */
  normal(): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return z;
    }
    const u1 = 1 - this.uniform(); // (0, 1]: log is finite
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(TWO_PI * u2);
    return r * Math.cos(TWO_PI * u2);
  }
}
