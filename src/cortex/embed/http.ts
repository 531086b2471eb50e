/**
 * OpenAI-compatible `POST /v1/embeddings` on the node's local HTTP API, next to /v1/chat/completions:
 * `{model, input: string | string[], encoding_format?: 'float' | 'base64', dimensions?, user?}` ->
 * `{object: 'list', data: [{object: 'embedding', index, embedding}], model, usage: {prompt_tokens, total_tokens}}`.
 * base64 = the little-endian float32 bytes (what the `openai` client asks for by default and decodes).
 * Errors are OpenAI error objects (400 invalid request, 404 unknown model).
 */
import type { HttpApi } from '../../interfaces/node-context.js'
import { ZeoneError } from '../../util/errors.js'
import { readBody, sendError } from '../http.js'
import { HttpError } from '../openai-schema.js'
import type { EmbedService } from './service.js'

const KNOWN = new Set(['model', 'input', 'encoding_format', 'dimensions', 'user'])

export function parseEmbeddingsRequest(b: unknown): { model: string; input: unknown; format: 'float' | 'base64'; dimensions?: number } {
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new HttpError(400, 'invalid_request', 'the request body must be a JSON object')
  const o = b as Record<string, unknown>
  for (const k of Object.keys(o)) if (!KNOWN.has(k)) throw new HttpError(400, 'unknown_parameter', `Unrecognized request argument supplied: ${k}`, k)
  if (typeof o.model !== 'string' || !o.model) throw new HttpError(400, 'missing_required_parameter', "you must provide a 'model' parameter", 'model')
  if (o.input === undefined) throw new HttpError(400, 'missing_required_parameter', "you must provide an 'input' parameter", 'input')
  const f = o.encoding_format ?? 'float'
  if (f !== 'float' && f !== 'base64') throw new HttpError(400, 'invalid_value', "'encoding_format' must be 'float' or 'base64'", 'encoding_format')
  if (o.dimensions !== undefined && (typeof o.dimensions !== 'number' || !Number.isSafeInteger(o.dimensions) || o.dimensions < 1)) {
    throw new HttpError(400, 'invalid_value', "'dimensions' must be a positive integer", 'dimensions')
  }
  if (o.user !== undefined && typeof o.user !== 'string') throw new HttpError(400, 'invalid_value', "'user' must be a string", 'user')
  return { model: o.model, input: o.input, format: f, ...(o.dimensions !== undefined ? { dimensions: o.dimensions as number } : {}) }
}

export function registerEmbeddingsHttp(http: HttpApi, svc: EmbedService): void {
  http.route('POST', '/v1/embeddings', async (req, res) => {
    try {
      const p = parseEmbeddingsRequest(await readBody(req))
      const m = svc.model(p.model)
      if (p.dimensions !== undefined && p.dimensions !== m.embedder.dim) {
        throw new HttpError(400, 'invalid_value', `model '${m.id}' produces ${m.embedder.dim} dimensions; 'dimensions' ${p.dimensions} is not supported`, 'dimensions')
      }
      let r
      try { r = await svc.embed(p.model, p.input) } catch (e) {
        if (e instanceof ZeoneError && e.code === 'bad_input') throw new HttpError(400, 'invalid_value', e.message, 'input')
        throw e
      }
      const data = r.vectors.map((v, index) => ({
        object: 'embedding', index,
        embedding: p.format === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v),
      }))
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ object: 'list', data, model: r.model, usage: { prompt_tokens: r.tokens, total_tokens: r.tokens } }))
    } catch (e) {
      sendError(res, e)
    }
  })
}
