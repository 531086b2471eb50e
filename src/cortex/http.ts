/**
 * OpenAI-compatible completions on the node's local HTTP API:
 *   POST /v1/chat/completions          JSON, or Server-Sent Events with `"stream": true`
 *   POST /v1/completions               legacy text completion, JSON or SSE
 *   GET  /v1/chat/completions/ws       WebSocket: send one request object, receive chunk objects, then `{"done":true}`
 *   GET  /v1/models, /v1/models/<id>
 * Errors are OpenAI error objects `{error: {message, type, param, code}}`. Request bodies are validated by
 * openai-schema.ts. A stream that fails after it started ends with a chunk whose finish_reason is 'error', an
 * `event: error` carrying the error object, then `data: [DONE]`: never a silent end.
 */
import { randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { createRequire } from 'node:module'
import type { WebSocketServer, WebSocket } from 'ws'
import type { HttpApi } from '../interfaces/node-context.js'
import { ZeoneError } from '../util/errors.js'
import { HttpError, parseChatRequest, parseCompletionRequest, type ParsedCompletion, type ParsedRequest } from './openai-schema.js'
import type { GenChunk } from './generate.js'
import type { CortexService, GenerateRequest, GenerateResult } from './service.js'

export { HttpError, parseChatRequest, parseCompletionRequest } from './openai-schema.js'

export const MAX_BODY_BYTES = 1024 * 1024

const NOT_FOUND = new Set(['model_not_found'])
const UNAVAILABLE = new Set(['no_route', 'no_replacement', 'failover_exhausted', 'capacity', 'busy', 'no_model', 'link_closed'])
const INVALID = new Set(['untokenizable', 'empty_prompt', 'context_full', 'context_length_exceeded', 'bad_input'])

/** HTTP status and OpenAI error object for any error. */
export function errorObject(e: unknown): { status: number; body: { error: { message: string; type: string; param: string | null; code: string | null } } } {
  const code = e instanceof ZeoneError ? e.code : null
  const status = e instanceof HttpError ? e.status : code && NOT_FOUND.has(code) ? 404 : code && UNAVAILABLE.has(code) ? 503 : code && INVALID.has(code) ? 400 : 500
  // a coordinator's error reaches us wrapped as "remote error (code): message"
  const message = String((e as Error)?.message ?? e).replace(/^remote error \([^)]*\): /, '')
  const type = status === 401 ? 'authentication_error' : status < 500 ? 'invalid_request_error' : 'server_error'
  return { status, body: { error: { message, type, param: e instanceof HttpError ? e.param : null, code } } }
}

export async function readBody(req: IncomingMessage): Promise<unknown> {
  const tooLarge = (): HttpError => new HttpError(413, 'request_too_large', `request body is larger than ${MAX_BODY_BYTES} bytes`)
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > MAX_BODY_BYTES) throw tooLarge()
  const parts: Buffer[] = []
  let n = 0
  for await (const c of req) {
    n += (c as Buffer).length
    if (n > MAX_BODY_BYTES) throw tooLarge()
    parts.push(c as Buffer)
  }
  try { return JSON.parse(Buffer.concat(parts).toString('utf8')) } catch {
    throw new HttpError(400, 'invalid_json', 'We could not parse the JSON body of your request: it is not valid JSON.')
  }
}

export function sendError(res: ServerResponse, e: unknown): void {
  if (res.headersSent) { res.end(); return }
  const { status, body } = errorObject(e)
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

/** OpenAI counts the prompt once however many choices were asked for. */
function usage(rs: GenerateResult[]): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  const p = rs[0]?.promptTokens ?? 0
  const c = rs.reduce((a, r) => a + r.ids.length, 0)
  return { prompt_tokens: p, completion_tokens: c, total_tokens: p + c }
}

/** The per-endpoint shape of answers: chat (`delta`/`message`) or text completion (`text`). */
interface Shape {
  idPrefix: string
  object: string
  chunkObject: string
  /** A streamed choice; `first` = the opening chunk (chat: carries the role). */
  chunkChoice(index: number, text: string | null, finish: string | null, first?: boolean): object
  choice(index: number, text: string, finish: string): object
}

const CHAT: Shape = {
  idPrefix: 'chatcmpl-', object: 'chat.completion', chunkObject: 'chat.completion.chunk',
  chunkChoice: (index, text, finish, first) => ({
    index, delta: first ? { role: 'assistant', content: text ?? '' } : text === null ? {} : { content: text }, logprobs: null, finish_reason: finish,
  }),
  choice: (index, text, finish) => ({ index, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: finish }),
}

