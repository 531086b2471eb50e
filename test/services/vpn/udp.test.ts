/**
 * SOCKS5 UDP ASSOCIATE over two real nodes on loopback: a UDP echo server reached through A's relay port and exit B
 * (bytes checked, reply header names the echo server); a destination the policy refuses gets nothing and is counted;
 * hostile datagrams (short, FRAG != 0, RSV, bad ATYP, bad name, port 0, from the wrong source port; oversized ones
 * cannot be sent over IPv4 loopback, so the codec test covers them) are dropped and counted;
 * closing the TCP control connection ends the association on both nodes; both ledgers count the datagram bytes.
 * Codec: hostile VPN_UDP_* bodies and SOCKS UDP headers.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { connect, type Socket } from 'node:net'
import type { ZeoneNode } from '../../../src/node.js'
import { encode } from '../../../src/wire/cbor.js'
import { buildUdpReply, parseUdpRequest, UdpHeaderError } from '../../../src/services/vpn/socks-udp.js'
import { decodeUdpAssociate, decodeUdpAssociateResult, decodeUdpClose, decodeUdpData, encodeUdpAssociate, encodeUdpAssociateResult, encodeUdpClose, encodeUdpData, MAX_DATAGRAM } from '../../../src/services/vpn/udp-messages.js'
import { readFileSync } from 'node:fs'
import { exitRef, readN, socksPort, startVpnNode, tempDir, until } from './helpers.js'

const header = (ip: string, port: number): Buffer => Buffer.from([0, 0, 0, 1, ...ip.split('.').map(Number), port >> 8, port & 255])
const domainHeader = (name: string, port: number): Buffer => Buffer.concat([Buffer.of(0, 0, 0, 3, name.length), Buffer.from(name), Buffer.of(port >> 8, port & 255)])

/** UDP ASSOCIATE by hand: returns the control socket, the reply code and the relay's port. */
async function associate(socks: number, from = { ip: '0.0.0.0', port: 0 }): Promise<{ ctl: Socket; rep: number; relayPort: number; relayIp: string }> {
  const ctl = connect({ host: '127.0.0.1', port: socks })
  await new Promise<void>((r, j) => { ctl.once('connect', () => r()); ctl.once('error', j) })
  ctl.write(Uint8Array.of(5, 1, 0))
  await readN(ctl, 2)
  ctl.write(Buffer.concat([Buffer.of(5, 3, 0), header(from.ip, from.port).subarray(3)]))
  const r = await readN(ctl, 10)
  return { ctl, rep: r[1]!, relayIp: `${r[4]}.${r[5]}.${r[6]}.${r[7]}`, relayPort: r.readUInt16BE(8) }
}

function udp(): Promise<UdpSocket> {
  const s = createSocket('udp4')
  return new Promise((r) => s.bind(0, '127.0.0.1', () => r(s)))
}

/** The next datagram on `s`. */
const next = (s: UdpSocket): Promise<Buffer> => new Promise((r) => s.once('message', (m) => r(m)))

