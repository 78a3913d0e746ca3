/**
 * LongBench classification_score (trec, lsht).
 * 1. Collect every class name that occurs as a substring of the prediction (in all_classes order).
 * 2. Drop collected names that are substrings of the gold label but not equal to it. The official code
 *    removes from the list while iterating over it, so the element right after a removed one is never
 *    examined; reproduced on purpose (it changes scores when two such names are adjacent).
 * 3. Score = 1/len(matches) if the gold label is among them, else 0.
 */
export function classificationScore(prediction: string, gold: string, allClasses: readonly string[]): number {
  const matches: string[] = [];
  for (const c of allClasses) if (prediction.includes(c)) matches.push(c);
  // Python `for term in list: list.remove(term)` walks by index and skips the element after a removal.
  for (let i = 0; i < matches.length; i++) {
    const term = matches[i];
    if (gold.includes(term) && term !== gold) matches.splice(matches.indexOf(term), 1);
  }
  return matches.includes(gold) ? 1 / matches.length : 0;
}