const TEXT: Shape = {
  idPrefix: 'cmpl-', object: 'text_completion', chunkObject: 'text_completion',
  chunkChoice: (index, text, finish) => ({ index, text: text ?? '', logprobs: null, finish_reason: finish }),
  choice: (index, text, finish) => ({ index, text, logprobs: null, finish_reason: finish }),
}

/** One generation per choice; choice i > 0 draws from seed + i so the choices differ when sampling. */
function choiceRequests(p: ParsedRequest): GenerateRequest[] {
  return Array.from({ length: p.n }, (_, i) => i === 0 ? p.gen : { ...p.gen, seed: ((p.gen.seed ?? 0) + i) % 2 ** 32 })
}

/**
 * Runs one request (its n choices concurrently) and answers it as JSON or as a Server-Sent Events stream. The first
 * step of every choice (prompt check, route, prefill) runs before any header is sent, so its errors get a status code.
 */
async function answer(res: ServerResponse, svc: CortexService, shape: Shape, p: ParsedRequest & { echo?: boolean }, signal: AbortSignal): Promise<void> {
  // one failing choice (or the client going away) stops them all
  const stop = new AbortController()
  const onAbort = (): void => stop.abort()
  signal.addEventListener('abort', onAbort, { once: true })
  const its = choiceRequests(p).map((g) => svc.generate(g, stop.signal))
  try {
    await respond(res, shape, p, its, signal)
  } finally {
    signal.removeEventListener('abort', onAbort)
    stop.abort()
    // a choice parked at a yield (its siblings failed) runs its finally and frees its stage sessions
    void Promise.allSettled(its.map((it) => it.return(undefined as never)))
  }
}

type Gen = AsyncGenerator<GenChunk, GenerateResult>

/**
 * What the final text has beyond the streamed chunks: the decoder's held-back bytes (an incomplete UTF-8 sequence at
 * the length limit) are only in the final text. Sent as a last delta so a stream reads the same as the JSON answer.
 */
const tail = (final: string, streamed: string): string => final.startsWith(streamed) ? final.slice(streamed.length) : ''

async function respond(res: ServerResponse, shape: Shape, p: ParsedRequest & { echo?: boolean }, its: Gen[], signal: AbortSignal): Promise<void> {
  const id = `${shape.idPrefix}${randomBytes(12).toString('hex')}`
  const created = Math.floor(Date.now() / 1000)
  const firsts = await Promise.all(its.map((it) => it.next()))
  const echo = p.echo ? p.gen.prompt : ''
  if (!p.stream) {
    const results = await Promise.all(its.map(async (it, i) => {
      let n = firsts[i]!
      while (!n.done) n = await it.next()
      return n.value
    }))
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ id, object: shape.object, created, model: p.gen.model, choices: results.map((r, i) => shape.choice(i, echo + r.text, r.reason)), usage: usage(results) }))
    return
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
  const base = { id, object: shape.chunkObject, created, model: p.gen.model }
  // with include_usage, OpenAI sends `usage: null` on every chunk but the last
  const usageNull = p.includeUsage ? { usage: null } : {}
  let open = true
  const send = (choice: object): void => { if (open) res.write(`data: ${JSON.stringify({ ...base, choices: [choice], ...usageNull })}\n\n`) }
  // The OpenAI SDK's chat stream helper needs the role on the first chunk of each choice.
  if (shape === CHAT || echo) its.forEach((_, i) => send(shape.chunkChoice(i, echo, null, true)))
  const results: (GenerateResult | undefined)[] = its.map(() => undefined)
  try {
    await Promise.all(its.map(async (it, i) => {
      let n = firsts[i]!
      let streamed = ''
      while (!n.done) {
        if (n.value.text) send(shape.chunkChoice(i, n.value.text, null))
        streamed += n.value.text
        n = await it.next()
      }
      results[i] = n.value
      const rest = tail(n.value.text, streamed)
      if (rest) send(shape.chunkChoice(i, rest, null))
      send(shape.chunkChoice(i, null, n.value.reason))
    }))
  } catch (e) {
    if (signal.aborted) { open = false; res.end(); return }
    results.forEach((r, i) => { if (!r) send(shape.chunkChoice(i, null, 'error')) })
    open = false
    res.write(`event: error\ndata: ${JSON.stringify(errorObject(e).body)}\n\n`)
    res.end('data: [DONE]\n\n')
    return
  }
  open = false
  if (p.includeUsage) res.write(`data: ${JSON.stringify({ ...base, choices: [], usage: usage(results as GenerateResult[]) })}\n\n`)
  res.end('data: [DONE]\n\n')
}

