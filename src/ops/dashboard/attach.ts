/**
 * The web dashboard on the node's local HTTP API:
 *  - GET /dashboard: the static page with its script and style inlined (no data in it, so open; Host and Origin are
 *    still checked by the HTTP server), under `Content-Security-Policy: default-src 'self'` plus the inlined blocks'
 *    hashes; /dashboard/app.js, /dashboard/app.css, /dashboard/icon.svg serve the same script, style and icon alone;
 *  - GET /v1/dashboard/snapshot (JSON) and GET /v1/dashboard/stream (server-sent events, one snapshot now and one
 *    per interval): token-protected, like the chat API the page's chat box calls.
 * The page takes the token from a `#token=...` fragment (never sent to the server in the URL) and sends it as a
 * Bearer header. Streams share one ticker: a snapshot is built once per tick, whoever is watching.
 */
import type { ServerResponse } from 'node:http'
import type { LayerHandle, NodeContext } from '../../interfaces/node-context.js'
import { DASHBOARD_CSP, DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_ICON, DASHBOARD_JS } from './assets.js'
import { SnapshotBuilder, type SnapshotSources } from './snapshot.js'

/** Open streams at most (each is a socket and a write per tick). */
export const MAX_STREAMS = 16
export const DEFAULT_INTERVAL_MS = 1_000

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
}

export interface DashboardOptions {
  /** Time between streamed snapshots. @default 1000 */
  intervalMs?: number
  startedAt?: number
  legacyLinks?: SnapshotSources['legacyLinks']
}

export function attachDashboard(ctx: NodeContext, opts: DashboardOptions = {}): LayerHandle {
  const builder = new SnapshotBuilder({
    ctx, startedAt: opts.startedAt ?? Date.now(), legacyLinks: opts.legacyLinks ?? (() => ctx.router.legacyLinks?.() ?? []),
  })
  const intervalMs = opts.intervalMs ?? DEFAULT_INTERVAL_MS
  const streams = new Set<ServerResponse>()
  let timer: NodeJS.Timeout | undefined
  let stopped = false

  const frame = (): string => `data: ${JSON.stringify(builder.build())}\n\n`
  const tick = (): void => {
    if (streams.size === 0) { clearInterval(timer); timer = undefined; return }
    let data: string
    try { data = frame() } catch (err) { ctx.logger.warn({ err: (err as Error).message }, 'dashboard: snapshot failed'); return }
    // a client that does not read keeps its socket buffer full: drop it rather than queue snapshots without bound
    for (const res of streams) if (res.writableLength > 1 << 20) res.destroy(); else res.write(data)
  }

  const asset = (type: string, body: string) => (_req: unknown, res: ServerResponse): void => {
    res.writeHead(200, { 'content-type': type, ...SECURITY_HEADERS })
    res.end(body)
  }
  ctx.http.route('GET', '/dashboard', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS, 'content-security-policy': DASHBOARD_CSP })
    res.end(DASHBOARD_HTML)
  })
  ctx.http.route('GET', '/dashboard/app.js', asset('text/javascript; charset=utf-8', DASHBOARD_JS))
  ctx.http.route('GET', '/dashboard/app.css', asset('text/css; charset=utf-8', DASHBOARD_CSS))
  ctx.http.route('GET', '/dashboard/icon.svg', asset('image/svg+xml', DASHBOARD_ICON))
  ctx.http.route('GET', '/v1/dashboard/snapshot', (_req, res) => {
    const body = JSON.stringify(builder.build())
    res.writeHead(200, { 'content-type': 'application/json', ...SECURITY_HEADERS })
    res.end(body)
  }, 'token')
  ctx.http.route('GET', '/v1/dashboard/stream', (req, res) => {
    if (stopped || streams.size >= MAX_STREAMS) {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '5' })
      res.end(JSON.stringify({ error: `at most ${MAX_STREAMS} dashboard streams at a time` }))
      return
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', ...SECURITY_HEADERS, connection: 'keep-alive', 'x-accel-buffering': 'no' })
    // the first snapshot goes out at once: that is what the page paints first
    res.write(frame())
    streams.add(res)
    const drop = (): void => { streams.delete(res) }
    req.on('close', drop)
    res.on('close', drop)
    res.on('error', drop)
    timer ??= setInterval(tick, intervalMs)
  }, 'token')

  return {
    stop() {
      stopped = true
      clearInterval(timer)
      timer = undefined
      for (const res of streams) res.end()
      streams.clear()
    },
  }
}

/** The layer entry (src/node.ts LAYERS): the dashboard reads the other layers' services, so it attaches last. */
export async function attach(ctx: NodeContext): Promise<LayerHandle> {
  return attachDashboard(ctx)
}
