/**
 * TextTokenizer over @huggingface/tokenizers (tokenizer.json + tokenizer_config.json objects).
 *
 * The library is slow on one long string (node-stack-notes §3: BPE over one huge word), so long text is cut into
 * chunks at boundaries where no token can span (see `splitForEncoding`) and encoded chunk by chunk. Chunks after
 * the first are encoded by a second tokenizer whose "add a leading ▁" step (Prepend normalizer, Metaspace
 * prepend_scheme) is switched off, since that prefix belongs to the start of the text only. At construction a
 * probe text checks that chunked encoding equals whole-string encoding; if not, chunking is disabled.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { KvoptError } from '../util/errors.ts';
import type { TextTokenizer } from './spec.ts';

// biome-ignore lint/suspicious/noExplicitAny: tokenizer.json is untyped input; each field is checked where it is read
type Json = Record<string, any>;

const CHUNK_CHARS = 512; // target chunk length; chunks only end at safe boundaries

const PROBE =
  'Hello world!\n  Indented line, with  two spaces.\n\n\nThird paragraph: 123 4567 é ü 中文 🙂\n\tTab line\r\nend \n' +
  ' leading space line\nword '.repeat(3) +
  'x'.repeat(40) +
  ' ' +
  'long line of words that goes on and on '.repeat(30);

export class HfTokenizer implements TextTokenizer {
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly vocabSize: number;
  readonly chatTemplate: string | null;
  private first: Tokenizer;
  private restTokenizer: Tokenizer | null = null; // built on first use (long text): construction costs ~1 s for 32k vocabs
  private chunkedChecked: boolean | null = null;

  /**
   * @param fallbackIds BOS/EOS ids to use when tokenizer_config.json names none (e.g. from the model's config.json).
   */
  constructor(
    tokenizerJson: Json,
    tokenizerConfig: Json = {},
    private where = 'tokenizer.json',
    fallbackIds: { bosId?: number | null; eosId?: number | null } = {},
  ) {
    // The library reads a WordLevel model's unk token from the tokenizer config, not from the model section.
    const modelUnk = tokenizerJson.model?.unk_token;
    if (tokenizerConfig.unk_token == null && typeof modelUnk === 'string') tokenizerConfig = { ...tokenizerConfig, unk_token: modelUnk };
    try {
      this.first = new Tokenizer(tokenizerJson, tokenizerConfig);
    } catch (e) {
      throw new KvoptError(`${this.where}: cannot build the tokenizer (${(e as Error).message})`);
    }
    const specialId = (key: string): number | null => {
      const v = tokenizerConfig[key];
      const content = typeof v === 'string' ? v : typeof v?.content === 'string' ? v.content : null;
      if (content === null) return null;
      return this.first.token_to_id(content) ?? null;
    };
    this.bosId = specialId('bos_token') ?? fallbackIds.bosId ?? null;
    this.eosId = specialId('eos_token') ?? fallbackIds.eosId ?? null;
    const vocab = this.first.get_vocab(true);
    let maxId = -1;
    for (const id of vocab.values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    const ct = tokenizerConfig.chat_template;
    this.chatTemplate = typeof ct === 'string' ? ct : null;
    this.tokenizerJson = tokenizerJson;
    this.tokenizerConfig = tokenizerConfig;
  }

  private tokenizerJson: Json;
  private tokenizerConfig: Json;

  private get rest(): Tokenizer {
    this.restTokenizer ??= new Tokenizer(withoutLeadingPrefix(this.tokenizerJson), this.tokenizerConfig);
    return this.restTokenizer;
  }

  /** Whether chunked encoding reproduces whole-string encoding on a probe text (checked once, on first need). */
  get chunked(): boolean {
    if (this.chunkedChecked === null) {
      const whole = this.first.encode(PROBE, { add_special_tokens: false }).ids;
      this.chunkedChecked = sameIds(whole, this.encodeChunks(PROBE));
    }
    return this.chunkedChecked;
  }

  encode(text: string, opts: { addBos?: boolean } = {}): number[] {
    const ids: number[] = text.length > CHUNK_CHARS && this.chunked ? this.encodeChunks(text) : this.first.encode(text, { add_special_tokens: false }).ids;
    if (ids.some((id: number | undefined) => id === undefined)) {
      throw new KvoptError(`${this.where}: text contains a word outside the vocabulary and the tokenizer has no unk_token`);
    }
    return opts.addBos && this.bosId !== null ? [this.bosId, ...ids] : ids;
  }

  /** Encoding of `text` chunk by chunk (exposed for tests). */
  encodeChunks(text: string): number[] {
    const out: number[] = [];
    splitForEncoding(text, CHUNK_CHARS).forEach((chunk, i) => {
      const ids = (i === 0 ? this.first : this.rest).encode(chunk, { add_special_tokens: false }).ids;
      for (const id of ids) out.push(id);
    });
    return out;
  }

  decode(ids: number[]): string {
    if (ids.length === 0) return ''; // the library rejects an empty list (e.g. a generation that stopped at once)
    return this.first.decode(ids, { skip_special_tokens: true });
  }
}

