/**
 * weightsHash: sha256 over the JSON of the spec and every weight's bytes in a fixed order, fed to the hash
 * tensor by tensor (no concatenation of the whole model).
 */
import { createHash } from 'node:crypto';
import type { ModelSpec, ModelWeights } from './spec.ts';

export function weightsHash(spec: ModelSpec, w: ModelWeights): string {
  const h = createHash('sha256');
  // Fixed key order so the hash does not depend on how the spec object was built.
  const keys = Object.keys(spec).sort() as (keyof ModelSpec)[];
  h.update(JSON.stringify(keys.map((k) => [k, spec[k]])));
  const add = (name: string, t: Float32Array | null) => {
    h.update(`|${name}:${t ? t.length : 'null'}|`);
    if (t) h.update(new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
  };
  add('embed', w.embed);
  w.layers.forEach((l, i) => {
    add(`${i}.attnNorm`, l.attnNorm);
    add(`${i}.wq`, l.wq);
    add(`${i}.wk`, l.wk);
    add(`${i}.wv`, l.wv);
    add(`${i}.bq`, l.bq);
    add(`${i}.bk`, l.bk);
    add(`${i}.bv`, l.bv);
    add(`${i}.wo`, l.wo);
    add(`${i}.ffnNorm`, l.ffnNorm);
    add(`${i}.wGate`, l.wGate);
    add(`${i}.wUp`, l.wUp);
    add(`${i}.wDown`, l.wDown);
  });
  add('finalNorm', w.finalNorm);
  add('lmHead', w.lmHead);
  return h.digest('hex');
}