describe('SOCKS5 UDP ASSOCIATE over two real nodes (loopback)', () => {
  let echo: UdpSocket
  let echoPort: number
  let echoed = 0
  let a: ZeoneNode
  let b: ZeoneNode
  const dirs: Array<{ cleanup: () => void }> = []

  before(async () => {
    echo = await udp()
    echoPort = echo.address().port
    echo.on('message', (m, r) => { echoed++; echo.send(Buffer.concat([Buffer.from('echo:'), m]), r.port, r.address) })
    const db = tempDir('ub'); const da = tempDir('ua'); dirs.push(db, da)
    b = await startVpnNode(db.dir, { vpn: { exit: { enabled: true, policy: [`accept 127.0.0.1:${echoPort}`], udp: { maxAssociationsPerClient: 2 } } } })
    a = await startVpnNode(da.dir, { vpn: { socks: { port: 0, exits: [exitRef(b)] } } })
  })
  after(async () => { await a?.stop(); await b?.stop(); echo?.close(); for (const d of dirs) d.cleanup() })

  it('carries datagrams to a UDP echo server and back, with the RFC 1928 header naming the source', async () => {
    const { ctl, rep, relayPort, relayIp } = await associate(socksPort(a))
    assert.equal(rep, 0)
    assert.equal(relayIp, '127.0.0.1')
    assert.ok(relayPort > 0)
    const me = await udp()
    for (const [i, size] of [[0, 1], [1, 1200], [2, 60_000]] as const) {
      const data = Buffer.alloc(size, i + 1)
      const got = next(me)
      me.send(Buffer.concat([header('127.0.0.1', echoPort), data]), relayPort, '127.0.0.1')
      const m = await got
      assert.ok(m.subarray(0, 10).equals(header('127.0.0.1', echoPort)), 'reply header: ATYP 1, the echo server, its port')
      assert.ok(m.subarray(10).equals(Buffer.concat([Buffer.from('echo:'), data])), `datagram ${i} (${size} B) echoed intact`)
    }
    // a name resolved at the exit (localhost -> 127.0.0.1, the policy's accepted address)
    const got = next(me)
    me.send(Buffer.concat([domainHeader('localhost', echoPort), Buffer.from('by name')]), relayPort, '127.0.0.1')
    assert.ok((await got).subarray(10).equals(Buffer.from('echo:by name')))
    const ue = b.services.get('vpnUdpExit')!
    assert.equal(ue.associations, 1)
    // metering: every datagram's bytes both ways, the same count on both sides
    const expect = BigInt(1 + 1200 + 60_000 + 7 + 3 * 5 + 5 + 1 + 1200 + 60_000 + 7)
    ctl.destroy()
    await until(() => ue.associations === 0 && a.services.get('vpnClient')!.openAssociations === 0, 'the association to end with its control connection')
    assert.equal(ue.carriedFor(a.identity.nodeIdB64), expect)
    assert.equal(a.services.get('vpnClient')!.carriedVia(b.identity.publicKey), expect)
    // the relay socket is closed with it: its port can be bound again
    const again = createSocket('udp4')
    await new Promise<void>((r, j) => { again.once('error', j); again.bind(relayPort, '127.0.0.1', () => r()) })
    again.close()
    me.close()
  })

  it('drops refused destinations and hostile datagrams, counting each; only the control connection\'s source port is relayed', async () => {
    const { ctl, rep, relayPort } = await associate(socksPort(a))
    assert.equal(rep, 0)
    const me = await udp()
    const other = await udp()
    const drops = a.services.get('vpnSocks')!.udpDrops
    const ue = b.services.get('vpnUdpExit')!
    const policyBefore = ue.counts.dropped.get('policy') ?? 0
    const echoedBefore = echoed
    // first datagram fixes the client port; it goes through
    const got = next(me)
    me.send(Buffer.concat([header('127.0.0.1', echoPort), Buffer.from('first')]), relayPort, '127.0.0.1')
    assert.ok((await got).subarray(10).equals(Buffer.from('echo:first')))
    const send = (s: UdpSocket, b: Buffer): Promise<void> => new Promise((r) => s.send(b, relayPort, '127.0.0.1', () => r()))
    const count = (k: string): number => drops.get(k) ?? 0
    const before = Object.fromEntries(['short', 'frag', 'rsv', 'atyp', 'oversize', 'wrong_source', 'host', 'port'].map((k) => [k, count(k)]))
    await send(me, Buffer.of(0, 0))
    await send(me, Buffer.of(0, 0, 0, 1, 127, 0))
    await send(me, Buffer.concat([Buffer.of(0, 0, 1), header('127.0.0.1', echoPort).subarray(3), Buffer.from('frag')]))
    await send(me, Buffer.concat([Buffer.of(1, 0, 0), header('127.0.0.1', echoPort).subarray(3)]))
    await send(me, Buffer.of(0, 0, 0, 9, 1, 2, 3, 4, 0, 80))
    await send(me, Buffer.concat([domainHeader('bad name!', echoPort), Buffer.from('x')]))
    await send(me, header('127.0.0.1', 0))
    await send(other, Buffer.concat([header('127.0.0.1', echoPort), Buffer.from('from another port')]))
    await until(() => count('wrong_source') > before.wrong_source!, 'the wrong-source datagram to be counted')
    for (const k of ['short', 'frag', 'rsv', 'atyp', 'host', 'port']) assert.ok(count(k) > before[k]!, `${k} counted: ${JSON.stringify([...drops])}`)
    assert.ok(count('short') >= before.short! + 2)
    // destinations the exit policy refuses: private, loopback on another port, a name resolving to loopback, metadata
    for (const h of [header('10.0.0.1', 53), header('127.0.0.2', echoPort), header('127.0.0.1', echoPort + 1 > 65535 ? 1 : echoPort + 1), header('169.254.169.254', 80), domainHeader('localhost', 53)]) {
      await send(me, Buffer.concat([h, Buffer.from('refuse me')]))
    }
    await until(() => (ue.counts.dropped.get('policy') ?? 0) >= policyBefore + 5, 'the exit to refuse five datagrams by policy')
    // still alive, and the echo server saw only the first datagram of this test
    const last = next(me)
    me.send(Buffer.concat([header('127.0.0.1', echoPort), Buffer.from('last')]), relayPort, '127.0.0.1')
    assert.ok((await last).subarray(10).equals(Buffer.from('echo:last')))
    assert.equal(echoed, echoedBefore + 2)
    ctl.destroy(); me.close(); other.close()
    await until(() => ue.associations === 0, 'the association to end')
  })

  it('refuses associations over the per-client limit with SOCKS reply 1', async () => {
    const one = await associate(socksPort(a))
    const two = await associate(socksPort(a))
    const three = await associate(socksPort(a))
    assert.deepEqual([one.rep, two.rep, three.rep], [0, 0, 1])
    assert.ok((b.services.get('vpnUdpExit')!.counts.refused.get('client_udp') ?? 0) >= 1)
    for (const x of [one, two, three]) x.ctl.destroy()
    await until(() => b.services.get('vpnUdpExit')!.associations === 0, 'associations to end')
  })
})

