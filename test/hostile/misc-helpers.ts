/**
 * Shared pieces of the hostile DHT / content / HTTP / cortex tests: a live victim node (real TCP, real SQLite, real
 * HTTP server) with a recording trust sink and a dial spy, and a raw attacker peer that speaks the DHT wire
 * protocol itself over a real connection (it can answer with, and sign, whatever it likes).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dhtIdOf, Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { attach as attachDht } from '../../src/dht/attach.js'
import { ackTypeFor, decodeMessage, DhtMessageType, encodeMessage, type DhtMessage } from '../../src/dht/messages.js'
import { solveDynamicPuzzle } from '../../src/dht/puzzle.js'
import type { Endpoint, Link } from '../../src/interfaces/link.js'
import type { NodeContext, Stoppable } from '../../src/interfaces/node-context.js'
import type { TrustEvent } from '../../src/interfaces/trust.js'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { ConnectionManager } from '../../src/transport/connection-manager.js'
import { createDefaultTransport } from '../../src/transport/legacy/default-transport.js'
import { Router } from '../../src/transport/router.js'

export const DYN_BITS = 4
type After = { after(fn: () => void | Promise<void>): void }
type Layer = [string, (ctx: NodeContext) => Promise<Stoppable | void>]

export function tempDir(t: After, prefix = 'zeone-hostile-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => rmSync(d, { recursive: true, force: true }))
  return d
}

export async function until(cond: () => boolean, what: string, tries = 800): Promise<void> {
  for (let i = 0; i < tries && !cond(); i++) await new Promise((r) => setTimeout(r, 25))
  assert.ok(cond(), what)
}

export interface Strike { nodeId: string; event: TrustEvent; detail: string | undefined }

export interface Victim {
  node: ZeoneNode
  dataDir: string
  /** Every address the node's transport was asked to dial. */
  dials: Endpoint[]
  /** Trust events the node's layers reported. */
  strikes: Strike[]
}

/**
 * A live node on 127.0.0.1 with the DHT (and `layers`). Its transport's dial is watched; a dial to anything but
 * loopback is refused before a packet leaves (the test never reaches outside the machine, also on the old code).
 */
export async function startVictim(t: After, opts: { bootstrap?: string[]; config?: Record<string, unknown>; dht?: Record<string, unknown>; layers?: Layer[]; httpPort?: number } = {}): Promise<Victim> {
  const dataDir = tempDir(t)
  const dials: Endpoint[] = []
  const strikes: Strike[] = []
  const config = validateConfig({
    dataDir, node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap: opts.bootstrap ?? [] },
    ops: { httpPort: opts.httpPort ?? 0, logLevel: 'silent' },
    dht: { staticPuzzleBits: 0, dynamicPuzzleBits: DYN_BITS, ...opts.dht },
    ...opts.config,
  })
  const trustLayer: Layer = ['trust', async (ctx) => {
    ctx.services.provide('trust', { report: (id, event, detail) => { strikes.push({ nodeId: Buffer.from(id).toString('base64'), event, detail }) } })
  }]
  const node = createNode(config, {
    layers: [trustLayer, ['dht', attachDht], ...(opts.layers ?? [])],
    transport: async (deps) => {
      const tr = await createDefaultTransport(deps)
      const dial = tr.dial.bind(tr)
      tr.dial = (addr, o) => {
        dials.push({ host: addr.host, port: addr.port })
        if (!addr.host.startsWith('127.')) return Promise.reject(new Error(`test refuses to dial ${addr.host} (outside the machine)`))
        return dial(addr, o)
      }
      return tr
    },
  })
  t.after(() => node.stop())
  await node.start()
  return { node, dataDir, dials, strikes }
}

/** A live honest node on 127.0.0.1 with the DHT. */
export async function startHonest(t: After, bootstrap: string[] = [], dht: Record<string, unknown> = {}): Promise<ZeoneNode> {
  const dataDir = tempDir(t)
  const config = validateConfig({
    dataDir, node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap }, ops: { httpPort: -1, logLevel: 'silent' },
    dht: { staticPuzzleBits: 0, dynamicPuzzleBits: DYN_BITS, ...dht },
  })
  const node = createNode(config, { layers: [['dht', attachDht]] })
  t.after(() => node.stop())
  await node.start()
  return node
}

export const hostPort = (e: Endpoint | undefined): string => `${e!.host}:${e!.port}`

/** A raw DHT peer on a real connection: it answers requests with `answer` and sends whatever it is told. */
export interface Attacker {
  identity: Identity
  cm: ConnectionManager
  x: Uint8Array
  /** Requests the attacker received. */
  received: DhtMessage[]
  dial(addr: Endpoint): Promise<Link>
  request(link: Link, m: DhtMessage): Promise<DhtMessage>
}

export async function startAttacker(t: After, answer: (m: DhtMessage, x: Uint8Array) => DhtMessage | undefined = () => undefined): Promise<Attacker> {
  const identity = Identity.fromSeed(randomBytes(32))
  const x = solveDynamicPuzzle(dhtIdOf(identity.publicKey), DYN_BITS)
  const router = new Router()
  const received: DhtMessage[] = []
  for (const type of [DhtMessageType.FIND_NODE, DhtMessageType.FIND_VALUE, DhtMessageType.GET_PROVIDERS, DhtMessageType.STORE, DhtMessageType.ADD_PROVIDER, DhtMessageType.PING]) {
    router.handle(type, (msg) => {
      if (!msg.reply) return
      const m = decodeMessage(msg.type, msg.body, 65_536)
      received.push(m)
      const a = answer(m, x) ?? (m.t === 'find_node' || m.t === 'find_value' || m.t === 'get_providers' ? { t: 'nodes', x, nodes: [] } : { t: 'ack', x, ok: true })
      const enc = encodeMessage(a)
      msg.reply(a.t === 'ack' ? ackTypeFor(msg.type) : enc.type, enc.body)
    })
  }
  const config = validateConfig({ node: { port: 0, host: '127.0.0.1', legacy: false } }).node
  const cm = new ConnectionManager({ identity, config, dataDir: tempDir(t, 'zeone-attacker-'), router, capabilities: ['DHT'] })
  t.after(() => cm.stop())
  await cm.start()
  return {
    identity, cm, x, received,
    dial: (addr) => cm.dial(addr),
    request: async (link, m) => {
      const { type, body } = encodeMessage(m)
      const r = await link.request(type, body, { timeoutMs: 10_000 })
      return decodeMessage(r.type, r.body, 65_536)
    },
  }
}
