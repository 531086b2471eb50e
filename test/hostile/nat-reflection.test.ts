/**
 * Hostile peer, issue 14 part 2: signed offers that name a third party's address. Before the fix the node punched
 * towards whatever the offer named: ~256 birthday sockets per offer, thousands of random-port probes at the named IP
 * and TCP connects to a named host:port, and the attacker's sessions held every punch slot so an honest peer could no
 * longer be reached. Real nodes on loopback: rendezvous R, victim V, attacker A (transport only: it never punches),
 * honest H. The named "third party" is a UDP socket and a TCP listener on 127.0.0.2, an address the attacker's link
 * does not come from (so it is not proven); a second victim node with `privateAddresses: 'deny'` must not probe a
 * loopback/private/metadata candidate even at the attacker's own observed address.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createSocket, type Socket as Dgram } from 'node:dgram'
import { createServer, type Server } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { attach as attachNat } from '../../src/nat/attach.js'
import { decodeAnswer, encodeSignal, NatMessageType, type AnswerMsg } from '../../src/nat/messages.js'
import { candidatePriority, encodeCandidateSet, type Candidate } from '../../src/nat/punch/candidates.js'
import { StunServer } from '../../src/nat/stun/server.js'
import { randomBytes } from 'node:crypto'
import type { AttachFn } from '../../src/interfaces/node-context.js'
import { sleep, waitLink } from './nat-helpers.js'
import type { Registry } from 'prom-client'


/** A UDP socket standing for the third party: counts every datagram that reaches it. */
async function udpVictim(host: string): Promise<{ sock: Dgram; port: number; received: () => number }> {
  const sock = createSocket('udp4')
  let n = 0
  sock.on('message', () => { n++ })
  await new Promise<void>((r) => sock.bind(0, host, () => r()))
  return { sock, port: sock.address().port, received: () => n }
}

async function tcpVictim(host: string): Promise<{ srv: Server; port: number; accepted: () => number }> {
  let n = 0
  const srv = createServer((s) => { n++; s.destroy() })
  await new Promise<void>((r) => srv.listen(0, host, () => r()))
  return { srv, port: (srv.address() as { port: number }).port, accepted: () => n }
}

/** Sum of a counter's values (optionally for one label value); fails if the node does not expose it. */
async function counter(reg: Registry, name: string, label?: [string, string]): Promise<number> {
  const m = reg.getSingleMetric(name)
  assert.ok(m, `the node exposes ${name}`)
  const { values } = await m.get()
  return values.filter((v) => !label || v.labels[label[0]] === label[1]).reduce((a, v) => a + v.value, 0)
}

