/**
 * A minimal OTLP/HTTP JSON collector for tests: keeps every span exported to it, tagged with the
 * `service.instance.id` of the node that sent it, and checks each export's path and content type.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type IncomingMessage } from 'node:http'

export interface OtlpAttr { key: string; value: { stringValue?: string; intValue?: string | number } }
export interface OtlpSpan {
  traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number
  events?: { name: string }[]; attributes?: OtlpAttr[]
}
export interface CollectedSpan extends OtlpSpan { node: string }

export interface Collector { url: string; spans: CollectedSpan[]; requests(): number; close(): Promise<void> }

export async function collector(): Promise<Collector> {
  const spans: CollectedSpan[] = []
  let requests = 0
  const srv = createServer((req: IncomingMessage, res) => {
    const parts: Buffer[] = []
    req.on('data', (b: Buffer) => parts.push(b))
    req.on('end', () => {
      requests++
      assert.equal(req.url, '/v1/traces')
      assert.match(String(req.headers['content-type']), /application\/json/)
      const body = JSON.parse(Buffer.concat(parts).toString()) as { resourceSpans: { resource?: { attributes?: OtlpAttr[] }; scopeSpans: { spans: OtlpSpan[] }[] }[] }
      for (const rs of body.resourceSpans) {
        const node = rs.resource?.attributes?.find((a) => a.key === 'service.instance.id')?.value.stringValue ?? '?'
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, node })
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const port = (srv.address() as { port: number }).port
  return { url: `http://127.0.0.1:${port}/v1/traces`, spans, requests: () => requests, close: () => new Promise((r) => srv.close(() => r())) }
}
