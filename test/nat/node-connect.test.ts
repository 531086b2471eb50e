import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { encodeRelayCtl, encodeRelayData, NatMessageType } from '../../src/nat/messages.js'
import { NatService } from '../../src/nat/service.js'
import { UdxDatagramSocket } from '../../src/nat/socket.js'
import { natConfigSchema } from '../../src/nat/config.js'
import { defaultNatComponents } from '../../src/nat/components.js'
import { Identity } from '../../src/crypto/identity.js'
import { StunServer } from '../../src/nat/stun/server.js'
import { attach as attachNat } from '../../src/nat/attach.js'
import type { AttachFn } from '../../src/interfaces/node-context.js'

/** Only the NAT layer: these tests exercise it against the real transport, independent of the other layers. */
const layers: Array<[string, AttachFn]> = [['nat', attachNat]]

/** Three real nodes on loopback: A and B both linked to R (rendezvous); A reaches B over a punched udx path. */
test('connect through a rendezvous: signed signalling, punched udx path, transport handshake, echo over the link', async () => {
  const dirs: string[] = []
  const nodes: ZeoneNode[] = []
  const stun = new StunServer({ primary: { host: '127.0.0.1', port: 0 }, alternate: { host: '127.0.0.2', port: 0 } })
  await stun.start()
  const stunAddr = `127.0.0.1:${stun.addrs.primary.port}`
  const mk = async (bootstrap: string[]): Promise<ZeoneNode> => {
    const d = mkdtempSync(join(tmpdir(), 'zeone-nat-')); dirs.push(d)
    const n = createNode(validateConfig({
      dataDir: d, node: { port: 0, host: '127.0.0.1', bootstrap, legacy: false }, ops: { httpPort: -1, logLevel: 'silent' },
      nat: { udpHost: '127.0.0.1', stunServers: [stunAddr], punch: { timeoutMs: 5000 }, relay: { enabled: true, allowPrivatePeers: true } },
    }), { layers })
    nodes.push(n)
    await n.start()
    return n
  }
  try {
    const r = await mk([])
    const a = await mk([]), b = await mk([])
    await Promise.all([a, b].map((n) => n.transport!.dial({ host: '127.0.0.1', port: r.listenAddress!.port })))
    const waitLinks = async (n: ZeoneNode, k: number): Promise<void> => {
      for (let i = 0; i < 1000 && n.transport!.links().length < k; i++) await new Promise((res) => setTimeout(res, 20))
    }
    await waitLinks(r, 2); await waitLinks(a, 1); await waitLinks(b, 1)
    const nat = a.services.get('nat')!
    const behavior = await nat.discover()
    assert.equal(behavior.mapping, 'none', 'loopback has no NAT')
    const res = await nat.connect(b.identity.publicKey, { via: r.identity.publicKey })
    assert.equal(res.link.peer.nodeIdB64, b.identity.nodeIdB64, 'the handshake over udx proved B')
    assert.equal(res.remote.port, b.services.get('nat')!.socket!.address().port, 'the link runs over B\'s udx socket')
    const payload = new Uint8Array(30_000).map((_, i) => i & 0xff)
    const echo = await res.link.request(NatMessageType.NAT_ECHO, payload)
    assert.ok(Buffer.from(echo.body).equals(Buffer.from(payload)), "echo intact")
    // B sees the same link, inbound
    const back = b.transport!.get(a.identity.publicKey)
    assert.ok(back && !back.peer.outbound)
    const metrics = await a.metrics.getSingleMetricAsString('zeone_nat_connections_total')
    assert.match(metrics, /outcome="direct",method="direct",pair="open-open"/)
    // a rendezvous refuses to signal to a node it has no link to
    await assert.rejects(nat.connect(new Uint8Array(32).fill(1), { via: r.identity.publicKey }), /not connected here/)
  } finally {
    for (const n of nodes.reverse()) await n.stop()
    await stun.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  }
})

