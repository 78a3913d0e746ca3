// config.json → ModelSpec: defaults and the fields of Llama 2/3, Mistral and Qwen2 configs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hfConfigToSpec, specToHfConfig } from '../../src/model/hf.ts';
import { tinySpec } from '../../src/model/random.ts';
import { KvoptError } from '../../src/util/errors.ts';

const base = {
  architectures: ['LlamaForCausalLM'],
  vocab_size: 128256,
  hidden_size: 2048,
  intermediate_size: 8192,
  num_hidden_layers: 16,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  max_position_embeddings: 131072,
  rms_norm_eps: 1e-5,
  rope_theta: 500000,
  rope_scaling: { factor: 32, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  tie_word_embeddings: true,
  bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009],
};

test('Llama-3.2 style config: GQA, llama3 rope scaling, eos list → first, tied, head_dim = hidden / heads', () => {
  const s = hfConfigToSpec(base, 'config.json');
  assert.equal(s.headDim, 64);
  assert.equal(s.numKvHeads, 8);
  assert.deepEqual(s.ropeScaling, { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
  assert.equal(s.eosTokenId, 128001);
  assert.equal(s.bosTokenId, 128000);
  assert.equal(s.tieWordEmbeddings, true);
  assert.equal(s.rope, 'half');
  assert.equal(s.attentionBias, false);
});

test('defaults: num_key_value_heads = heads (MHA), explicit head_dim kept, Qwen2 has q/k/v bias, Mistral accepted', () => {
  const { num_key_value_heads: _k, rope_scaling: _r, ...mha } = base;
  const s = hfConfigToSpec({ ...mha, head_dim: 128 }, 'config.json');
  assert.equal(s.numKvHeads, 32);
  assert.equal(s.headDim, 128);
  assert.equal(s.ropeScaling, null);
  assert.equal(hfConfigToSpec({ ...base, architectures: ['Qwen2ForCausalLM'] }, 'c').attentionBias, true);
  assert.equal(hfConfigToSpec({ ...base, architectures: ['Qwen2ForCausalLM'] }, 'c').architecture, 'qwen2');
  assert.equal(hfConfigToSpec({ ...base, architectures: ['MistralForCausalLM'] }, 'c').architecture, 'mistral');
  assert.equal(hfConfigToSpec({ ...base, tie_word_embeddings: undefined }, 'c').tieWordEmbeddings, false);
});

test('specToHfConfig round-trips every spec field', () => {
  for (const spec of [
    tinySpec(),
    tinySpec({ architecture: 'qwen2', attentionBias: true, tieWordEmbeddings: true }),
    tinySpec({ ropeScaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 }, bosTokenId: null }),
  ]) {
    assert.deepEqual(hfConfigToSpec(specToHfConfig(spec), 'c'), spec);
  }
});

test('unsupported architecture and bad fields name config.json, the value and what is supported', () => {
  assert.throws(
    () => hfConfigToSpec({ ...base, architectures: ['GPT2LMHeadModel'] }, '/m/config.json'),
    (e: Error) =>
      e instanceof KvoptError &&
      /\/m\/config\.json/.test(e.message) &&
      /GPT2LMHeadModel/.test(e.message) &&
      /LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM/.test(e.message) &&
      !e.message.includes('\n'),
  );
  assert.throws(() => hfConfigToSpec({ ...base, hidden_size: 'big' }, '/m/config.json'), /\/m\/config\.json: 'hidden_size' must be a positive integer/);
  assert.throws(() => hfConfigToSpec({ ...base, rope_scaling: { rope_type: 'yarn', factor: 4 } }, 'c'), /rope_scaling type 'yarn' is not supported/);
  assert.throws(() => hfConfigToSpec({ ...base, num_key_value_heads: 5 }, 'c'), /not a multiple/);
});

test('Mistral sliding_window caps the usable context at W (exact there), Qwen2 use_sliding_window: false keeps it; mlp_bias is refused', () => {
  const mistral = { ...base, architectures: ['MistralForCausalLM'], rope_scaling: null, max_position_embeddings: 32768, sliding_window: 4096 };
  assert.equal(hfConfigToSpec(mistral, 'config.json').maxPositionEmbeddings, 4096);
  assert.equal(hfConfigToSpec({ ...mistral, sliding_window: null }, 'config.json').maxPositionEmbeddings, 32768);
  assert.equal(hfConfigToSpec({ ...mistral, sliding_window: 65536 }, 'config.json').maxPositionEmbeddings, 32768);
  const qwen = {
    ...base,
    architectures: ['Qwen2ForCausalLM'],
    rope_scaling: null,
    max_position_embeddings: 32768,
    sliding_window: 4096,
    use_sliding_window: false,
  };
  assert.equal(hfConfigToSpec(qwen, 'config.json').maxPositionEmbeddings, 32768);
  assert.throws(
    () => hfConfigToSpec({ ...mistral, sliding_window: 'x' }, 'm/config.json'),
    (e: unknown) => e instanceof KvoptError && /m\/config\.json: 'sliding_window' must be a positive integer/.test(e.message),
  );
  assert.throws(
    () => hfConfigToSpec({ ...base, mlp_bias: true }, 'l/config.json'),
    (e: unknown) => e instanceof KvoptError && /^l\/config\.json: mlp_bias: true is not supported/.test(e.message),
  );
  assert.equal(hfConfigToSpec({ ...base, mlp_bias: false }, 'config.json').numLayers, 16);
});
