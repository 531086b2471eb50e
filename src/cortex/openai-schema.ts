/**
 * Strict schemas for the OpenAI-style request bodies of the local HTTP API (`/v1/chat/completions`,
 * `/v1/completions`) and their translation into a GenerateRequest. Unknown fields, wrong types and values out of
 * range are refused with an OpenAI-shaped 400 (`param` names the field); OpenAI fields this engine cannot honour
 * (tools, images, logprobs, penalties, best_of) are refused by name instead of being silently ignored.
 */
import { z } from 'zod'
import { ZeoneError } from '../util/errors.js'
import { MAX_MODEL_ID, MAX_PROMPT_BYTES } from './messages.js'
import type { GenerateRequest } from './service.js'

export const MAX_MESSAGES = 256
export const MAX_CONTENT_PARTS = 256
export const MAX_STOP = 8
/** Most choices per request: each is its own generation, holding a session on every stage. */
export const MAX_N = 4

/** An error answered over HTTP with an OpenAI error object `{error: {message, type, param, code}}`. */
export class HttpError extends ZeoneError {
  override readonly name = 'HttpError'
  constructor(readonly status: number, code: string, message: string, readonly param: string | null = null) { super(code, message) }
}

const bad = (param: string, message: string, code = 'invalid_value'): HttpError => new HttpError(400, code, message, param)
const unsupported = (param: string, what: string): HttpError => bad(param, `'${param}'${what ? ` ${what}` : ''} is not supported by this server`, 'unsupported_parameter')

// JSON has no NaN/Infinity, but a number can still be 1e308: bounds below keep every value usable.
const optNum = (lo: number, hi: number) => z.number().min(lo).max(hi).nullish()
const optInt = (lo: number, hi: number) => z.number().int().min(lo).max(hi).nullish()

/** Fields both endpoints share. */
const common = {
  model: z.string().min(1).max(MAX_MODEL_ID),
  max_tokens: optInt(1, Number.MAX_SAFE_INTEGER),
  temperature: optNum(0, 2),
  top_p: optNum(0, 1),
  /** Not OpenAI; common in other servers. */
  top_k: optInt(0, 1_000_000),
  seed: optInt(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
  stop: z.union([z.string().max(256), z.array(z.string().max(256)).max(MAX_STOP)]).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish(), include_obfuscation: z.boolean().nullish() }).strict().nullish(),
  n: optInt(1, MAX_N),
  user: z.string().max(256).nullish(),
  frequency_penalty: optNum(-2, 2),
  presence_penalty: optNum(-2, 2),
  logit_bias: z.record(z.string().max(16), z.number()).nullish(),
  metadata: z.record(z.string().max(64), z.string().max(512)).nullish(),
  store: z.boolean().nullish(),
}

/** Part of a message's content; only `text` parts are accepted (checked after the schema, to name the part). */
const contentPart = z.object({ type: z.string().max(64), text: z.unknown().optional() }).passthrough()

const message = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(contentPart).max(MAX_CONTENT_PARTS), z.null()]).optional(),
  name: z.string().max(64).optional(),
  tool_calls: z.unknown().optional(),
  tool_call_id: z.unknown().optional(),
  function_call: z.unknown().optional(),
  refusal: z.string().nullish(),
}).strict()

/** OpenAI chat fields this engine cannot honour: refused when present (and not null). */
const CHAT_UNSUPPORTED = ['tools', 'tool_choice', 'functions', 'function_call', 'audio', 'modalities', 'prediction', 'web_search_options', 'reasoning_effort', 'service_tier', 'top_logprobs'] as const

const chatSchema = z.object({
  ...common,
  messages: z.array(message).min(1).max(MAX_MESSAGES).optional(),
  /** Not OpenAI: a raw prompt instead of messages (zeone infer, older clients of this node). */
  prompt: z.string().optional(),
  max_completion_tokens: optInt(1, Number.MAX_SAFE_INTEGER),
  logprobs: z.boolean().nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  response_format: z.object({ type: z.string().max(32) }).passthrough().nullish(),
  ...Object.fromEntries(CHAT_UNSUPPORTED.map((k) => [k, z.unknown().optional()])),
}).strict()

