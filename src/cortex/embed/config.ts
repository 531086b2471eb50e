import { z } from 'zod'

/** One embedding model this node serves. */
export const embedModelSchema = z.object({
  /** Hugging Face BERT-family directory (config.json, *.safetensors, tokenizer.json). */
  path: z.string().min(1),
  /** Model id clients name (`model` in /v1/embeddings). @default the directory's base name */
  id: z.string().min(1).max(128).optional(),
  /** Model version recorded in the vector space key. @default the first 16 hex digits of the weights root */
  version: z.string().min(1).max(64).optional(),
  /** onnxruntime intra-op threads. @default 1 */
  threads: z.number().int().min(1).max(256).default(1),
  /** Weight quantisation at load. @default 'none' */
  quant: z.enum(['none', 'q8', 'q4']).default('none'),
}).strict()

/** Config section `cortex.embed`: embedding models, the `embed` service, /v1/embeddings and the vector store. */
export const embedConfigSchema = z.object({
  /** Embedding models served. @default [] */
  models: z.array(embedModelSchema).max(8).default([]),
  /** Id of the model whose space is the default (a change starts a migration). @default the first model */
  default: z.string().min(1).max(128).optional(),
  /** Most inputs per embedding request. @default 2048 */
  maxInputs: z.number().int().min(1).max(65536).default(2048),
  /** Most texts per forward pass. @default 32 */
  maxBatch: z.number().int().min(1).max(1024).default(32),
  /** Price of the `embed` service per 1000 input tokens, micro-credits. @default 0 */
  pricePer1kTokens: z.number().int().min(0).default(0),
  /** Keep a vector store (<dataDir>/embed) for `zeone embed add|query`. @default true */
  store: z.boolean().default(true),
  /** After a model change, migrate old documents in the background (else only lazily, at query time). @default true */
  backgroundMigration: z.boolean().default(true),
  /** HNSW search breadth (higher = better recall, slower queries). @default 128 */
  annExpansionSearch: z.number().int().min(8).max(4096).default(128),
}).strict()

export type EmbedConfig = z.infer<typeof embedConfigSchema>
