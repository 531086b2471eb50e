/**
 * Moves the economy engine's payloads over links: IOU (0x50, one-way), BALANCE_CLAIM (0x51, request) answered by
 * BALANCE_ACK (0x52, reply). Meters frames from the wire tap, sends cheques when payment is due, claims
 * periodically on every link, flushes the ledger on a timer (group commit) and marks dropped links.
 */
import type { Clock } from '../interfaces/clock.js'
import type { Inbound, Link, LinkProvider, MessageRouter } from '../interfaces/link.js'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import type { WireTap } from '../interfaces/node-context.js'
import { toB64 } from '../util/bytes.js'
import { MessageType } from '../wire/message-types.js'
import { EconomyProtocolError } from './errors.js'
import type { Economy } from './economy.js'
import type { ReconcileDecision } from './reconcile.js'

export interface EconomySessionInit {
  economy: Economy
  router: MessageRouter
  links: LinkProvider
  wireTap?: WireTap
  clock: Clock
  logger?: Logger
  /** @default 200 */
  flushIntervalMs?: number
  /** 0 = no periodic claims. @default 30000 */
  claimIntervalMs?: number
  /** @default 10000 */
  requestTimeoutMs?: number
}

export class EconomySession {
  readonly economy: Economy
  #init: EconomySessionInit
  #log: Logger
  #offs: Array<() => void> = []
  #flushTimer: { cancel(): void } | undefined
  #claimTimer: { cancel(): void } | undefined
  #stopped = false
  #started = false
  #claims = new Map<Link, Promise<ReconcileDecision>>()

  constructor(init: EconomySessionInit) {
    this.#init = init
    this.economy = init.economy
    this.#log = init.logger ?? silentLogger
  }

  start(): void {
    if (this.#started || this.#stopped) return
    this.#started = true
    const { router, links, wireTap } = this.#init
    this.#offs.push(router.handle(MessageType.IOU, (m) => this.#onIou(m)))
    this.#offs.push(router.handle(MessageType.BALANCE_CLAIM, (m) => this.#onClaim(m)))
    if (wireTap) this.#offs.push(wireTap.observe((ev) => this.economy.observeFrame(ev)))
    const watch = (l: Link): void => { l.onClose(() => { if (!this.#stopped) this.economy.linkClosed(l.peer.nodeId) }) }
    for (const l of links.links()) watch(l)
    this.#offs.push(links.onLink(watch))
    this.#scheduleFlush()
    this.#scheduleClaims()
  }

  #scheduleFlush(): void {
    if (this.#stopped) return
    this.#flushTimer = this.#init.clock.setTimeout(() => {
      // a failed flush keeps its entries pending for the next one and is logged and counted by the ledger's hook
      try { this.economy.flush() } catch (err) { this.#log.debug({ err: (err as Error).message }, 'ledger flush failed') }
      this.#scheduleFlush()
    }, this.#init.flushIntervalMs ?? 200)
  }

  #scheduleClaims(): void {
    const every = this.#init.claimIntervalMs ?? 30_000
    if (this.#stopped || every <= 0) return
    this.#claimTimer = this.#init.clock.setTimeout(() => {
      for (const l of this.#init.links.links()) {
        if (!l.closed) this.reconcile(l).catch((err) => this.#log.debug({ peer: l.peer.nodeIdB64, err: (err as Error).message }, 'reconciliation failed'))
      }
      this.#scheduleClaims()
    }, every)
  }

  #onIou(m: Inbound): void {
    this.economy.receiveCheque(m.link.peer.nodeId, m.body)
  }

  #onClaim(m: Inbound): void {
    if (!m.reply) throw new EconomyProtocolError('bad_payload', 'BALANCE_CLAIM must be sent as a request')
    const ack = this.economy.answerClaim(m.link.peer.nodeId, m.body)
    m.reply(MessageType.BALANCE_ACK, ack)
  }

  /** Sends our claim on `link` and applies the peer's ack (one claim in flight per link). */
  reconcile(link: Link): Promise<ReconcileDecision> {
    const inflight = this.#claims.get(link)
    if (inflight) return inflight
    const p = this.#reconcile(link).finally(() => this.#claims.delete(link))
    this.#claims.set(link, p)
    return p
  }

  async #reconcile(link: Link): Promise<ReconcileDecision> {
    const { bytes, pending } = this.economy.makeClaim(link.peer.nodeId)
    const reply = await link.request(MessageType.BALANCE_CLAIM, bytes, { timeoutMs: this.#init.requestTimeoutMs ?? 10_000 })
    if (reply.type !== MessageType.BALANCE_ACK) throw new EconomyProtocolError('bad_payload', `expected BALANCE_ACK, got type 0x${reply.type.toString(16)}`)
    if (this.#stopped || this.economy.store.closed) throw new EconomyProtocolError('stopped', 'economy stopped')
    return this.economy.applyAck(pending, reply.body)
  }

  /** Sends a cheque for what we owe the peer on its open link, if anything. Resolves true when one was sent. */
  async pay(peer: Uint8Array): Promise<boolean> {
    const live = (): Link | undefined => {
      const l = this.#init.links.get(peer)
      return l && !l.closed && !this.#stopped && !this.economy.store.closed ? l : undefined
    }
    if (!live()) { this.economy.cancelDue(peer); return false }
    const cheque = await this.economy.issueChequeAsync(peer)
    const link = live()
    // a committed cheque that cannot be sent now is not lost: every claim carries our latest cheque
    if (!cheque || !link) return false
    link.send(MessageType.IOU, cheque)
    this.#log.debug({ peer: toB64(peer) }, 'cheque sent')
    return true
  }

  /** Stops timers and handlers, then closes the ledger cleanly. Idempotent. */
  stop(): void {
    if (this.#stopped) return
    this.#stopped = true
    this.#flushTimer?.cancel()
    this.#claimTimer?.cancel()
    for (const off of this.#offs.splice(0)) off()
    this.economy.close()
  }

  /** Test hook: stops like kill -9 would (un-flushed ledger state is lost, no clean-shutdown mark). */
  crash(): void {
    if (this.#stopped) return
    this.#stopped = true
    this.#flushTimer?.cancel()
    this.#claimTimer?.cancel()
    for (const off of this.#offs.splice(0)) off()
    this.economy.store.crash()
  }
}
