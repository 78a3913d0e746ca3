/**
 * float32 → float16 weight conversion for fp16 graphs, with the overflow check the issue asks for: a weight
 * holding a finite value beyond the float16 range (±65504) is reported by tensor name and the build stops
 * (KvoptError), rather than stored as ±Inf or silently kept in float32. bf16 checkpoints reach this point as
 * float32 (src/model/half.ts decodes them exactly), so this one check covers bf16 → fp16 as well.
 */
import { f32ToF16 } from '../model/half.ts';
import { KvoptError } from '../util/errors.ts';

/** Largest finite float16 value; values rounding above it overflow. */
export const F16_MAX = 65504;
/** Values at or above this magnitude round to Inf in float16 (65504 + half an ulp of 32). */
const F16_OVERFLOW = 65520;

/** `x` as float16 bits (round to nearest even); throws naming `name` when a finite value overflows. */
export function toF16Checked(x: Float32Array, name: string): Uint16Array {
  const out = new Uint16Array(x.length);
  let worst = 0;
  let over = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    const a = Math.abs(v);
    if (a >= F16_OVERFLOW && a !== Infinity) {
      over++;
      if (a > worst) worst = a;
    }
    out[i] = f32ToF16(v);
  }
  if (over > 0) {
    throw new KvoptError(
      `--dtype fp16: weight ${name} has ${over} value(s) beyond the float16 range ±${F16_MAX} (largest |x| = ${worst.toExponential(3)}); use --dtype fp32 for this model`,
    );
  }
  return out;
}

/** float32 values → float16 bits (no range check: activations and caches, where ±Inf is the honest result). */
export function f32ArrayToF16(x: Float32Array): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f32ToF16(x[i]);
  return out;
}
