import { test } from 'node:test'
import assert from 'node:assert/strict'
import { headTensorName, parseModelConfig, ropeTheta } from '../../src/cortex/model.js'

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

const gpt2 = { model_type: 'gpt2', n_embd: 32, n_head: 4, n_layer: 1, vocab_size: 50, n_positions: 64 }

test('config: the head follows tie_word_embeddings with HF defaults (GPT-2 tied, Llama untied)', () => {
  assert.equal(parseModelConfig(gpt2).tiedEmbeddings, true)
  assert.equal(parseModelConfig({ ...gpt2, tie_word_embeddings: true }).tiedEmbeddings, true)
  assert.equal(parseModelConfig({ ...gpt2, tie_word_embeddings: false }).tiedEmbeddings, false)
  assert.equal(headTensorName(parseModelConfig({ ...gpt2, tie_word_embeddings: false })), 'lm_head.weight')
  assert.equal(headTensorName(parseModelConfig(gpt2)), 'wte.weight')
  assert.equal(parseModelConfig(llama({})).tiedEmbeddings, false)
  assert.equal(headTensorName(parseModelConfig(llama({ tie_word_embeddings: true }))), 'model.embed_tokens.weight')
  assert.throws(() => parseModelConfig(llama({ tie_word_embeddings: 'yes' })), /tie_word_embeddings must be a boolean/)
})

test('config: fields that change the computation and are not implemented are refused by name', () => {
  const refused: [Record<string, unknown>, RegExp][] = [
    [llama({ attention_bias: true }), /attention_bias/],
    [llama({ mlp_bias: true }), /mlp_bias/],
    [llama({ hidden_act: 'gelu' }), /hidden_act "gelu"/],
    [llama({ quantization_config: { quant_method: 'gptq', bits: 4 } }), /quantization_config "gptq"/],
    [{ ...gpt2, activation_function: 'relu' }, /activation_function "relu"/],
    [{ ...gpt2, activation_function: 'gelu' }, /activation_function "gelu"/],
    [{ ...gpt2, scale_attn_weights: false }, /scale_attn_weights/],
    [{ ...gpt2, scale_attn_by_inverse_layer_idx: true }, /scale_attn_by_inverse_layer_idx/],
    [{ ...gpt2, add_cross_attention: true }, /add_cross_attention/],
  ]
  for (const [c, re] of refused) assert.throws(() => parseModelConfig(c), (e: Error & { code?: string }) => e.code === 'unsupported_architecture' && re.test(e.message), re.source)
  // the values HF writes by default are accepted
  parseModelConfig(llama({ attention_bias: false, mlp_bias: false, hidden_act: 'silu', quantization_config: null, pretraining_tp: 1 }))
  parseModelConfig({ ...gpt2, activation_function: 'gelu_new', scale_attn_weights: true, scale_attn_by_inverse_layer_idx: false, reorder_and_upcast_attn: false, n_inner: null })
  assert.throws(() => parseModelConfig({ ...gpt2, n_inner: -5 }), /n_inner/)
})

test('config: a sliding window shorter than the context caps the context (exact below it), bad values are refused', () => {
  assert.equal(parseModelConfig(llama({ model_type: 'mistral', sliding_window: 128 })).maxPositions, 128)
  assert.equal(parseModelConfig(llama({ model_type: 'mistral', sliding_window: null })).maxPositions, 256)
  assert.equal(parseModelConfig(llama({ model_type: 'mistral', sliding_window: 4096 })).maxPositions, 256)
  assert.throws(() => parseModelConfig(llama({ sliding_window: 0 })), /sliding_window/)
})

test('config: cortex.audit picks who checks sampled blocks (replica by default), bounded hires and price, unknown keys refused', async () => {
  const { cortexConfigSchema } = await import('../../src/cortex/config.js')
  const d = cortexConfigSchema.parse({})
  assert.deepEqual(d.audit, { verifiers: 'replica', hire: 1, maxResolvers: 2 })
  const h = cortexConfigSchema.parse({ audit: { verifiers: 'hired', hire: 3, maxPricePerCheck: 50 } })
  assert.deepEqual(h.audit, { verifiers: 'hired', hire: 3, maxPricePerCheck: 50, maxResolvers: 2 })
  assert.equal(cortexConfigSchema.parse({ audit: { verifiers: 'both' } }).audit.verifiers, 'both')
  const bad: [unknown, string][] = [
    [{ verifiers: 'anyone' }, 'verifiers'], [{ hire: 0 }, 'hire'], [{ hire: 9 }, 'hire'], [{ maxPricePerCheck: -1 }, 'maxPricePerCheck'],
    [{ maxPricePerCheck: 1.5 }, 'maxPricePerCheck'], [{ maxResolvers: 9 }, 'maxResolvers'], [{ hierd: 2 }, 'hierd'],
  ]
  for (const [audit, key] of bad) {
    const r = cortexConfigSchema.safeParse({ audit })
    assert.equal(r.success, false, JSON.stringify(audit))
    assert.ok(JSON.stringify(r.error!.issues).includes(key), `${JSON.stringify(audit)}: ${JSON.stringify(r.error!.issues)}`)
  }
})
