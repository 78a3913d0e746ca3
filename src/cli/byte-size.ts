/** Parses a size flag: bytes, or a number with K, M, G or T (binary units: 1G = 2^30 bytes), e.g. 500M, 1.5G. */
import { KvoptError } from '../util/errors.ts';

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

export function parseByteSize(flag: string) {
  return (text: string): number => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(text);
    const bytes = m ? Math.floor(Number(m[1]) * UNITS[m[2].toUpperCase()]) : NaN;
    if (!(bytes > 0)) throw new KvoptError(`${flag}: '${text}' is not a size (expected bytes or a number with K, M, G or T, e.g. 500M or 20G)`);
    return bytes;
  };
}