const completionSchema = z.object({
  ...common,
  // string | string[] | number[] | number[][] in OpenAI; only one text prompt is accepted (checked after)
  prompt: z.union([z.string(), z.array(z.unknown()).min(1).max(MAX_MESSAGES)]),
  echo: z.boolean().nullish(),
  best_of: optInt(1, 128),
  logprobs: optInt(0, 5),
  suffix: z.string().nullish(),
}).strict()

type Issue = z.core.$ZodIssue

/**
 * The issue to report for a failed union: the branch that got past the type check (an over-long array, a bad part)
 * rather than zod's bare "Invalid input"; when every branch failed on the type, one issue naming the types allowed.
 */
function pickIssue(i: Issue, prefix: PropertyKey[]): { issue: Issue; path: PropertyKey[] } {
  const path = [...prefix, ...i.path]
  if (i.code !== 'invalid_union' || !i.errors.length) return { issue: i, path }
  const typed = i.errors.find((es) => es.length > 0 && !(es[0]!.code === 'invalid_type' && es[0]!.path.length === 0))
  if (typed) return pickIssue(typed[0]!, path)
  const expected = [...new Set(i.errors.map((es) => (es[0] as { expected?: string } | undefined)?.expected).filter(Boolean))]
  return { issue: { ...i, code: 'invalid_type', expected: 'union', message: `expected ${expected.join(' or ')}` } as Issue, path }
}

/** The first schema issue as an OpenAI-style 400. */
function issueError(err: z.ZodError): HttpError {
  const { issue: i, path } = pickIssue(err.issues[0]!, [])
  const param = path.map((p, k) => (typeof p === 'number' ? `[${p}]` : k ? `.${String(p)}` : String(p))).join('') || null
  if (i.code === 'unrecognized_keys') {
    const key = i.keys[0]!.slice(0, 64)
    return new HttpError(400, 'unknown_parameter', `Unrecognized request argument supplied: ${key}`, param ? `${param}.${key}` : key)
  }
  return new HttpError(400, i.code === 'invalid_type' ? 'invalid_type' : 'invalid_value', `Invalid '${param ?? 'body'}': ${i.message}`, param)
}

export interface ParsedRequest {
  gen: GenerateRequest
  stream: boolean
  includeUsage: boolean
  /** Choices to generate (1..MAX_N). */
  n: number
}

/** The prompt a request builds is bounded like the wire's (so a local and a remote coordinator refuse the same). */
function checkPromptSize(prompt: string, param: string): void {
  const n = Buffer.byteLength(prompt, 'utf8')
  if (n > MAX_PROMPT_BYTES) throw bad(param, `Invalid '${param}': the prompt is ${n} bytes of UTF-8, over this server's limit of ${MAX_PROMPT_BYTES}`, 'prompt_too_large')
}

