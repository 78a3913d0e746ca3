/**
 * Makes the project's synthetic retrieval sets (seeded, deterministic), sized for a 512-token model such
 * as stories260K (about 1.6 characters per token there; every context stays under about 400 tokens):
 *   datasets/passkey.jsonl: filler text ("The grass is green. ...") with one "The pass key is N" line at
 *     a chosen depth; question "What is the pass key? The pass key is"; metric substring_match.
 *   datasets/needle.jsonl: a haystack of simple story sentences generated here from a small word list,
 *     with the classic San Francisco needle at a sentence boundary; metric rouge1 against the needle.
 * Run: node --import tsx scripts/make-needle-dataset.ts [--seed 7] [--out datasets]
 * Format: see src/tasks/sample-file.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mulberry32 } from '../src/util/mulberry32.ts';
import { DEFAULT_NEEDLE, DEFAULT_QUESTION } from '../src/tasks/needle.ts';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

const seed = Number(arg('--seed', '7'));
const outDir = arg('--out', 'datasets');
const rand = mulberry32(seed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];

const FILLER = 'The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.';
const PASSKEY_INTRO =
  'There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. I will quiz you about the important information there.';

function passkeySamples(): object[] {
  const out: object[] = [];
  let n = 0;
  for (const reps of [2, 4, 6]) {
    for (let k = 0; k < 5; k++) {
      const key = String(10000 + Math.floor(rand() * 90000));
      const at = Math.round((k / 4) * reps); // depth 0, 25, 50, 75, 100 % of the filler blocks
      const blocks: string[] = [];
      for (let b = 0; b <= reps; b++) {
        if (b === at) blocks.push(`The pass key is ${key}. Remember it. ${key} is the pass key.`);
        if (b < reps) blocks.push(FILLER);
      }
      out.push({
        id: `passkey-${n++}`,
        context: `${PASSKEY_INTRO}\n${blocks.join('\n')}\n`,
        question: 'What is the pass key? The pass key is',
        answers: [key],
        metric: 'substring_match',
        max_new_tokens: 8,
        meta: { filler_blocks: reps, depth_percent: k * 25 },
      });
    }
  }
  return out;
}

const NAMES = ['Tom', 'Lily', 'Ben', 'Sue', 'Max', 'Mia'];
const THINGS = ['a red ball', 'a big box', 'a little cat', 'a blue kite', 'a tall tree', 'a small boat'];
const VERBS = ['saw', 'found', 'liked', 'wanted', 'had', 'made'];
const PLACES = ['in the park', 'at home', 'by the sea', 'in the garden', 'at school', 'near the hill'];

function storySentence(): string {
  return `${pick(NAMES)} ${pick(VERBS)} ${pick(THINGS)} ${pick(PLACES)}.`;
}

function needleSamples(): object[] {
  const out: object[] = [];
  let n = 0;
  for (const sentences of [6, 12, 18]) {
    for (const depth of [0, 25, 50, 75, 100]) {
      const hay = Array.from({ length: sentences }, storySentence);
      const at = Math.round((depth / 100) * sentences);
      hay.splice(at, 0, DEFAULT_NEEDLE);
      out.push({
        id: `needle-${n++}`,
        context: `This is a very long story book: <book> ${hay.join(' ')} </book>.\n`,
        question: `Based on the content of the book, Question: ${DEFAULT_QUESTION}\nAnswer:`,
        answers: [DEFAULT_NEEDLE],
        metric: 'rouge1',
        max_new_tokens: 32,
        meta: { haystack_sentences: sentences, depth_percent: depth },
      });
    }
  }
  return out;
}

mkdirSync(outDir, { recursive: true });
for (const [name, rows] of [
  ['passkey.jsonl', passkeySamples()],
  ['needle.jsonl', needleSamples()],
] as const) {
  const text = rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
  writeFileSync(join(outDir, name), text);
  console.log(`${join(outDir, name)}: ${rows.length} samples, ${text.length} bytes`);
}
