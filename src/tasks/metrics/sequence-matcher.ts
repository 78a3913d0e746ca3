/**
 * Python difflib.SequenceMatcher(None, a, b) ratio, reproduced: no junk function, autojunk on.
 * - b2j: element → ascending positions in b. When len(b) >= 200, "popular" elements (more than
 *   floor(len(b)/100) + 1 occurrences) are removed from b2j (autojunk).
 * - find_longest_match(alo, ahi, blo, bhi): the longest block found through b2j (earliest i, then earliest
 *   j, on ties), then extended on both ends by equal elements that are not junk (popular ones included:
 *   they are not junk, only absent from b2j).
 * - get_matching_blocks: recursive split left and right of each longest match.
 * - ratio = 2·M / (len(a) + len(b)), M = matched elements; 1.0 when both are empty.
 * Strings are compared by Unicode code points, as Python str indexing does.
 */

function longestMatch(
  a: readonly string[],
  b: readonly string[],
  b2j: Map<string, number[]>,
  alo: number,
  ahi: number,
  blo: number,
  bhi: number,
): [number, number, number] {
  let besti = alo;
  let bestj = blo;
  let bestsize = 0;
  let j2len = new Map<number, number>();
  for (let i = alo; i < ahi; i++) {
    const newj2len = new Map<number, number>();
    const js = b2j.get(a[i]);
    if (js) {
      for (const j of js) {
        if (j < blo) continue;
        if (j >= bhi) break;
        const k = (j2len.get(j - 1) ?? 0) + 1;
        newj2len.set(j, k);
        if (k > bestsize) {
          besti = i - k + 1;
          bestj = j - k + 1;
          bestsize = k;
        }
      }
    }
    j2len = newj2len;
  }
  // No junk function, so every element is "not junk": extend by equal neighbours (popular ones included).
  while (besti > alo && bestj > blo && a[besti - 1] === b[bestj - 1]) {
    besti--;
    bestj--;
    bestsize++;
  }
  while (besti + bestsize < ahi && bestj + bestsize < bhi && a[besti + bestsize] === b[bestj + bestsize]) bestsize++;
  return [besti, bestj, bestsize];
}

/** Total size of difflib's matching blocks of a and b. */
export function matchingElements(a: readonly string[], b: readonly string[], autojunk = true): number {
  const b2j = new Map<string, number[]>();
  b.forEach((el, i) => {
    const list = b2j.get(el);
    if (list) list.push(i);
    else b2j.set(el, [i]);
  });
  const n = b.length;
  if (autojunk && n >= 200) {
    const ntest = Math.floor(n / 100) + 1;
    for (const [el, idxs] of [...b2j]) if (idxs.length > ntest) b2j.delete(el);
  }
  let matched = 0;
  const queue: [number, number, number, number][] = [[0, a.length, 0, n]];
  while (queue.length > 0) {
    const [alo, ahi, blo, bhi] = queue.pop()!;
    const [i, j, k] = longestMatch(a, b, b2j, alo, ahi, blo, bhi);
    if (k > 0) {
      matched += k;
      if (alo < i && blo < j) queue.push([alo, i, blo, j]);
      if (i + k < ahi && j + k < bhi) queue.push([i + k, ahi, j + k, bhi]);
    }
  }
  return matched;
}

/** difflib.SequenceMatcher(None, a, b).ratio() for two strings. */
export function sequenceMatcherRatio(a: string, b: string): number {
  const ca = Array.from(a);
  const cb = Array.from(b);
  const total = ca.length + cb.length;
  if (total === 0) return 1;
  return (2.0 * matchingElements(ca, cb)) / total;
}
