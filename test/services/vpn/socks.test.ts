import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Socket } from 'node:net'
import { parseAuth, parseGreeting, parseRequest, socksHandshake, SocksError } from '../../../src/services/vpn/socks.js'
import { readN, socksConnect } from './helpers.js'

test('SOCKS5 parsers: need more, exact lengths, refusals', () => {
  assert.deepEqual(parseGreeting(Uint8Array.of(5)), { need: true })
  assert.deepEqual(parseGreeting(Uint8Array.of(5, 2, 0)), { need: true })
  assert.deepEqual(parseGreeting(Uint8Array.of(5, 2, 0, 2, 9)), { need: false, value: [0, 2], used: 4 })
  assert.throws(() => parseGreeting(Uint8Array.of(4, 1, 0)), SocksError)
  assert.throws(() => parseGreeting(Uint8Array.of(5, 0)), SocksError)
  assert.deepEqual(parseAuth(Uint8Array.of(1, 1, 97, 1)), { need: true })
  const a = parseAuth(Uint8Array.of(1, 1, 97, 2, 98, 99))
  assert.ok(!a.need && Buffer.from(a.value.user).toString() === 'a' && Buffer.from(a.value.pass).toString() === 'bc' && a.used === 6)
  assert.throws(() => parseAuth(Uint8Array.of(5, 1, 97, 0)), SocksError)
  const v4 = parseRequest(Uint8Array.of(5, 1, 0, 1, 10, 0, 0, 1, 0, 80))
  assert.ok(!v4.need && v4.value.host === '10.0.0.1' && v4.value.port === 80 && v4.used === 10)
  const v6 = parseRequest(Uint8Array.of(5, 1, 0, 4, ...new Array(15).fill(0), 1, 1, 187))
  assert.ok(!v6.need && v6.value.host === '0:0:0:0:0:0:0:1' && v6.value.port === 443)
  const dn = parseRequest(Uint8Array.of(5, 1, 0, 3, 3, 97, 46, 98, 0, 22))
  assert.ok(!dn.need && dn.value.host === 'a.b' && dn.value.port === 22)
  assert.deepEqual(parseRequest(Uint8Array.of(5, 1, 0, 3, 200, 97)), { need: true })
  assert.throws(() => parseRequest(Uint8Array.of(5, 1, 0, 3, 0, 0, 0)), (e: SocksError) => e.rep === 1)
  assert.throws(() => parseRequest(Uint8Array.of(5, 1, 0, 9, 0, 0, 0)), (e: SocksError) => e.rep === 8)
  assert.throws(() => parseRequest(Uint8Array.of(5, 1, 1, 1, 0, 0, 0, 0, 0, 0)), (e: SocksError) => e.rep === 1)
})

async function server(auth?: { user: string; pass: string }) {
  const results: Array<string> = []
  const srv = createServer((s: Socket) => {
    socksHandshake(s, { ...(auth ? { auth } : {}), timeoutMs: 5000 }).then((r) => {
      results.push(`${r.cmd} ${r.host}:${r.port}`)
      s.write(Uint8Array.of(5, 0, 0, 1, 0, 0, 0, 0, 0, 0))
      s.resume()
      s.on('data', (b) => s.write(b)) // echo what follows the request
    }, (e: Error) => { results.push(`err ${e.message}`); s.destroy() })
  })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))
  return { port: (srv.address() as { port: number }).port, results, close: () => new Promise<void>((r) => srv.close(() => r())) }
}

test('handshake over a socket: no auth, RFC 1929 user/password right and wrong, unsupported commands', async () => {
  const open = await server()
  try {
    const c = await socksConnect(open.port, 'example.com', 443)
    assert.equal(c.rep, 0)
    c.s.write('ping')
    assert.equal((await readN(c.s, 4)).toString(), 'ping')
    c.s.destroy()
    // a client that offers only user/password to a server without auth is refused with 0xff
    const u = await socksConnect(open.port, 'x', 1, { auth: ['a', 'b'] })
    assert.equal(u.rep, -1)
    u.s.destroy()
    // UDP ASSOCIATE (3) and BIND (2): "command not supported"
    for (const cmd of [2, 3]) {
      const { connect } = await import('node:net')
      const s = connect({ host: '127.0.0.1', port: open.port })
      s.write(Uint8Array.of(5, 1, 0))
      assert.deepEqual([...await readN(s, 2)], [5, 0])
      s.write(Uint8Array.of(5, cmd, 0, 1, 1, 2, 3, 4, 0, 53))
      assert.deepEqual([...await readN(s, 2)], [5, 7])
      s.destroy()
    }
  } finally { await open.close() }

  const locked = await server({ user: 'alice', pass: 's3cret' })
  try {
    const ok = await socksConnect(locked.port, '1.2.3.4', 80, { literal: true, auth: ['alice', 's3cret'] })
    assert.equal(ok.rep, 0)
    ok.s.destroy()
    const wrong = await socksConnect(locked.port, '1.2.3.4', 80, { literal: true, auth: ['alice', 's3creT'] })
    assert.equal(wrong.rep, -2)
    wrong.s.destroy()
    const none = await socksConnect(locked.port, '1.2.3.4', 80, { literal: true })
    assert.equal(none.rep, -1)
    none.s.destroy()
  } finally { await locked.close() }
  assert.ok(locked.results.includes('1 1.2.3.4:80'))
  assert.ok(locked.results.some((r) => r.includes('bad username or password')))
})
