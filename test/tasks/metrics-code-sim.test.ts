import test from 'node:test';
import assert from 'node:assert/strict';
import { sequenceMatcherRatio } from '../../src/tasks/metrics/sequence-matcher.ts';
import { codeLine, codeSimScore, fuzzRatio } from '../../src/tasks/metrics/code-sim.ts';

// Expected ratios from CPython 3.11 difflib.SequenceMatcher(None, a, b).ratio(), run once by hand.
test('SequenceMatcher ratio equals difflib on short strings', () => {
  assert.equal(sequenceMatcherRatio('abcd', 'bcde'), 0.75);
  assert.equal(sequenceMatcherRatio('return self.x', 'return self.y + 1'), 0.8);
  assert.equal(sequenceMatcherRatio('    for i in range(n):', 'for j in range(len(n)):'), 0.7555555555555555);
  assert.equal(sequenceMatcherRatio('', ''), 1);
});

test('SequenceMatcher autojunk: popular elements of b (len >= 200) are left out of matching', () => {
  const a = 'x = foo(bar, baz) '.repeat(3);
  const b = 'x = foo(bar, baz) + qux '.repeat(10); // 240 chars
  assert.equal(sequenceMatcherRatio(a, b), 0.12244897959183673); // difflib; 0.367... without autojunk
  const s1 =
    'bb caac bbcccbbbcaaba a cccccb aabcb c cc cb a b ab  aacca acba ccaaac  ba aaaabc  ba   bcccca cb c   ac acba c   caaa  c  b b    caab b b bcaa  bcba ';
  const s2 =
    'bdc baadb db  ad dbc d c c cdcacbbacddcdbacd d bad abaadbcdaacabd baddcada b dca bbadabb bacdca b dddcac aabaaaacaaddc b a ccd   b cabdacadba cddcadca c cccabbd dacbcba  d acadca ddadacbbcadadacba aaac d aadddbadadad dbabbbcdc  dc dcacdbcbcdddcbcbbaccdcdbb bbd';
  // every character of s2 is popular, so only the extension of the empty match at (0, 0) matches: 2·1/410
  assert.equal(sequenceMatcherRatio(s1, s2), 0.004878048780487805);
});

test('fuzz.ratio: equality before emptiness, Python half-even rounding', () => {
  assert.equal(fuzzRatio('', ''), 100);
  assert.equal(fuzzRatio('x', ''), 0);
  assert.equal(fuzzRatio('    for i in range(n):', 'for j in range(len(n)):'), 76);
  assert.equal(fuzzRatio('a', 'abcdefghijklmno'), 12); // 100·2/16 = 12.5 → 12
  // python-Levenshtein backend: 2·LCS/(|a|+|b|) = 2·3/8
  assert.equal(fuzzRatio('abcd', 'bcde', 'levenshtein'), 75);
});

test('code_sim takes the first line without a backtick, "#" or "//"', () => {
  assert.equal(codeLine('\n\n```python\n# comment\n// c\nreturn x\n'), 'return x');
  assert.equal(codeLine('```'), '');
  assert.equal(codeSimScore('```\nreturn self.x\n', 'return self.y + 1'), 0.8);
  assert.equal(codeSimScore('# only comments', 'x'), 0); // empty candidate vs non-empty gold
});