function sameIds(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Cuts text into chunks of about `target` chars, each cut (a) after a run of newlines that is followed by a
 * non-whitespace char, or, when a line is long, (b) before a single space that sits between two non-space chars.
 * In the GPT-2/Llama-3/Qwen2 pre-tokenizer regexes no match contains both a newline and a following letter, or a
 * letter and the ' x' that follows; SentencePiece-style BPE (no pre-tokenizer) has no piece spanning a newline or
 * a word-separating space. The probe check in the constructor guards the assumption per tokenizer.
 */
export function splitForEncoding(text: string, target: number): string[] {
  const chunks: string[] = [];
  let start = 0;
  let lastSpaceCut = -1;
  for (let i = 1; i < text.length; i++) {
    const c = text[i];
    const p = text[i - 1];
    const ws = c === ' ' || c === '\n' || c === '\r' || c === '\t';
    if (p === '\n' && !ws) {
      chunks.push(text.slice(start, i));
      start = i;
      lastSpaceCut = -1;
      continue;
    }
    if (c === ' ' && i - 1 > start && p !== ' ' && p !== '\n' && p !== '\r' && p !== '\t' && i + 1 < text.length && !/\s/.test(text[i + 1])) {
      lastSpaceCut = i;
    }
    if (i - start >= target && lastSpaceCut > start) {
      chunks.push(text.slice(start, lastSpaceCut));
      start = lastSpaceCut;
      lastSpaceCut = -1;
    }
  }
  if (start < text.length) chunks.push(text.slice(start));
  return chunks;
}

/** tokenizer.json with the "leading ▁ at the start of the text" steps removed (for continuation chunks). */
function withoutLeadingPrefix(tj: Json): Json {
  const copy: Json = JSON.parse(JSON.stringify(tj));
  const stripNormalizer = (n: Json | null): Json | null => {
    if (!n) return n;
    if (n.type === 'Prepend') return null;
    if (n.type === 'Sequence') {
      n.normalizers = (n.normalizers as Json[]).map(stripNormalizer).filter((x) => x !== null);
    }
    return n;
  };
  const stripPre = (p: Json | null): Json | null => {
    if (!p) return p;
    if (p.type === 'Metaspace') {
      p.prepend_scheme = 'never';
      p.add_prefix_space = false;
    }
    if (p.type === 'ByteLevel') p.add_prefix_space = false;
    if (p.type === 'Sequence') p.pretokenizers = (p.pretokenizers as Json[]).map(stripPre);
    return p;
  };
  copy.normalizer = stripNormalizer(copy.normalizer ?? null);
  copy.pre_tokenizer = stripPre(copy.pre_tokenizer ?? null);
  return copy;
}

/** Reads tokenizer.json (+ tokenizer_config.json beside it, when present) from a folder or a tokenizer.json path. */
export function loadHfTokenizer(pathOrDir: string, fallbackIds: { bosId?: number | null; eosId?: number | null } = {}): HfTokenizer {
  const isJson = pathOrDir.endsWith('.json');
  const tokPath = isJson ? pathOrDir : join(pathOrDir, 'tokenizer.json');
  const cfgPath = join(isJson ? join(pathOrDir, '..') : pathOrDir, 'tokenizer_config.json');
  if (!existsSync(tokPath)) throw new KvoptError(`${tokPath}: file not found`);
  const parse = (p: string): Json => {
    try {
      return JSON.parse(readFileSync(p, 'utf8'));
    } catch (e) {
      throw new KvoptError(`${p}: invalid JSON (${(e as Error).message})`);
    }
  };
  const tj = parse(tokPath);
  const cfg = existsSync(cfgPath) ? parse(cfgPath) : {};
  return new HfTokenizer(tj, cfg, tokPath, fallbackIds);
}
