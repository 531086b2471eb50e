/**
 * OpenAI-style chat completions on the node's local HTTP API:
 *   POST /v1/chat/completions          JSON, or Server-Sent Events with `"stream": true`
 *   GET  /v1/chat/completions/ws       WebSocket: send one request object, receive chunk objects, then `{"done":true}`
 *   GET  /v1/models
 */
import { randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import type { HttpApi } from '../interfaces/node-context.js'
import { ZeoneError } from '../util/errors.js'
import { normalizeSampling } from './sampling.js'
import type { CortexService, GenerateRequest } from './service.js'

export const MAX_BODY_BYTES = 1024 * 1024

interface ChatBody {
  model?: unknown; messages?: unknown; prompt?: unknown; max_tokens?: unknown; temperature?: unknown; top_p?: unknown
  top_k?: unknown; seed?: unknown; stop?: unknown; stream?: unknown
}

export class HttpError extends ZeoneError {
  override readonly name = 'HttpError'
  constructor(readonly status: number, code: string, message: string) { super(code, message) }
}

/** Validates an OpenAI-style request body into a GenerateRequest. */
export function parseChatRequest(b: ChatBody, defaultMaxTokens = 128): GenerateRequest & { stream: boolean } {
  if (typeof b.model !== 'string' || !b.model) throw new HttpError(400, 'bad_request', 'model is required')
  let prompt: string
  if (typeof b.prompt === 'string') prompt = b.prompt
  else if (Array.isArray(b.messages) && b.messages.length > 0 && b.messages.length <= 256) {
    const msgs = b.messages.map((m) => {
      const mm = m as { role?: unknown; content?: unknown }
      if (typeof mm?.content !== 'string' || typeof mm.role !== 'string') throw new HttpError(400, 'bad_request', 'each message needs role and content strings')
      return { role: mm.role, content: mm.content }
    })
    prompt = msgs.length === 1 && msgs[0]!.role === 'user' ? msgs[0]!.content : msgs.map((m) => `${m.role}: ${m.content}\n`).join('') + 'assistant:'
  } else throw new HttpError(400, 'bad_request', 'messages (or prompt) is required')
  const num = (v: unknown, name: string): number | undefined => {
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new HttpError(400, 'bad_request', `${name} must be a number`)
    return v
  }
  const maxTokens = num(b.max_tokens, 'max_tokens') ?? defaultMaxTokens
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new HttpError(400, 'bad_request', 'max_tokens must be a positive integer')
  const stop = b.stop === undefined || b.stop === null ? [] : typeof b.stop === 'string' ? [b.stop] : b.stop
  if (!Array.isArray(stop) || stop.length > 8 || !stop.every((s) => typeof s === 'string')) throw new HttpError(400, 'bad_request', 'stop must be a string or up to 8 strings')
  let sampling
  try { sampling = normalizeSampling({ temperature: num(b.temperature, 'temperature') ?? 0, topP: num(b.top_p, 'top_p'), topK: num(b.top_k, 'top_k'), seed: num(b.seed, 'seed') }) } catch (e) {
    throw new HttpError(400, 'bad_request', (e as Error).message)
  }
  return { model: b.model, prompt, maxTokens, stop: stop as string[], ...sampling, stream: b.stream === true }
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, 'too_large', 'request body too large')
  const parts: Buffer[] = []
  let n = 0
  for await (const c of req) {
    n += (c as Buffer).length
    if (n > MAX_BODY_BYTES) throw new HttpError(413, 'too_large', 'request body too large')
    parts.push(c as Buffer)
  }
  try { return JSON.parse(Buffer.concat(parts).toString('utf8')) } catch { throw new HttpError(400, 'bad_json', 'body is not JSON') }
}

function chunk(id: string, model: string, created: number, content: string | null, finish: string | null, role?: 'assistant'): object {
  const delta = content === null ? {} : role ? { role, content } : { content }
  return { id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] }
}

function sendError(res: ServerResponse, e: unknown): void {
  const code = e instanceof ZeoneError ? e.code : ''
  const status = e instanceof HttpError ? e.status
    : ['no_route', 'no_replacement', 'failover_exhausted', 'capacity', 'busy'].includes(code) ? 503
      : ['untokenizable', 'empty_prompt', 'context_full', 'bad_input'].includes(code) ? 400 : 500
  if (res.headersSent) { res.end(); return }
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify({ error: { message: (e as Error).message, type: e instanceof ZeoneError ? e.code : 'internal' } }))
}

export function registerHttp(http: HttpApi, svc: CortexService, opts: { defaultMaxTokens?: number } = {}): { close(): void } {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_BODY_BYTES })
  http.route('GET', '/v1/models', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ object: 'list', data: svc.models().map((m) => ({ id: m.id, object: 'model', owned_by: 'zeone', layers: [m.start, m.end], total_layers: m.layers })) }))
  })
  http.route('POST', '/v1/chat/completions', async (req, res) => {
    const ac = new AbortController()
    res.on('close', () => ac.abort())
    try {
      const r = parseChatRequest((await readBody(req)) as ChatBody, opts.defaultMaxTokens)
      const id = `chatcmpl-${randomBytes(8).toString('hex')}`
      const created = Math.floor(Date.now() / 1000)
      const it = svc.generate(r, ac.signal)
      if (r.stream) {
        let first = await it.next()
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
        // OpenAI clients (the official SDK's stream helper) expect the first delta to carry the role.
        res.write(`data: ${JSON.stringify(chunk(id, r.model, created, '', null, 'assistant'))}\n\n`)
        while (!first.done) {
          if (first.value.text) res.write(`data: ${JSON.stringify(chunk(id, r.model, created, first.value.text, null))}\n\n`)
          first = await it.next()
        }
        res.write(`data: ${JSON.stringify(chunk(id, r.model, created, null, first.value.reason))}\n\n`)
        res.end('data: [DONE]\n\n')
      } else {
        let n = await it.next()
        while (!n.done) n = await it.next()
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({
          id, object: 'chat.completion', created, model: r.model,
          choices: [{ index: 0, message: { role: 'assistant', content: n.value.text }, finish_reason: n.value.reason }],
          usage: { completion_tokens: n.value.ids.length },
        }))
      }
    } catch (e) {
      if (!ac.signal.aborted) sendError(res, e)
    }
  })
  http.upgrade('/v1/chat/completions/ws', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const ac = new AbortController()
      ws.on('close', () => ac.abort())
      ws.once('message', async (data) => {
        try {
          let body: unknown
          try { body = JSON.parse(data.toString()) } catch { throw new HttpError(400, 'bad_json', 'message is not JSON') }
          const r = parseChatRequest(body as ChatBody, opts.defaultMaxTokens)
          const id = `chatcmpl-${randomBytes(8).toString('hex')}`
          const created = Math.floor(Date.now() / 1000)
          const it = svc.generate(r, ac.signal)
          for (;;) {
            const n = await it.next()
            if (n.done) { ws.send(JSON.stringify(chunk(id, r.model, created, null, n.value.reason))); break }
            if (n.value.text) ws.send(JSON.stringify(chunk(id, r.model, created, n.value.text, null)))
          }
          ws.send(JSON.stringify({ done: true }))
          ws.close(1000)
        } catch (e) {
          if (ws.readyState === ws.OPEN) { ws.send(JSON.stringify({ error: { message: (e as Error).message, type: e instanceof ZeoneError ? e.code : 'internal' } })); ws.close(1011) }
        }
      })
    })
  })
  return { close: () => { for (const c of wss.clients) c.terminate(); wss.close() } }
}
