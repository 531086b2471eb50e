import { resolve } from 'node:path'
import { z } from 'zod'
import { embedConfigSchema } from './embed/config.js'

/** One locally served stage. */
export const stageServeSchema = z.object({
  /** Hugging Face model directory (config.json, *.safetensors, tokenizer.json). */
  path: z.string().min(1),
  /** Model id announced to the network. @default the directory's base name */
  modelId: z.string().min(1).max(128).optional(),
  /** Half-open layer range "A:B"; empty = all layers. @default '' */
  layers: z.string().regex(/^(\d+:\d+)?$/).default(''),
  /** Weight quantisation at load. @default 'none' */
  quant: z.enum(['none', 'q8', 'q4']).default('none'),
  /** 8-bit kernel for quant q8: 'qgemm' (per-channel int8 weights, per-token activations through MLAS QGEMM; the
   *  faster one, same top-1 agreement with fp32) or 'nbits' (MatMulNBits block 32, per-block activations: lower
   *  logit error, slower; see docs/benchmarks.md). @default 'qgemm' */
  int8Kernel: z.enum(['nbits', 'qgemm']).default('qgemm'),
  /** Sessions holding a KV cache at once. @default 32 */
  maxSessions: z.number().int().min(1).max(4096).default(32),
  /** onnxruntime intra-op threads. @default 1 */
  threads: z.number().int().min(1).max(256).default(1),
  /** Signed model card (file) the weights must match; the stage refuses to start when they do not. @default none */
  card: z.string().min(1).optional(),
}).strict()

type StageServe = z.infer<typeof stageServeSchema>

/** The same stage listed twice (same directory, id, layers, quantisation) is served once. */
function dedupeStages(list: StageServe[]): StageServe[] {
  const seen = new Set<string>()
  return list.filter((s) => {
    const k = JSON.stringify([resolve(s.path), s.modelId ?? null, s.layers, s.quant, s.int8Kernel])
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}

/** Config section `cortex` (owned by src/cortex). Every field has a default so an empty section is valid. */
export const cortexConfigSchema = z.object({
  /** Serve the inference API and stages. @default true */
  enabled: z.boolean().default(true),
  /** Stages this node serves. @default [] */
  serve: z.array(stageServeSchema).max(16).default([]).transform(dedupeStages)
    // CORTEX_INFO names no model: a node answers for one stage on the wire (two would also clash on its handlers)
    .refine((l) => l.length <= 1, { message: 'cortex.serve: this node serves one stage (CORTEX_INFO answers for one); run one node per stage or list the stage once' }),
  /** Stage peers ("host:port") asked with CORTEX_INFO when no DHT provider records are available. @default [] */
  peers: z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/)).max(256).default([]),
  /** Idle time after which a session's KV cache is freed. @default 300000 */
  sessionTtlMs: z.number().int().min(1000).default(300_000),
  /** Most sessions one peer may hold on a stage (0 = a quarter of the stage's maxSessions, at least 1; raise it for a
   *  stage fed by one upstream stage node). @default 0 */
  maxSessionsPerPeer: z.number().int().min(0).default(0),
  /** Most sessions per forward pass (continuous batching). @default 16 */
  maxBatch: z.number().int().min(1).max(256).default(16),
  /** Per-stage request timeout before failover. @default 60000 */
  requestTimeoutMs: z.number().int().min(100).default(60_000),
  /** Cap on max_tokens per request. @default 1024 */
  maxTokens: z.number().int().min(1).max(8192).default(1024),
  /** Serve /v1/chat/completions (SSE and WebSocket) on the local HTTP API. @default true */
  httpApi: z.boolean().default(true),
  /** Verified inference: served stages sign a TOPLOC-style commitment to their activations every 32 steps of a
   *  session (docs/protocol/verified-inference.md; costs a 32-row buffer per session). @default false */
  commitActivations: z.boolean().default(false),
  /** Verified inference, client side: the fraction of committed 32-step blocks of this node's pipeline generations
   *  re-executed on another provider of the same layers (paid like any stage work) and checked; a failure is a
   *  trust event against the provider (src/cortex/verify/audit.ts). 0 turns auditing off. @default 0 */
  auditRate: z.number().min(0).max(1).default(0),
  /** Verified inference, client side: who checks the sampled blocks (src/cortex/verify/resolve.ts). */
  audit: z.object({
    /** 'replica': this node re-executes each sampled block on another provider of the same layers; 'hired': it hires
     *  `hire` verifiers found through `service:verify` provider records, each paid per check through the ledger;
     *  'both': one replica and `hire` verifiers. Checkers that disagree are resolved by further ones and the
     *  outvoted side gets a trust event and is not paid. @default 'replica' */
    verifiers: z.enum(['replica', 'hired', 'both']).default('replica'),
    /** Verifiers hired per sampled block ('hired' and 'both'). @default 1 */
    hire: z.number().int().min(1).max(8).default(1),
    /** Most micro-credits paid per hired check: verifiers announcing a higher price are not hired; unset, any price. */
    maxPricePerCheck: z.number().int().min(0).optional(),
    /** Further checkers asked when a sampled block's checkers disagree (or a lone one fails it). @default 2 */
    maxResolvers: z.number().int().min(0).max(8).default(2),
  }).strict().prefault({}),
  /** Verified inference: serve the verifier service (`service:verify`) on this node's stage: other nodes hire it to
   *  re-execute a sampled block of another provider's stage with the same layers and return a signed verdict, paid
   *  per check at the list price of `economy.pricing.services["cortex:verify"]` (src/cortex/verify/check-server.ts).
   *  @default false */
  verifier: z.boolean().default(false),
  /** Verified inference with the chain attached: a failed check this node's auditor confirms is taken on chain:
   *  verifiers are hired to confirm it until Staking's verdictQuorum of staked verdicts is in hand, then
   *  slashByVerdict is submitted (costs gas; src/cortex/verify/fraud.ts). @default false */
  slashFailedChecks: z.boolean().default(false),
  /** Pay per token: most generated tokens streamed ahead of a client's signed receipts. @default 16 */
  receiptWindow: z.number().int().min(1).max(1024).default(16),
  /** Embedding models, the `embed` service, /v1/embeddings and the vector store (src/cortex/embed/config.ts). */
  embed: embedConfigSchema.prefault({}),
}).strict()

export type CortexConfig = z.infer<typeof cortexConfigSchema>
