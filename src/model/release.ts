/**
 * Dropping the host copy of weights once an inference session holds its own. A pool worker otherwise keeps every
 * weight twice (its JS arrays and onnxruntime's initialisers), so each extra worker cost ~2.5× the weights; after the
 * release it costs the session plus what is kept. A released weight throws on access (a bug surfaces, never a
 * zero-filled matrix).
 */
import type { LayerWeights, ModelWeights } from './spec.ts';

/** Properties of `obj` replaced by getters that throw, naming the weight. */
function releaseFields(obj: object, names: readonly string[], label: (name: string) => string): number {
  let bytes = 0;
  for (const name of names) {
    const v = (obj as Record<string, unknown>)[name];
    if (v instanceof Float32Array) bytes += v.byteLength;
    Object.defineProperty(obj, name, {
      get() {
        throw new Error(`internal: host weight ${label(name)} was released once the inference session was built`);
      },
    });
  }
  return bytes;
}

/**
 * Releases every host weight except the per-layer ones in `keep` (copied out of any larger buffer they view, so
 * that buffer can be freed). Returns the bytes released.
 */
export function releaseHostWeights(w: ModelWeights, keep: ReadonlySet<keyof LayerWeights>): number {
  let bytes = releaseFields(w, ['embed', 'finalNorm', 'lmHead'], (n) => n);
  w.layers.forEach((layer, l) => {
    const names = Object.keys(layer) as (keyof LayerWeights)[];
    for (const name of names) {
      const v = layer[name];
      if (keep.has(name) && v && v.byteLength !== v.buffer.byteLength) (layer as unknown as Record<string, Float32Array>)[name] = v.slice();
    }
    bytes += releaseFields(
      layer,
      names.filter((n) => !keep.has(n)),
      (n) => `layers.${l}.${n}`,
    );
  });
  return bytes;
}