test('relay circuit: end-to-end handshake through a relay, metered, limits and policy enforced, upgrade to direct without dropping the session', async () => {
  const dirs: string[] = []
  const nodes: ZeoneNode[] = []
  const recorded: Array<{ units: bigint; direction: string }> = []
  const mk = async (bootstrap: string[], relay: object): Promise<ZeoneNode> => {
    const d = mkdtempSync(join(tmpdir(), 'zeone-nat-')); dirs.push(d)
    const n = createNode(validateConfig({
      dataDir: d, node: { port: 0, host: '127.0.0.1', bootstrap, legacy: false }, ops: { httpPort: -1, logLevel: 'silent' },
      nat: { udpHost: '127.0.0.1', relay },
    }), { layers })
    n.services.provide('usage', {
      authorize() {},
      record(_id: Uint8Array, service: string, units: bigint, direction: 'served' | 'consumed') { if (service === 'relay') recorded.push({ units, direction }); return 0n },
    })
    nodes.push(n)
    await n.start()
    return n
  }
  const waitLinks = async (n: ZeoneNode, k: number): Promise<void> => {
    for (let i = 0; i < 1000 && n.transport!.links().length < k; i++) await new Promise((res) => setTimeout(res, 20))
  }
  try {
    // a relay that refuses loopback peers (the default policy)
    const strict = await mk([], { enabled: true })
    const r = await mk([], { enabled: true, allowPrivatePeers: true, maxCircuitsPerPeer: 1 })
    const a = await mk([], {}), b = await mk([], {})
    for (const n of [a, b]) for (const port of [r.listenAddress!.port, strict.listenAddress!.port]) await n.transport!.dial({ host: '127.0.0.1', port })
    await waitLinks(a, 2); await waitLinks(b, 2); await waitLinks(r, 2); await waitLinks(strict, 2)
    const nat = a.services.get('nat')!
    await assert.rejects(nat.connect(b.identity.publicKey, { via: strict.identity.publicKey, relayOnly: true }), /relay/)
    const res = await nat.connect(b.identity.publicKey, { via: r.identity.publicKey, relayOnly: true })
    assert.equal(res.method, 'relay')
    assert.equal(res.link.peer.nodeIdB64, b.identity.nodeIdB64, 'handshake end to end through the relay')
    const payload = Buffer.alloc(300_000, 0x5a)
    // a third node linked to the relay cannot inject into, switch or close someone else's circuit
    const intruder = await strict.transport!.dial({ host: '127.0.0.1', port: r.listenAddress!.port })
    intruder.send(NatMessageType.NAT_RELAY_DATA, encodeRelayData(1, new Uint8Array([1, 2, 3])))
    intruder.send(NatMessageType.NAT_RELAY_SWITCH, encodeRelayCtl({ v: 1, c: 1 }))
    intruder.send(NatMessageType.NAT_RELAY_CLOSE, encodeRelayCtl({ v: 1, c: 1 }))
    intruder.send(NatMessageType.NAT_RELAY_DATA, new Uint8Array([0xff, 0x00]))
    for (let i = 0; i < 4; i++) {
      const chunk = payload.subarray(0, 60_000)
      const e = await res.link.request(NatMessageType.NAT_ECHO, chunk)
      assert.ok(Buffer.from(e.body).equals(chunk))
    }
    // upgrade: the same link (same session) moves from the relay to a punched udx path
    const rNat = r.services.get('nat')!
    assert.equal(rNat.relayCircuits, 1)
    const up = await nat.upgrade(b.identity.publicKey)
    assert.equal(up.method, 'direct')
    for (let i = 0; i < 100 && rNat.relayCircuits > 0; i++) await new Promise((res2) => setTimeout(res2, 20))
    assert.equal(rNat.relayCircuits, 0, 'the relay circuit is released once both sides switched')
    assert.equal(a.transport!.get(b.identity.publicKey), res.link, 'no new link: the session continued')
    for (let i = 0; i < 4; i++) {
      const chunk = payload.subarray(i * 1000, i * 1000 + 50_000)
      const e = await res.link.request(NatMessageType.NAT_ECHO, chunk)
      assert.ok(Buffer.from(e.body).equals(chunk), 'echo intact after the switch')
    }
    res.link.close('done')
    const sum = (): bigint => recorded.reduce((s, x) => s + x.units, 0n)
    for (let i = 0; i < 100 && sum() < 480_000n; i++) await new Promise((res2) => setTimeout(res2, 20))
    const total = sum()
    assert.ok(total >= 480_000n, `relayed bytes metered (${total})`)
    assert.ok(recorded.every((x) => x.direction === 'served'))
  } finally {
    for (const n of nodes.reverse()) await n.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  }
})

test('NatService: construct then stop (twice), stop before start, start then stop leaves nothing running', async () => {
  const mk = (): NatService => {
    return new NatService({
      identity: Identity.fromSeed(new Uint8Array(32).fill(5)), config: natConfigSchema.parse({ udpHost: '127.0.0.1' }),
      links: { dial: async () => { throw new Error('x') }, get: () => undefined, links: () => [], onLink: () => () => {} },
      router: { handle: () => () => {} }, components: defaultNatComponents(),
    })
  }
  const a = mk()
  await a.stop(); await a.stop()
  const b = mk()
  await b.start()
  assert.ok(b.socket!.address().port > 0)
  await assert.rejects(b.connect(new Uint8Array(32)), /no linked rendezvous/)
  await b.stop(); await b.stop()
})

test('NatService: sockets, listeners, clock and random come from the injected components; stop() closes what it bound', async () => {
  const bound: UdxDatagramSocket[] = []
  let drawn = 0
  const svc = new NatService({
    identity: Identity.fromSeed(new Uint8Array(32).fill(6)), config: natConfigSchema.parse({ udpHost: '127.0.0.1' }),
    links: { dial: async () => { throw new Error('x') }, get: () => undefined, links: () => [], onLink: () => () => {} },
    router: { handle: () => () => {} },
    components: defaultNatComponents({
      bindUdp: (port, host) => { const s = UdxDatagramSocket.bind(port, host); bound.push(s); return s },
      random: (n) => { drawn += n; return new Uint8Array(n).fill(7) },
    }),
  })
  await svc.start()
  await svc.start() // idempotent: no second socket
  assert.equal(bound.length, 1)
  assert.equal(svc.socket, bound[0])
  await svc.stop()
  assert.equal(bound[0]!.raw.closing, true, 'the bound socket is closed at stop')
  assert.equal(drawn, 0, 'nothing drawn without a punch')
})
