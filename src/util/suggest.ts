/** "Did you mean" suggestions for misspelt keys and enum values. */

/** Levenshtein edit distance (insert, delete, substitute; each costs 1). */
export function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]; // d[i-1][j-1]
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]; // d[i-1][j]
      prev[j] = Math.min(up + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length];
}

/**
 * The candidate closest to `word`, when it is close enough to be a likely typo: the only candidate that
 * starts with it (3+ characters), else at most a third of the longer word's length (min 1) edits;
 * case, `-` and `_` ignored. null when nothing is close.
 */
export function closest(word: string, candidates: readonly string[]): string | null {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  const w = norm(word);
  // A shortened spelling (`cma` for `cmaes`) is a likely intent even when the edit distance is large.
  if (w.length >= 3) {
    const prefixed = candidates.filter((c) => norm(c).startsWith(w));
    if (prefixed.length === 1) return prefixed[0];
  }
  let best: string | null = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, norm(c));
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best === null) return null;
  const limit = Math.max(1, Math.floor(Math.max(w.length, norm(best).length) / 3));
  return bestD <= limit ? best : null;
}

/** `; did you mean "x"?` or '' when nothing is close. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const c = closest(word, candidates);
  return c === null ? '' : `; did you mean "${c}"?`;
}
