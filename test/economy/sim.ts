/**
 * Two in-process economy nodes over the memory transport with real SQLite ledgers, for the property test and the
 * session tests. Data frames (VPN_DATA) are metered at both ends the way the wire tap would: 'out' when sent,
 * 'in' when delivered. crash() drops un-flushed ledger state and the node's links, like kill -9.
 */
import { join } from 'node:path'
import type { Identity } from '../../src/crypto/identity.js'
import type { Clock } from '../../src/interfaces/clock.js'
import type { Link } from '../../src/interfaces/link.js'
import type { EconomyConfig } from '../../src/economy/config.js'
import { Economy } from '../../src/economy/economy.js'
import { LedgerStore } from '../../src/economy/ledger-store.js'
import { EconomySession } from '../../src/economy/session.js'
import { MemoryNetwork, type MemoryNode } from '../../src/transport/memory.js'
import { MessageType } from '../../src/wire/message-types.js'

/** Delivers memory-transport frames on the next macrotask (setImmediate), timers never fire on their own. */
export const immediateClock: Clock = {
  now: () => Date.now(),
  setTimeout(cb, ms) {
    if (ms <= 0) { const h = setImmediate(cb); return { cancel: () => clearImmediate(h) } }
    const t = setTimeout(cb, ms); t.unref()
    return { cancel: () => clearTimeout(t) }
  },
}
/** A clock whose timers never fire (session flush/claim timers stay out of the way of the test's own schedule). */
export const frozenTimers = (now: () => number): Clock => ({ now, setTimeout: () => ({ cancel() {} }) })

export const tick = (): Promise<void> => new Promise((r) => setImmediate(r))

export class SimNode {
  mem!: MemoryNode
  economy!: Economy
  session!: EconomySession
  up = false
  readonly file: string
  constructor(readonly net: MemoryNetwork, readonly identity: Identity, readonly port: number, dir: string, readonly cfg: EconomyConfig, readonly now: () => number) {
    this.file = join(dir, `ledger-${port}.sqlite`)
  }

  start(): void {
    this.mem = this.net.createNode(this.identity, { host: 'mem', port: this.port })
    const store = LedgerStore.open(this.file, { now: this.now })
    let session: EconomySession | undefined
    this.economy = new Economy({
      identity: this.identity, store, config: this.cfg, clock: frozenTimers(this.now),
      onPaymentDue: (peer) => queueMicrotask(() => { if (session && this.up) void session.pay(peer).catch(() => undefined) }),
    })
    session = new EconomySession({ economy: this.economy, router: this.mem.router, links: this.mem, clock: frozenTimers(this.now), claimIntervalMs: 0 })
    this.session = session
    this.mem.router.handle(MessageType.VPN_DATA, (m) => {
      this.economy.observeFrame({ peer: m.link.peer, direction: 'in', type: m.type, bytes: m.body.byteLength })
    })
    session.start()
    this.up = true
  }

  /** Sends `n` payload bytes of VPN_DATA on the link to `to`, metered as served. */
  send(to: SimNode, n: number): boolean {
    const link = this.link(to)
    if (!link) return false
    this.economy.observeFrame({ peer: link.peer, direction: 'out', type: MessageType.VPN_DATA, bytes: n })
    link.send(MessageType.VPN_DATA, new Uint8Array(n))
    return true
  }

  link(to: SimNode): Link | undefined {
    if (!this.up || !to.up) return undefined
    const l = this.mem.get(to.identity.publicKey)
    return l && !l.closed ? l : undefined
  }

  async connect(to: SimNode): Promise<Link | undefined> {
    if (!this.up || !to.up) return undefined
    return this.link(to) ?? await this.mem.dial(to.mem.addr)
  }

  stop(clean: boolean): void {
    if (!this.up) return
    this.up = false
    if (clean) this.session.stop()
    else this.session.crash()
    this.mem.stop()
  }
}
