/** The dashboard's HTTP side without a browser (runs everywhere): static files under a strict CSP, data routes behind
 *  the token and the Host/Origin checks, the stream's first snapshot at once and later ones following the network,
 *  a bound on open streams, and streams ended when the node stops. */
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { readApiToken } from '../../src/ops/api-token.js'
import { MAX_STREAMS } from '../../src/ops/dashboard/attach.js'
import type { Snapshot } from '../../src/ops/dashboard/snapshot.js'

const dirs: string[] = []
const nodes: ZeoneNode[] = []
after(async () => {
  for (const n of nodes.reverse()) await n.stop()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

async function start(bootstrap: string[] = []): Promise<ZeoneNode> {
  const dataDir = mkdtempSync(join(tmpdir(), 'zeone-dash-api-'))
  dirs.push(dataDir)
  const n = createNode(validateConfig({ dataDir, node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap }, ops: { httpPort: 0, logLevel: 'silent' }, dht: { staticPuzzleBits: 0 } }))
  nodes.push(n)
  await n.start()
  return n
}

/** Reads server-sent events from a stream response, one parsed snapshot per call. */
function events(res: Response): { next(): Promise<Snapshot | undefined>; cancel(): Promise<void> } {
  const reader = res.body!.getReader()
  const dec = new TextDecoder()
  let buf = ''
  return {
    async next() {
      for (;;) {
        const i = buf.indexOf('\n\n')
        if (i >= 0) {
          const ev = buf.slice(0, i)
          buf = buf.slice(i + 2)
          assert.ok(ev.startsWith('data: '), ev.slice(0, 40))
          return JSON.parse(ev.slice(6)) as Snapshot
        }
        const r = await reader.read()
        if (r.done) return undefined
        buf += dec.decode(r.value, { stream: true })
      }
    },
    cancel: () => reader.cancel(),
  }
}

/** A raw GET with any Host header (fetch will not send a foreign Host). */
function rawGet(port: number, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('error', reject)
    req.end()
  })
}

test('dashboard API: CSP on the static files, token and origin checks, a live stream, bounded streams, ended on stop', { timeout: 120_000 }, async () => {
  const a = await start()
  const port = a.httpAddress!.port
  const base = `http://127.0.0.1:${port}`
  const token = readApiToken(a.dataDir)!
  const auth = { authorization: `Bearer ${token}` }

  for (const [path, type] of [['/dashboard', 'text/html'], ['/dashboard/app.js', 'text/javascript'], ['/dashboard/app.css', 'text/css'], ['/dashboard/icon.svg', 'image/svg+xml']] as const) {
    const r = await fetch(`${base}${path}`)
    assert.equal(r.status, 200, path)
    assert.ok(r.headers.get('content-type')!.startsWith(type), path)
    assert.match(r.headers.get('content-security-policy')!, /^default-src 'self';/, path)
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff', path)
    assert.doesNotMatch(await r.text(), /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, `${path} names no other site`)
  }
  for (const path of ['/v1/dashboard/stream', '/v1/dashboard/snapshot']) {
    assert.equal((await fetch(`${base}${path}`)).status, 401, path)
    assert.equal((await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${'0'.repeat(64)}` } })).status, 401, `${path} with a wrong token`)
    assert.equal((await fetch(`${base}${path}`, { headers: { ...auth, origin: 'https://attacker.example' } })).status, 403, path)
    assert.equal((await fetch(`${base}${path}`, { headers: { ...auth, origin: 'null' } })).status, 403, `${path} from an opaque origin`)
    // a DNS-rebinding page: the browser sends the attacker's name as Host
    assert.equal(await rawGet(port, path, { ...auth, host: `attacker.example:${port}` }), 421, path)
  }
  assert.equal((await fetch(`${base}/v1/dashboard/stream`, { method: 'POST', headers: auth })).status, 405)

  // the first snapshot comes at once; later ones follow the network (b joins)
  const res = await fetch(`${base}/v1/dashboard/stream`, { headers: auth })
  assert.equal(res.status, 200)
  assert.equal(res.headers.get('content-type'), 'text/event-stream')
  const ev = events(res)
  const first = (await ev.next())!
  assert.equal(first.v, 1)
  assert.equal(first.node.id, a.identity.nodeIdB64)
  assert.equal(first.peerCount, 0)
  assert.ok(first.dht && first.transfers && first.economy, 'layers present in the snapshot')
  assert.equal(first.chain, null)
  const b = await start([`127.0.0.1:${a.listenAddress!.port}`])
  let s = first
  while (s.peerCount < 1) s = (await ev.next())!
  assert.ok(s.at > first.at)
  assert.equal(s.peers[0]!.id, b.identity.nodeIdB64)
  assert.equal(s.peers[0]!.net, 'loopback')
  assert.equal(s.peers[0]!.path, 'tcp')
  assert.equal(s.peers[0]!.wire, 'v2')
  assert.match(s.peers[0]!.balance!, /^-?\d+$/)

  // at most MAX_STREAMS at a time (this one counts); one closed makes room again
  const more: Array<ReturnType<typeof events>> = []
  for (let i = 1; i < MAX_STREAMS; i++) {
    const r = await fetch(`${base}/v1/dashboard/stream`, { headers: auth })
    assert.equal(r.status, 200)
    const e = events(r)
    await e.next()
    more.push(e)
  }
  const over = await fetch(`${base}/v1/dashboard/stream`, { headers: auth })
  assert.equal(over.status, 503)
  await over.body?.cancel()
  await more.pop()!.cancel()
  let again: Response | undefined
  for (let i = 0; i < 200; i++) {
    again = await fetch(`${base}/v1/dashboard/stream`, { headers: auth })
    if (again.status === 200) break
    await again.body?.cancel()
    await new Promise((r) => setTimeout(r, 50))
  }
  assert.equal(again!.status, 200, 'a closed stream frees its slot')
  more.push(events(again!))

  // stopping the node ends every stream (clients see the end, nothing hangs)
  await a.stop()
  for (const e of [ev, ...more]) {
    let x: Snapshot | undefined
    do x = await e.next().catch(() => undefined); while (x)
  }
})
