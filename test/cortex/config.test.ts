import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseModelConfig, ropeTheta } from '../../src/cortex/model.js'

const llama = (extra: Record<string, unknown>): Record<string, unknown> => ({
  model_type: 'llama', hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2, num_hidden_layers: 2,
  intermediate_size: 128, vocab_size: 100, max_position_embeddings: 256, ...extra,
})

test('config: rope_theta inside rope_parameters (the transformers 5 layout) is used, not the 10000 default', () => {
  assert.equal(parseModelConfig(llama({ rope_parameters: { rope_type: 'default', rope_theta: 500000 } })).ropeTheta, 500000)
  assert.equal(parseModelConfig(llama({ rope_theta: 250000 })).ropeTheta, 250000)
  assert.equal(parseModelConfig(llama({})).ropeTheta, 10000)
  assert.equal(ropeTheta({ rope_theta: 7, rope_parameters: { rope_theta: 7 } }), 7)
})

test('config: rope settings we do not implement are refused with the field named, never defaulted', () => {
  assert.throws(() => parseModelConfig(llama({ rope_theta: 10000, rope_parameters: { rope_theta: 500000 } })), /disagree/)
  assert.throws(() => parseModelConfig(llama({ rope_parameters: { rope_type: 'llama3', rope_theta: 500000, factor: 8 } })), /rope_type "llama3"/)
  assert.throws(() => parseModelConfig(llama({ rope_parameters: { rope_type: 'default', rope_theta: 1e4, factor: 2 } })), /rope_parameters\.factor/)
  assert.throws(() => parseModelConfig(llama({ rope_parameters: { rope_theta: -1 } })), /rope_theta must be a positive number/)
  assert.throws(() => parseModelConfig(llama({ rope_theta: 'big' })), /rope_theta must be a positive number/)
  assert.throws(() => parseModelConfig(llama({ rope_scaling: { type: 'linear', factor: 2 } })), /rope_scaling/)
  assert.throws(() => parseModelConfig(llama({ rope_scaling: 'linear' })), /rope_scaling/)
  assert.equal(parseModelConfig(llama({ rope_scaling: null })).ropeTheta, 10000)
})

test('config: an untied GPT-2 head is refused instead of silently using wte', () => {
  const gpt2 = { model_type: 'gpt2', n_embd: 32, n_head: 4, n_layer: 1, vocab_size: 50, n_positions: 64 }
  assert.equal(parseModelConfig(gpt2).tiedEmbeddings, true)
  assert.equal(parseModelConfig({ ...gpt2, tie_word_embeddings: true }).tiedEmbeddings, true)
  assert.throws(() => parseModelConfig({ ...gpt2, tie_word_embeddings: false }), /tie_word_embeddings: false/)
})