export function registerHttp(http: HttpApi, svc: CortexService, opts: { defaultMaxTokens?: number } = {}): { close(): void } {
  // ws (~13 CommonJS files, a noticeable part of a node's start) loads on the first WebSocket upgrade
  let wss: WebSocketServer | undefined
  const wsServer = (): WebSocketServer =>
    (wss ??= new (createRequire(import.meta.url)('ws') as typeof import('ws')).WebSocketServer({ noServer: true, maxPayload: MAX_BODY_BYTES }))
  const started = Math.floor(Date.now() / 1000)
  const modelList = (): { id: string; object: 'model'; created: number; owned_by: string; layers: [number, number]; total_layers: number }[] => {
    const seen = new Set<string>()
    return svc.models().filter((m) => !seen.has(m.id) && seen.add(m.id))
      .map((m) => ({ id: m.id, object: 'model', created: started, owned_by: 'zeone', layers: [m.start, m.end], total_layers: m.layers }))
  }
  const json = (res: ServerResponse, body: unknown): void => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)) }
  http.route('GET', '/v1/models', (_req, res) => json(res, { object: 'list', data: modelList() }))
  // routes match exact paths: one per locally served model (stages are loaded before the API is registered)
  for (const m of modelList()) http.route('GET', `/v1/models/${encodeURIComponent(m.id)}`, (_req, res) => json(res, m))

  const post = (path: string, parse: (b: unknown) => ParsedRequest | ParsedCompletion, shape: Shape): void => {
    http.route('POST', path, async (req, res) => {
      const ac = new AbortController()
      res.on('close', () => ac.abort())
      try {
        await answer(res, svc, shape, parse(await readBody(req)), ac.signal)
      } catch (e) {
        if (!ac.signal.aborted) sendError(res, e)
      }
    })
  }
  post('/v1/chat/completions', (b) => parseChatRequest(b, opts.defaultMaxTokens), CHAT)
  post('/v1/completions', (b) => parseCompletionRequest(b), TEXT)

  http.upgrade('/v1/chat/completions/ws', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    wsServer().handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const ac = new AbortController()
      ws.on('close', () => ac.abort())
      ws.once('message', async (data) => {
        let begun = false
        const base = { id: `chatcmpl-${randomBytes(12).toString('hex')}`, object: CHAT.chunkObject, created: Math.floor(Date.now() / 1000), model: '' }
        try {
          let body: unknown
          try { body = JSON.parse(data.toString()) } catch { throw new HttpError(400, 'invalid_json', 'message is not JSON') }
          const r = parseChatRequest(body, opts.defaultMaxTokens)
          if (r.n > 1) throw new HttpError(400, 'unsupported_value', "'n' other than 1 is not supported on the WebSocket endpoint", 'n')
          base.model = r.gen.model
          const it = svc.generate(r.gen, ac.signal)
          let streamed = ''
          for (;;) {
            const n = await it.next()
            begun = true
            const rest = n.done ? tail(n.value.text, streamed) : ''
            if (rest) ws.send(JSON.stringify({ ...base, choices: [CHAT.chunkChoice(0, rest, null)] }))
            if (!n.done) streamed += n.value.text
            if (n.done) { ws.send(JSON.stringify({ ...base, choices: [CHAT.chunkChoice(0, null, n.value.reason)], usage: usage([n.value]) })); break }
            if (n.value.text) ws.send(JSON.stringify({ ...base, choices: [CHAT.chunkChoice(0, n.value.text, null)] }))
          }
          ws.send(JSON.stringify({ done: true }))
          ws.close(1000)
        } catch (e) {
          if (ws.readyState !== ws.OPEN) return
          if (begun) ws.send(JSON.stringify({ ...base, choices: [CHAT.chunkChoice(0, null, 'error')] }))
          ws.send(JSON.stringify(errorObject(e).body))
          ws.close(1011)
        }
      })
    })
  })
  return { close: () => { if (!wss) return; for (const c of wss.clients) c.terminate(); wss.close() } }
}
