/** In-process DHT network over the memory transport, for tests and examples (STYLE §11: ship a testnet helper). */
import { Identity } from '../crypto/identity.js'
import { randomBytes } from '../crypto/sign.js'
import type { Clock } from '../interfaces/clock.js'
import { MemoryNetwork, type MemoryNode } from '../transport/memory.js'
import { defaultDhtConfig, type DhtConfig } from './config.js'
import { Dht } from './dht.js'
import { LinkDhtNet, serveDht } from './link-net.js'
import { MemoryRecordStore } from './store.js'

/** Real time, with timers that keep the process alive (the memory transport delivers on clock timers). */
export const refClock: Clock = {
  now: () => Date.now(),
  setTimeout(cb, ms) { const t = setTimeout(cb, ms); return { cancel: () => clearTimeout(t) } },
}

export interface TestnetNode { node: MemoryNode; dht: Dht; identity: Identity; stop(): void }

export interface TestnetInit {
  size: number
  config?: Partial<DhtConfig>
  clock?: Clock
  latencyMs?: () => number
}

export async function createTestnet(init: TestnetInit): Promise<{ nodes: TestnetNode[]; net: MemoryNetwork; destroy(): void }> {
  const clock = init.clock ?? refClock
  const net = new MemoryNetwork({ clock, ...(init.latencyMs ? { latencyMs: init.latencyMs } : {}) })
  const config = defaultDhtConfig({ staticPuzzleBits: 0, dynamicPuzzleBits: 4, softTimeoutMs: 200, ...init.config })
  const nodes: TestnetNode[] = []
  for (let i = 0; i < init.size; i++) {
    const identity = Identity.fromSeed(randomBytes(32))
    const addr = { host: `10.${(i >> 8) & 255}.${i & 255}.1`, port: 4000 + i }
    const node = net.createNode(identity, addr)
    const dht = new Dht({ config, identity, net: new LinkDhtNet(node, clock), store: new MemoryRecordStore(), clock, advertise: () => [addr] })
    const off = serveDht(node.router, dht, clock)
    nodes.push({ node, dht, identity, stop: () => { off(); dht.stop(); node.stop() } })
  }
  for (let i = 1; i < nodes.length; i++) await nodes[i]!.dht.bootstrap([nodes[0]!.node.addr])
  // a second pass lets early joiners learn about later ones
  for (const n of nodes) await n.dht.findNode(n.identity.dhtId)
  return { nodes, net, destroy: () => { for (const n of nodes) n.stop() } }
}
