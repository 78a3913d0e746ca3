import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderChat, renderChatSplit } from '../../src/tasks/chat-template.ts';
import { buildLongBenchPrompt } from '../../src/tasks/longbench.ts';
import type { Sample } from '../../src/tasks/types.ts';
import { sharedDataPath } from '../helpers/shared-data.ts';

// Meta-Llama-3-8B-Instruct tokenizer_config.json chat_template (as published).
const LLAMA3 =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
// Mistral-7B-Instruct-v0.2 chat_template.
const MISTRAL =
  "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

test('Llama-3-Instruct template: headers, BOS, trimmed content, generation prompt', () => {
  const out = renderChat(LLAMA3, '  Hello there \n', { bosToken: '<|begin_of_text|>' });
  assert.equal(out, '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello there<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
});

test('Mistral-Instruct template: [INST] ... [/INST]', () => {
  assert.equal(renderChat(MISTRAL, 'Hi', { bosToken: '<s>', eosToken: '</s>' }), '<s>[INST] Hi [/INST]');
});

test('the real Llama-2 template from shared data renders', () => {
  const cfg = JSON.parse(readFileSync(sharedDataPath('tiny-random-llama-onnx-fp16', 'tokenizer_config.json'), 'utf8')) as { chat_template: string };
  assert.equal(renderChat(cfg.chat_template, 'Hi', { bosToken: '<s>', eosToken: '</s>' }), '<s>[INST] Hi [/INST]');
});

test('split at the context/question boundary; parts concatenate to the full rendering', () => {
  const ctx = 'Read this.\n\nDOC';
  const q = '\n\nQuestion: why?\nAnswer:';
  const s = renderChatSplit(LLAMA3, ctx, q, { bosToken: '<|begin_of_text|>' });
  assert.equal(s.contextText, '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nRead this.\n\nDOC');
  assert.equal(s.questionText, '\n\nQuestion: why?\nAnswer:<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
  assert.equal(s.contextText + s.questionText, renderChat(LLAMA3, ctx + q, { bosToken: '<|begin_of_text|>' }));
  // trim removes the question part's trailing space in the full rendering; the split must agree
  const t = renderChatSplit(LLAMA3, ctx, '\n\nThe final answer is: ', { bosToken: '<|begin_of_text|>' });
  assert.ok(t.questionText.startsWith('\n\nThe final answer is:<|eot_id|>'));
  const m = renderChatSplit(MISTRAL, ctx, q, { bosToken: '<s>' });
  assert.deepEqual(m, { contextText: '<s>[INST] Read this.\n\nDOC', questionText: `${q} [/INST]` });
});

test('LongBench applies the template for QA tasks but not for trec; BOS in the text turns addBos off', () => {
  const s: Sample = { id: '1', task: 'longbench/hotpotqa', context: 'P1', question: 'Q?', answers: ['A'], maxNewTokens: 32, metric: 'qa_f1' };
  const p = buildLongBenchPrompt('hotpotqa', s, { chatTemplate: MISTRAL, bosToken: '<s>' });
  assert.ok(p.contextText.startsWith('<s>[INST] Answer the question based on the given passages.'));
  assert.ok(p.questionText.endsWith('Question: Q?\nAnswer: [/INST]'));
  assert.equal(p.addBos, false);
  const t = buildLongBenchPrompt('trec', { ...s, task: 'longbench/trec' }, { chatTemplate: MISTRAL, bosToken: '<s>' });
  assert.ok(t.contextText.startsWith('Please determine the type of the question below.'));
  assert.equal(t.addBos, true);
});
