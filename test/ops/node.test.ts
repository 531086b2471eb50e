import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { loadOrCreateIdentity } from '../../src/crypto/identity.js'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { controlCall } from '../../src/cli/control-client.js'
import { createLogger } from '../../src/ops/logger.js'
import type { AttachFn } from '../../src/interfaces/node-context.js'

const dirs: string[] = []
const tmp = (): string => { const d = mkdtempSync(join(tmpdir(), 'zeone-node-')); dirs.push(d); return d }
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

const cfg = (dataDir: string, httpPort = -1) => validateConfig({ dataDir, node: { port: 0, host: '127.0.0.1' }, ops: { httpPort, logLevel: 'silent' }, dht: { staticPuzzleBits: 0 } })

/**
 * Reloads through the control API after the test edited the config file, and returns what that reload changed. The
 * node's own file watcher may have applied the edit first (its debounce is shorter than a control call on a loaded
 * machine): then this reload finds nothing new and the node's last reload holds the change. Either way, no timing.
 */
async function reloadResult(node: ZeoneNode, dataDir: string): Promise<{ live: string[]; restartRequired: string[] }> {
  const r = await controlCall(dataDir, 'POST', '/v1/config/reload') as { applied: boolean; live: string[]; restartRequired: string[] }
  return r.applied ? { live: r.live, restartRequired: r.restartRequired } : node.lastReload
}