describe('UDP codecs under hostile input', () => {
  it('parseUdpRequest refuses short, FRAG, RSV, ATYP, empty name, port 0 and oversized', () => {
    const cases: Array<[Buffer, string]> = [
      [Buffer.of(), 'short'], [Buffer.of(0, 0, 0), 'short'], [Buffer.of(0, 0, 0, 1, 1, 2, 3, 4, 0), 'short'],
      [Buffer.of(0, 0, 0, 4, ...new Array(17).fill(0)), 'short'], [Buffer.of(0, 0, 0, 3, 10, 97, 98), 'short'],
      [Buffer.of(0, 0, 0, 3, 0, 0, 80), 'host'], [Buffer.of(0, 0, 5, 1, 1, 2, 3, 4, 0, 80), 'frag'],
      [Buffer.of(0, 1, 0, 1, 1, 2, 3, 4, 0, 80), 'rsv'], [Buffer.of(0, 0, 0, 2, 1, 2, 3, 4, 0, 80), 'atyp'],
      [Buffer.of(0, 0, 0, 1, 1, 2, 3, 4, 0, 0), 'port'], [Buffer.concat([Buffer.of(0, 0, 0, 1, 1, 2, 3, 4, 0, 80), Buffer.alloc(MAX_DATAGRAM + 1)]), 'oversize'],
    ]
    for (const [b, why] of cases) assert.throws(() => parseUdpRequest(b), (e: unknown) => e instanceof UdpHeaderError && e.drop === why, `${b.subarray(0, 12).toString('hex')}: ${why}`)
    const ok = parseUdpRequest(Buffer.of(0, 0, 0, 4, ...new Array(15).fill(0), 1, 0x01, 0xbb, 7))
    assert.deepEqual([ok.host, ok.port, [...ok.data]], ['0:0:0:0:0:0:0:1', 443, [7]])
    assert.ok(buildUdpReply('1.2.3.4', 53, Buffer.of(9)).equals(Buffer.of(0, 0, 0, 1, 1, 2, 3, 4, 0, 53, 9)))
    assert.equal(buildUdpReply('::1', 53, Buffer.of()).length, 22)
  })

  it('VPN_UDP_DATA: a name as a reply source, unknown keys, oversized data, bad ids are refused; vectors', () => {
    const base = { v: 1, r: 1, a: 1, host: '1.2.3.4', port: 53, d: new Uint8Array([1]) }
    assert.deepEqual(decodeUdpData(encode(base)), { role: 1, assoc: 1, host: '1.2.3.4', port: 53, data: new Uint8Array([1]) })
    for (const bad of [{ ...base, host: 'example.com' }, { ...base, x: 1 }, { ...base, a: 0 }, { ...base, port: 0 }, { ...base, d: 'text' },
      { ...base, v: 2 }, { ...base, d: new Uint8Array(MAX_DATAGRAM + 1) }, { ...base, r: 0, host: 'bad name' }]) {
      assert.throws(() => decodeUdpData(encode(bad as never)), (e: Error) => ['VpnWireError', 'CborError'].includes(e.name), JSON.stringify(bad).slice(0, 80))
    }
    assert.throws(() => decodeUdpAssociate(encode({ v: 1, a: 2 ** 32 })), { name: 'VpnWireError' })
    // the vectors of docs/protocol/vpn.md §Vectors
    const doc = readFileSync('docs/protocol/vpn.md', 'utf8')
    const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
    const cases: Array<[Uint8Array, string, (b: Uint8Array) => unknown, unknown]> = [
      [encodeUdpAssociate({ assoc: 1 }), 'a2616101617601', decodeUdpAssociate, { assoc: 1 }],
      [encodeUdpAssociateResult({ assoc: 1, rep: 0 }), 'a36161016176016372657000', decodeUdpAssociateResult, { assoc: 1, rep: 0 }],
      [encodeUdpData({ role: 0, assoc: 1, host: 'example.com', port: 53, data: Uint8Array.of(1, 2) }),
        'a6616101616442010261720061760164686f73746b6578616d706c652e636f6d64706f72741835', decodeUdpData,
        { role: 0, assoc: 1, host: 'example.com', port: 53, data: Buffer.of(1, 2) }],
      [encodeUdpClose({ role: 1, assoc: 1, reason: 'idle_timeout' }), 'a4616101617201617601637768796c69646c655f74696d656f7574', decodeUdpClose, { role: 1, assoc: 1, reason: 'idle_timeout' }],
    ]
    for (const [b, v, dec, val] of cases) {
      assert.equal(hex(b), v)
      assert.ok(doc.includes(v), `vector ${v} in the doc`)
      assert.deepEqual(dec(Buffer.from(v, 'hex')), val)
    }
  })
})