test('offers naming a third party: no socket storm, no probes or TCP connects at unproven or private addresses, rate-limited, the honest peer still connects', { timeout: 120_000 }, async (t) => {
  const dirs: string[] = []
  const nodes: ZeoneNode[] = []
  const closers: Array<() => unknown> = []
  t.after(async () => {
    for (const n of nodes.reverse()) await n.stop()
    for (const c of closers) await c()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })
  const stun = new StunServer({ primary: { host: '127.0.0.1', port: 0 }, alternate: { host: '127.0.0.2', port: 0 } })
  await stun.start()
  closers.push(() => stun.stop())
  const stunAddr = `127.0.0.1:${stun.addrs.primary.port}`
  const mk = async (layers: Array<[string, AttachFn]>, privateAddresses?: 'deny'): Promise<ZeoneNode> => {
    const d = mkdtempSync(join(tmpdir(), 'zeone-hostile-nat-')); dirs.push(d)
    const n = createNode(validateConfig({
      dataDir: d, node: { port: 0, host: '127.0.0.1', bootstrap: [], legacy: false, ...(privateAddresses ? { privateAddresses } : {}) },
      ops: { httpPort: -1, logLevel: 'silent' }, nat: { udpHost: '127.0.0.1', stunServers: [stunAddr], punch: { timeoutMs: 5000 } },
    }), { layers })
    nodes.push(n)
    await n.start()
    return n
  }
  const nat: Array<[string, AttachFn]> = [['nat', attachNat]]
  const r = await mk(nat)
  const v = await mk(nat)
  const h = await mk(nat)
  const a = await mk([])
  for (const n of [v, h, a]) await n.transport!.dial({ host: '127.0.0.1', port: r.listenAddress!.port })
  for (const n of [v, h]) await n.services.get('nat')!.discover()
  const ar = await waitLink(a, r.identity.publicKey)
  await waitLink(r, v.identity.publicKey); await waitLink(r, h.identity.publicKey)

  const udp2 = await udpVictim('127.0.0.2'); closers.push(() => udp2.sock.close())
  const tcp2 = await tcpVictim('127.0.0.2'); closers.push(() => new Promise((res) => tcp2.srv.close(res)))
  const offer = (to: Uint8Array, cands: Candidate[]): Uint8Array => encodeCandidateSet({
    from: a.identity.publicKey, to, sid: new Uint8Array(randomBytes(16)), eph: new Uint8Array(randomBytes(32)), streamId: 5,
    mapping: 'endpoint-independent', filtering: 'endpoint-independent', candidates: cands, ts: Date.now(),
  }, a.identity)
  const signal = async (to: Uint8Array, cands: Candidate[]): Promise<AnswerMsg> =>
    decodeAnswer((await ar.request(NatMessageType.NAT_SIGNAL, encodeSignal({ v: 1, to, offer: offer(to, cands) }), { timeoutMs: 10_000 })).body)
  const third: Candidate[] = [
    { kind: 'host', host: '127.0.0.2', port: udp2.port, priority: candidatePriority('host') },
    { kind: 'srflx', host: '127.0.0.2', port: udp2.port, priority: candidatePriority('srflx') },
    { kind: 'tcp', host: '127.0.0.2', port: tcp2.port, priority: candidatePriority('tcp') },
  ]

  // four offers at once (the ~2.8 KB of the report), then two more
  const answers = await Promise.all([0, 1, 2, 3].map(() => signal(v.identity.publicKey, third)))
  answers.push(await signal(v.identity.publicKey, third), await signal(v.identity.publicKey, third))

  // the honest peer must still be reachable through the same rendezvous while the attacker's sessions exist
  const res = await h.services.get('nat')!.connect(v.identity.publicKey, { via: r.identity.publicKey })
  const echo = await res.link.request(NatMessageType.NAT_ECHO, new Uint8Array([1, 2, 3]))
  assert.deepEqual([...echo.body], [1, 2, 3])
  await sleep(1000)
  assert.equal(udp2.received(), 0, 'no datagram reached the address the attacker named')
  assert.equal(tcp2.accepted(), 0, 'no TCP connect reached the host:port the attacker named')
  assert.equal(await counter(v.metrics, 'zeone_nat_punch_sockets_total'), 0, 'no birthday socket opened for a peer that called us')
  assert.ok(answers.some((x) => x.error === 'nat_rate_limited'), `offers beyond the per-peer limit are refused: ${JSON.stringify(answers.map((x) => x.error ?? 'answered'))}`)
  assert.ok(await counter(v.metrics, 'zeone_nat_inbound_punches_total', ['result', 'rate_limited']) >= 1)

  // a victim that denies private addresses probes none, even at the attacker's own (observed, "proven") address
  const v2 = await mk(nat, 'deny')
  await v2.transport!.dial({ host: '127.0.0.1', port: r.listenAddress!.port })
  await v2.services.get('nat')!.discover()
  await waitLink(r, v2.identity.publicKey)
  const udp1 = await udpVictim('127.0.0.1'); closers.push(() => udp1.sock.close())
  const tcp1 = await tcpVictim('127.0.0.1'); closers.push(() => new Promise((res) => tcp1.srv.close(res)))
  await signal(v2.identity.publicKey, [
    { kind: 'srflx', host: '127.0.0.1', port: udp1.port, priority: candidatePriority('srflx') },
    { kind: 'host', host: '169.254.169.254', port: 80, priority: candidatePriority('host') },
    { kind: 'host', host: '10.1.2.3', port: 5, priority: candidatePriority('host', 1) },
    { kind: 'tcp', host: '127.0.0.1', port: tcp1.port, priority: candidatePriority('tcp') },
  ])
  await sleep(1500)
  assert.equal(udp1.received(), 0, 'no probe at a loopback candidate under privateAddresses=deny')
  assert.equal(tcp1.accepted(), 0, 'no TCP connect at a loopback candidate under privateAddresses=deny')
  assert.equal(await counter(v2.metrics, 'zeone_nat_punch_probes_total'), 0, 'no probe to any private/metadata candidate')
})