function get(port: number, path: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += c.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('node lifecycle', () => {
  it('refuses to start with a group/world-readable identity key and cleans up', async () => {
    const d = tmp()
    loadOrCreateIdentity(d)
    chmodSync(join(d, 'identity.key'), 0o644)
    const node = createNode(cfg(d))
    await assert.rejects(node.start(), (e: Error & { code?: string }) => e.code === 'key_permissions' && /chmod 600/.test(e.message))
    await node.stop()
    assert.equal(existsSync(join(d, 'control.sock')), false)
  })

  it('construct then stop, double start, double stop, start after stop', async () => {
    await createNode(cfg(tmp())).stop()
    const node = createNode(cfg(tmp()))
    const a = node.start()
    assert.equal(node.start(), a)
    await a
    assert.equal(node.state, 'running')
    await Promise.all([node.stop(), node.stop()])
    assert.equal(node.state, 'stopped')
    await assert.rejects(node.start())
  })

  it('attaches layers in order and stops them in reverse', async () => {
    const events: string[] = []
    const layer = (name: string): [string, AttachFn] => [name, async (ctx) => {
      events.push(`attach ${name}`)
      assert.equal(ctx.identity.publicKey.length, 32)
      return { stop: () => { events.push(`stop ${name}`) } }
    }]
    const node = createNode(cfg(tmp()), { layers: [layer('services'), layer('dht'), layer('cortex')] })
    await node.start()
    await node.stop()
    assert.deepEqual(events, ['attach services', 'attach dht', 'attach cortex', 'stop cortex', 'stop dht', 'stop services'])
  })
})

describe('node HTTP and control APIs', () => {
  let node: ZeoneNode
  const d = tmp()
  after(async () => { await node?.stop() })

  it('serves /healthz and Prometheus /metrics on the local HTTP port', async () => {
    node = createNode(cfg(d, 0))
    await node.start()
    const port = node.httpAddress!.port
    const h = await get(port, '/healthz')
    assert.equal(h.status, 200)
    const health = JSON.parse(h.body) as { ok: boolean; nodeId: string }
    assert.equal(health.ok, true)
    assert.equal(health.nodeId, node.identity.nodeIdB64)
    const m = await get(port, '/metrics')
    assert.equal(m.status, 200)
    assert.match(m.type, /text\/plain/)
    assert.match(m.body, /^zeone_process_cpu_user_seconds_total /m)
    assert.match(m.body, /^zeone_legacy_peers 0$/m)
    assert.match(m.body, /^# TYPE zeone_handshake_duration_seconds histogram$/m) // the transport's metrics share the registry
    assert.match(m.body, /^zeone_peers_connected 0$/m)
    assert.equal((await get(port, '/nope')).status, 404)
    assert.equal((await get(port, '/metrics', 'POST')).status, 405)
  })

  it('puts the control socket (0600) in a 0700 data dir and answers the owner', async () => {
    assert.equal(statSync(d).mode & 0o777, 0o700)
    assert.equal(statSync(join(d, 'control.sock')).mode & 0o777, 0o600)
    const status = await controlCall(d, 'GET', '/v1/status') as { nodeId: string; state: string; legacy: boolean }
    assert.equal(status.nodeId, node.identity.nodeIdB64)
    assert.equal(status.legacy, true)
    assert.deepEqual(await controlCall(d, 'GET', '/v1/peers'), [])
    assert.deepEqual(await controlCall(d, 'GET', '/v1/services'), ['echo'])
    await assert.rejects(controlCall(d, 'GET', '/v1/nothing'), (e: Error & { code?: string }) => e.code === 'not_found')
  })

  it('a second node on the same data dir is refused', async () => {
    const second = createNode(cfg(d))
    await assert.rejects(second.start(), (e: Error & { code?: string }) => e.code === 'node_running')
    await second.stop()
    // the first node still answers
    assert.equal((await controlCall(d, 'GET', '/v1/status') as { state: string }).state, 'running')
  })
})

describe('HTTP upgrades and live config reload', () => {
  it('routes WebSocket-style upgrades by path and refuses unknown ones', async () => {
    const dataDir = tmp()
    const node = createNode(cfg(dataDir, 0), { layers: [['t', async (ctx) => {
      ctx.http.upgrade('/v1/ws', (_req, socket) => { socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\nhi') })
      ctx.http.route('POST', '/v1/thing', (_req, res) => { res.end('posted') })
    }]] })
    await node.start()
    try {
      const port = node.httpAddress!.port
      const { connect } = await import('node:net')
      const { readApiToken } = await import('../../src/ops/api-token.js')
      const auth = `Bearer ${readApiToken(dataDir)}`
      const raw = (path: string, host = `127.0.0.1:${port}`): Promise<string> => new Promise((resolve) => {
        const s = connect({ host: '127.0.0.1', port }, () => s.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n`))
        let got = ''
        s.on('data', (b: Buffer) => { got += b.toString() })
        s.on('close', () => resolve(got))
        s.on('error', () => resolve(got))
      })
      assert.match(await raw('/v1/ws'), /^HTTP\/1.1 101[\s\S]*hi$/)
      assert.equal(await raw('/elsewhere'), '')
      assert.match(await raw('/v1/ws', 'x'), /^HTTP\/1.1 421/) // a Host that does not name this server
      assert.equal((await get(port, '/v1/thing', 'POST', { authorization: auth })).body, 'posted')
      assert.equal((await get(port, '/v1/thing', 'POST')).status, 401)
    } finally { await node.stop() }
  })

  it('applies a valid config file change and keeps the old config on an invalid one', async () => {
    const d = tmp()
    const file = join(d, 'zeone.yaml')
    const { writeFileSync } = await import('node:fs')
    const { loadConfig } = await import('../../src/ops/config.js')
    const base = `dataDir: ${JSON.stringify(join(d, 'data'))}\nnode:\n  port: 0\n  host: 127.0.0.1\nops:\n  httpPort: -1\n  logLevel: silent\ndht:\n  staticPuzzleBits: 0\n`
    writeFileSync(file, base)
    let layerCtx: { config: { ops: { logLevel: string } } } | undefined
    const node = createNode(loadConfig({ file }), { configSources: { file }, layers: [['probe', async (ctx) => { layerCtx = ctx }]] })
    await node.start()
    try {
      writeFileSync(file, base.replace('logLevel: silent', 'logLevel: error'))
      assert.equal(node.reloadConfig(), true)
      assert.equal(node.config.ops.logLevel, 'error')
      assert.equal(layerCtx!.config.ops.logLevel, 'error', 'layers see the new config')
      assert.equal((node.logger as unknown as { level: string }).level, 'error')
      writeFileSync(file, base.replace('logLevel: silent', 'logLevel: 7'))
      assert.equal(node.reloadConfig(), false)
      assert.equal(node.config.ops.logLevel, 'error')
      assert.deepEqual(await controlCall(join(d, 'data'), 'POST', '/v1/config/reload'), { applied: false, live: [], restartRequired: [] })
    } finally { await node.stop() }
  })

  it('holds back a changed node.port until a restart and says so, instead of claiming it applied', async () => {
    const d = tmp()
    const file = join(d, 'zeone.yaml')
    const { writeFileSync } = await import('node:fs')
    const { loadConfig } = await import('../../src/ops/config.js')
    const base = `dataDir: ${JSON.stringify(join(d, 'data'))}\nnode:\n  port: 0\n  host: 127.0.0.1\nops:\n  httpPort: -1\n  logLevel: silent\ndht:\n  staticPuzzleBits: 0\n`
    writeFileSync(file, base)
    const node = createNode(loadConfig({ file }), { configSources: { file } })
    await node.start()
    try {
      const port = node.listenAddress!.port
      writeFileSync(file, base.replace('port: 0', 'port: 1').replace('logLevel: silent', 'logLevel: error'))
      // the node watches the file too: whichever reload ran first (the watcher's or this one) applied the change
      const r = await reloadResult(node, join(d, 'data'))
      assert.deepEqual(r, { live: ['ops.logLevel'], restartRequired: ['node.port'] })
      assert.equal(node.config.node.port, 0, 'the config shows the port the node still uses')
      assert.equal(node.config.ops.logLevel, 'error')
      assert.equal(node.listenAddress!.port, port)
    } finally { await node.stop() }
  })
  it('applies layers\' live keys (content cache, service limits) through their onConfig and keeps peer links open', async () => {
    const d = tmp()
    const file = join(d, 'zeone.yaml')
    const { writeFileSync } = await import('node:fs')
    const { loadConfig } = await import('../../src/ops/config.js')
    const base = `dataDir: ${JSON.stringify(join(d, 'data'))}\nnode:\n  port: 0\n  host: 127.0.0.1\n  legacy: false\nops:\n  httpPort: -1\n  logLevel: silent\ndht:\n  staticPuzzleBits: 0\ncontent:\n  window: 8\n  cache:\n    maxBytes: 4000000\n  verifyOnServe: if-changed\nservices:\n  timeoutMs: 30000\n`
    writeFileSync(file, base)
    const node = createNode(loadConfig({ file }), { configSources: { file } })
    await node.start()
    const peer = createNode(validateConfig({ dataDir: tmp(), node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap: [`127.0.0.1:${node.listenAddress!.port}`] }, ops: { httpPort: -1, logLevel: 'silent' }, dht: { staticPuzzleBits: 0 } }))
    await peer.start()
    try {
      const peerCount = async (): Promise<number> => ((await controlCall(join(d, 'data'), 'GET', '/v1/peers')) as unknown[]).length
      while (await peerCount() === 0) await new Promise((r) => setTimeout(r, 20))
      const edited = base.replace('maxBytes: 4000000', 'maxBytes: 1000000').replace('window: 8', 'window: 3')
        .replace('timeoutMs: 30000', 'timeoutMs: 5000').replace('verifyOnServe: if-changed', 'verifyOnServe: always')
      writeFileSync(file, edited)
      const r = await reloadResult(node, join(d, 'data'))
      assert.deepEqual(r, { live: ['content.cache.maxBytes', 'content.window', 'services.timeoutMs'], restartRequired: ['content.verifyOnServe'] })
      // the layers run with the new values: the cache reports its new limit, the node's config shows what runs
      const cache = await controlCall(join(d, 'data'), 'GET', '/v1/content/cache') as { maxBytes: number }
      assert.equal(cache.maxBytes, 1_000_000)
      assert.equal(node.config.content.window, 3)
      assert.equal(node.config.content.verifyOnServe, 'if-changed')
      // and the link to the peer is still the same open link
      assert.equal(await peerCount(), 1)
    } finally { await peer.stop(); await node.stop() }
  })
})

describe('logger', () => {
  it('redacts secrets at any of the first three levels', () => {
    let out = ''
    const sink = new Writable({ write(c: Buffer, _e, cb) { out += c.toString(); cb() } })
    const log = createLogger({ level: 'info', destination: sink as never })
    log.info({ secretKey: 'S1', peer: { password: 'S2', note: 'visible' }, a: { b: { token: 'S3' } } }, 'hello')
    assert.match(out, /visible/)
    assert.doesNotMatch(out, /S1|S2|S3/)
    assert.match(out, /\[redacted\]/)
  })
})
