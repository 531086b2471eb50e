/** Shared fixtures for the content tests: an in-memory network of providers serving one publication. */
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { Identity } from '../../src/crypto/identity.js'
import type { TrustEvent, TrustSink } from '../../src/interfaces/trust.js'
import { MemoryNetwork, type MemoryNode } from '../../src/transport/memory.js'
import { ContentServer } from '../../src/content/server.js'
import { ContentStore, type Publication } from '../../src/content/store.js'
import { joinParts, toB64 } from '../../src/util/bytes.js'

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `zeone-content-${prefix}-`))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Deterministic pseudo-random bytes (SHA-256 in counter mode). */
export function pseudoRandom(size: number, seed: string): Uint8Array {
  const out = new Uint8Array(size)
  for (let off = 0, i = 0; off < size; off += 32, i++) {
    const h = createHash('sha256').update(seed).update(String(i)).digest()
    out.set(h.subarray(0, Math.min(32, size - off)), off)
  }
  return out
}

export function writeTree(root: string, files: Record<string, Uint8Array>): void {
  for (const [rel, data] of Object.entries(files)) {
    const p = join(root, ...rel.split('/'))
    mkdirSync(dirname(p), { recursive: true })
    writeFileSync(p, data)
  }
}

export class RecordingTrust implements TrustSink {
  events: { node: string; event: TrustEvent; detail?: string }[] = []
  report(nodeId: Uint8Array, event: TrustEvent, detail?: string): void { this.events.push({ node: toB64(nodeId), event, ...(detail ? { detail } : {}) }) }
  of(node: MemoryNode, event?: TrustEvent) { return this.events.filter((e) => e.node === node.identity.nodeIdB64 && (!event || e.event === event)) }
}

let port = 1000
export function seededIdentity(n: number): Identity { return Identity.fromSeed(new Uint8Array(32).fill(n)) }

export interface Net {
  net: MemoryNetwork
  client: MemoryNode
  providers: MemoryNode[]
  servers: ContentServer[]
  stores: ContentStore[]
  stop(): void
}

/** `count` provider nodes each serving `pub` (same files on disk), plus a client node. */
/** The system clock with referenced timers: the memory transport's deliveries must keep the test's loop alive. */
export const refClock = {
  now: () => Date.now(),
  setTimeout(cb: () => void, ms: number) { const t = setTimeout(cb, ms); return { cancel: () => clearTimeout(t) } },
}

export function makeNet(pub: Publication, count: number): Net {
  const net = new MemoryNetwork({ clock: refClock })
  const client = net.createNode(seededIdentity(100), { host: '10.0.0.1', port: port++ })
  const providers: MemoryNode[] = []
  const servers: ContentServer[] = []
  const stores: ContentStore[] = []
  for (let i = 0; i < count; i++) {
    const node = net.createNode(seededIdentity(10 + i), { host: `10.0.1.${i + 1}`, port: port++ })
    const store = new ContentStore()
    store.add(pub.manifest, pub.files.map((f) => ({ abs: f.abs, tree: f.tree })))
    const server = new ContentServer({ store, router: node.router })
    server.start()
    providers.push(node); servers.push(server); stores.push(store)
  }
  return {
    net, client, providers, servers, stores,
    stop() { for (const s of servers) s.stop(); for (const p of providers) p.stop(); client.stop() },
  }
}

export async function linksTo(client: MemoryNode, nodes: MemoryNode[]) {
  return Promise.all(nodes.map((n) => client.dial(n.addr)))
}

import { Router } from '../../src/transport/router.js'
import type { Inbound, MessageRouter } from '../../src/interfaces/link.js'
import { ContentMessageType as T, decodeChunkReply, decodeGetChunk, encodeChunkReply } from '../../src/content/messages.js'

/**
 * Makes `node` a hostile provider: it serves the real publication but flips a byte in every chunk for which
 * `corrupt(index)` is true. Returns a counter of chunk requests it answered.
 */
export function makeCorrupting(node: { router: MessageRouter }, store: ContentStore, corrupt: (index: number) => boolean): { served: number } {
  const inner = new Router()
  new ContentServer({ store, router: inner }).start()
  const stats = { served: 0 }
  node.router.handle(T.CONTENT_GET_MANIFEST, (m) => inner.dispatch(m))
  node.router.handle(T.CONTENT_GET_HASHES, (m) => inner.dispatch(m))
  node.router.handle(T.CONTENT_GET_CHUNK, (m: Inbound) => {
    stats.served++
    const { index } = decodeGetChunk(m.body)
    if (!corrupt(index)) return inner.dispatch(m)
    inner.dispatch({ ...m, reply: (type, body) => {
      const c = decodeChunkReply(joinParts(body))
      const data = c.data.slice()
      data[0]! ^= 0xff
      return m.reply!(type, encodeChunkReply({ ...c, data }))
    } })
  })
  return stats
}