/** Sampling and limits both endpoints share. `defaultMax` applies (fitted to the context) when max_tokens is absent. */
function commonRequest(b: z.infer<typeof chatSchema> | z.infer<typeof completionSchema>, prompt: string, max: number | null | undefined, defaultMax: number): ParsedRequest {
  if (b.frequency_penalty) throw unsupported('frequency_penalty', 'other than 0')
  if (b.presence_penalty) throw unsupported('presence_penalty', 'other than 0')
  if (b.logit_bias && Object.keys(b.logit_bias).length) throw unsupported('logit_bias', 'with entries')
  if (b.stream_options && b.stream !== true) throw bad('stream_options', "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
  if (b.top_p === 0) throw bad('top_p', "Invalid 'top_p': must be greater than 0")
  const stop = b.stop == null ? [] : typeof b.stop === 'string' ? [b.stop] : b.stop
  // the engine's PRNG takes a 32-bit seed; OpenAI takes any integer
  const seed = b.seed == null ? undefined : ((b.seed % 2 ** 32) + 2 ** 32) % 2 ** 32
  const gen: GenerateRequest = {
    model: b.model, prompt, maxTokens: max ?? defaultMax, fitContext: max == null, stop,
    temperature: b.temperature ?? 0, topP: b.top_p ?? undefined, topK: b.top_k ?? undefined, seed,
  }
  return { gen, stream: b.stream === true, includeUsage: b.stream_options?.include_usage === true, n: b.n ?? 1 }
}

/** The text of one message's content (text parts joined by newlines). */
function contentText(c: string | { type: string; text?: unknown }[] | null | undefined, at: string): string {
  if (typeof c === 'string') return c
  if (c == null) throw bad(`${at}.content`, `Invalid '${at}.content': a message needs content`)
  return c.map((p, j) => {
    if (p.type !== 'text') throw bad(`${at}.content[${j}].type`, `Invalid '${at}.content[${j}].type': content part type '${p.type.slice(0, 64)}' is not supported by this model (only 'text')`, 'unsupported_content_type')
    if (typeof p.text !== 'string') throw bad(`${at}.content[${j}].text`, `Invalid '${at}.content[${j}].text': a text part needs a string 'text'`, 'invalid_type')
    return p.text
  }).join('\n')
}

/** Validates a `/v1/chat/completions` body. */
export function parseChatRequest(body: unknown, defaultMaxTokens = 128): ParsedRequest {
  const r = chatSchema.safeParse(body)
  if (!r.success) throw issueError(r.error)
  const b = r.data
  for (const k of CHAT_UNSUPPORTED) if ((b as Record<string, unknown>)[k] != null) throw unsupported(k, '')
  if (b.logprobs) throw unsupported('logprobs', '= true')
  if (b.response_format && b.response_format.type !== 'text') throw unsupported('response_format', `of type '${b.response_format.type}'`)
  let prompt: string
  if (b.messages) {
    if (b.prompt !== undefined) throw bad('prompt', "give either 'messages' or 'prompt', not both")
    const msgs = b.messages.map((m, i) => {
      const at = `messages[${i}]`
      if (m.role === 'tool' || m.role === 'function') throw bad(`${at}.role`, `Invalid '${at}.role': '${m.role}' messages are not supported (no tool calls)`, 'unsupported_value')
      if (m.tool_calls != null || m.function_call != null || m.tool_call_id != null) throw unsupported(`${at}.tool_calls`, '')
      return { role: m.role, content: contentText(m.content, at) }
    })
    prompt = msgs.length === 1 && msgs[0]!.role === 'user' ? msgs[0]!.content : msgs.map((m) => `${m.role}: ${m.content}\n`).join('') + 'assistant:'
  } else if (b.prompt !== undefined) prompt = b.prompt
  else throw bad('messages', "Missing required parameter: 'messages'", 'missing_required_parameter')
  checkPromptSize(prompt, b.messages ? 'messages' : 'prompt')
  return commonRequest(b, prompt, b.max_completion_tokens ?? b.max_tokens, defaultMaxTokens)
}

export interface ParsedCompletion extends ParsedRequest { echo: boolean }

/** Validates a `/v1/completions` (legacy text completion) body. OpenAI's default max_tokens there is 16. */
export function parseCompletionRequest(body: unknown, defaultMaxTokens = 16): ParsedCompletion {
  const r = completionSchema.safeParse(body)
  if (!r.success) throw issueError(r.error)
  const b = r.data
  let prompt: string
  if (typeof b.prompt === 'string') prompt = b.prompt
  else if (b.prompt.length === 1 && typeof b.prompt[0] === 'string') prompt = b.prompt[0]
  else if (b.prompt.every((p) => typeof p === 'string')) throw bad('prompt', "Invalid 'prompt': one prompt per request (several would need n choices)", 'unsupported_value')
  else throw bad('prompt', "Invalid 'prompt': token-id prompts are not supported, send text", 'unsupported_value')
  if (b.best_of != null && b.best_of !== 1) throw bad('best_of', "'best_of' other than 1 is not supported", 'unsupported_value')
  if (b.logprobs) throw unsupported('logprobs', '')
  if (b.suffix) throw unsupported('suffix', '')
  checkPromptSize(prompt, 'prompt')
  return { ...commonRequest(b, prompt, b.max_tokens, defaultMaxTokens), echo: b.echo === true }
}
