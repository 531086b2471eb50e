/**
 * Issue 23 item 7: start() is idempotent in every layer and a stopped node leaves nothing behind. A second start
 * must not bind a second listener or socket nor arm a second set of timers, and after stop the process holds the
 * same active resources (sockets, servers, ref'd timers, watchers) as before the node existed.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import type { Clock } from '../../src/interfaces/clock.js'
import { defaultDhtConfig } from '../../src/dht/config.js'
import { Dht } from '../../src/dht/dht.js'
import { LinkDhtNet } from '../../src/dht/link-net.js'
import { MemoryRecordStore } from '../../src/dht/store.js'
import { createNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { MemoryNetwork } from '../../src/transport/memory.js'

/** Active handles by kind, e.g. {TCPServerWrap: 1, UDPWrap: 2}; one-shot requests (CloseReq, FSReqCallback) are left out. */
function resources(): Record<string, number> {
  const out: Record<string, number> = {}
  for (const r of process.getActiveResourcesInfo()) if (!/Req(Callback)?$/.test(r)) out[r] = (out[r] ?? 0) + 1
  return out
}

/** Resources settle a few ticks after a close (handles close on the next loop turn). */
async function settled(want: Record<string, number>): Promise<Record<string, number>> {
  let now = resources()
  for (let i = 0; i < 200 && JSON.stringify(now) !== JSON.stringify(want); i++) {
    await new Promise((r) => setImmediate(r))
    now = resources()
  }
  return now
}

const tmp = (t: { after(fn: () => void): void }): string => {
  const d = mkdtempSync(join(tmpdir(), 'zeone-life-'))
  t.after(() => rmSync(d, { recursive: true, force: true }))
  return d
}

/** A node with every listener on: P2P TCP, NAT's UDP socket and STUN server, HTTP API, SOCKS5, control socket. */
const fullConfig = (dataDir: string) => validateConfig({
  dataDir, node: { port: 0, host: '127.0.0.1' }, dht: { staticPuzzleBits: 0 },
  nat: { udpPort: 0, udpHost: '127.0.0.1', stunServer: { enabled: true, primary: '127.0.0.1:0' } },
  vpn: { socks: { port: 0 } }, ops: { httpPort: 0, logLevel: 'silent' },
})

test('a node started and stopped twice (same data dir) leaves the process as it found it', async (t) => {
  const dir = tmp(t)
  const before = resources()
  for (let round = 0; round < 2; round++) {
    const node = createNode(fullConfig(dir))
    await node.start()
    await node.start() // the second start is the first one
    assert.ok(node.listenAddress && node.httpAddress)
    await node.stop()
    await node.stop()
  }
  assert.deepEqual(await settled(before), before)
})

test('every layer started twice holds what one start holds', async (t) => {
  const dir = tmp(t)
  const node = createNode(fullConfig(dir))
  t.after(() => node.stop())
  await node.start()
  const once = resources()
  // start each layer's long-lived component again, the way a careless caller would
  await node.transport!.start()
  const s = node.services as unknown as { get(n: string): { start?: () => unknown } | undefined }
  for (const name of ['dht', 'nat', 'content', 'vpnSocks']) {
    const layer = s.get(name)
    assert.ok(layer?.start, `the node provides ${name} with a start()`)
    await layer.start()
  }
  assert.deepEqual(resources(), once)
})

test('Dht.start twice arms one set of maintenance timers', () => {
  let pending = 0
  const clock: Clock = {
    now: () => 0,
    setTimeout: () => { pending++; let live = true; return { cancel: () => { if (live) { live = false; pending-- } } } },
  }
  const net = new MemoryNetwork({ clock })
  const identity = Identity.fromSeed(randomBytes(32))
  const node = net.createNode(identity, { host: '10.0.0.1', port: 4000 })
  const dht = new Dht({ config: defaultDhtConfig({ staticPuzzleBits: 0 }), identity, net: new LinkDhtNet(node, clock), store: new MemoryRecordStore(), clock, advertise: () => [node.addr] })
  dht.start()
  const one = pending
  assert.ok(one > 0, 'start arms its maintenance timers')
  dht.start()
  assert.equal(pending, one)
  dht.stop()
  assert.equal(pending, 0, 'stop cancels every timer it armed')
  node.stop()
})
