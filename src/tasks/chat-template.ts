/**
 * Chat templates: a model's `chat_template` (Jinja, from tokenizer_config.json) rendered with
 * @huggingface/jinja the way transformers' apply_chat_template(..., add_generation_prompt=True) does it:
 * messages = [{role: 'user', content}], plus bos_token / eos_token. LongBench wraps the whole
 * (truncated) prompt as one user message.
 *
 * Splitting into context and question parts: the full prompt is rendered once with a sentinel inserted at
 * the boundary between its context part and question part, and split on the sentinel. Everything before
 * (template header + context part) is the chat context part; the rest (question part + template footer
 * + generation prompt) is the chat question part. Removing the sentinel must give exactly the rendering of
 * the prompt without it; a template that rewrites content so that this fails (e.g. one that strips text
 * next to the sentinel) is reported as an error rather than silently split wrong.
 */
import { Template } from '@huggingface/jinja';
import { KvoptError } from '../util/errors.ts';

export interface ChatTemplateVars {
  bosToken?: string;
  eosToken?: string;
}

/** Render `template` for one user message with the generation prompt. */
export function renderChat(template: string, userContent: string, vars: ChatTemplateVars = {}): string {
  let t: Template;
  try {
    t = new Template(template);
  } catch (e) {
    throw new KvoptError(`chat_template: cannot parse the Jinja template (${(e as Error).message})`);
  }
  return t.render({
    messages: [{ role: 'user', content: userContent }],
    add_generation_prompt: true,
    bos_token: vars.bosToken ?? '',
    eos_token: vars.eosToken ?? '',
  });
}

const SENTINEL = '\u0000KVOPT_SPLIT\u0000';

/** Render contextPart + questionPart as one user message and split the result at their boundary. */
export function renderChatSplit(
  template: string,
  contextPart: string,
  questionPart: string,
  vars: ChatTemplateVars = {},
): { contextText: string; questionText: string } {
  const whole = renderChat(template, contextPart + questionPart, vars);
  if (questionPart === '') return { contextText: whole, questionText: '' };
  const marked = renderChat(template, contextPart + SENTINEL + questionPart, vars);
  const parts = marked.split(SENTINEL);
  if (parts.length !== 2 || parts[0] + parts[1] !== whole) {
    throw new KvoptError('chat_template: rendering changes the text at the context/question boundary, so the prompt cannot be split there');
  }
  return { contextText: parts[0], questionText: parts[1] };
}
