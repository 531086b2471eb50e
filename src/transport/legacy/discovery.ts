/**
 * Which v0 addresses to dial, learned from PEER_LIST entries and from the `sender_host`/`sender_port` fields of v0
 * DHT requests (the only place v0 carries a listening port). Every learned address is untrusted: it passes the
 * node's AddressPolicy before it is dialled, dials are bounded (in flight, per address backoff, table caps), and an
 * address becomes a verified listening address only when our own dial completes the v0 handshake there.
 */
import type { Clock } from '../../interfaces/clock.js'
import type { Endpoint } from '../../interfaces/link.js'
import type { AddressPolicy } from '../../util/address-class.js'
import { addressClass } from '../../util/address-class.js'

export type LearnedFrom = 'peer_list' | 'dht_sender'

export interface Candidate { nodeId: string; host: string; port: number; from: LearnedFrom; seen: number; since: number; state: 'queued' | 'dialing' | 'connected' | 'failed' | 'refused' }

export interface LegacyDiscoveryInit {
  policy: AddressPolicy
  clock: Clock
  maxInFlight: number
  backoffMs: number
  selfId: string
  /** Dials a v0 address; resolves with the node id the handshake proved. */
  dial(addr: Endpoint): Promise<string>
  /** Whether `nodeId` has a link at all / a link whose listening address we verified by dialling it. */
  connected(nodeId: string): boolean
  verified(nodeId: string): boolean
  /** Our own listening address (never dialled). */
  selfAddress(): Endpoint | undefined
  /** A learned address that was not dialled, with a reason label. */
  onRefused?(reason: string): void
  /** @default 256 */
  maxCandidates?: number
}

const MAX_FAILED = 1024
const key = (host: string, port: number): string => `${host}:${port}`

export class LegacyDiscovery {
  #init: LegacyDiscoveryInit
  /** By node id: the latest address each peer was named with. */
  readonly candidates = new Map<string, Candidate>()
  #inFlight = new Set<string>()
  #failedUntil = new Map<string, number>()
  #stopped = false

  constructor(init: LegacyDiscoveryInit) { this.#init = init }

  get inFlight(): number { return this.#inFlight.size }

  /** Takes one learned (nodeId, address) pair; dials it when it is new, allowed and not in backoff. */
  learn(nodeId: string, host: string, port: number, from: LearnedFrom): void {
    if (this.#stopped || nodeId === this.#init.selfId) return
    if (host.length === 0 || host.length > 255 || !Number.isInteger(port) || port < 1 || port > 65535) { this.#init.onRefused?.('bad_address'); return }
    const max = this.#init.maxCandidates ?? 256
    const now = this.#init.clock.now()
    const prev = this.candidates.get(nodeId)
    if (prev && prev.host === host && prev.port === port && prev.state !== 'failed') { prev.seen = now; return }
    // a peer renaming itself (another port each time) gets one new dial per backoff period, not one per message
    if (prev && prev.state !== 'queued' && now - prev.since < this.#init.backoffMs) { this.#init.onRefused?.('readdress_backoff'); return }
    this.candidates.delete(nodeId)
    if (this.candidates.size >= max) {
      const oldest = this.candidates.keys().next().value
      if (oldest !== undefined) this.candidates.delete(oldest)
    }
    this.candidates.set(nodeId, { nodeId, host, port, from, seen: now, since: now, state: 'queued' })
    this.pump()
  }

  /** Starts dials up to the in-flight bound. */
  pump(): void {
    if (this.#stopped) return
    const now = this.#init.clock.now()
    for (const c of this.candidates.values()) {
      if (this.#inFlight.size >= this.#init.maxInFlight) return
      if (c.state !== 'queued') continue
      // PEER_LIST: a peer we already have a link with is already a member; DHT sender: dial to verify its address
      if (c.from === 'peer_list' ? this.#init.connected(c.nodeId) : this.#init.verified(c.nodeId)) { c.state = 'connected'; continue }
      if (!this.#init.policy.allows(c.host)) { c.state = 'refused'; this.#init.onRefused?.('address_policy'); continue }
      const k = key(c.host, c.port)
      const self = this.#init.selfAddress()
      if (self && self.port === c.port && (self.host === c.host || addressClass(self.host) === 'unspecified')) { c.state = 'refused'; this.#init.onRefused?.('self_address'); continue }
      if ((this.#failedUntil.get(k) ?? 0) > now) { c.state = 'failed'; this.#init.onRefused?.('redial_backoff'); continue }
      if (this.#inFlight.has(k)) continue
      this.#inFlight.add(k)
      c.state = 'dialing'
      this.#init.dial({ host: c.host, port: c.port }).then(() => { c.state = 'connected' }, () => {
        c.state = 'failed'
        if (this.#failedUntil.size >= MAX_FAILED) this.#prune(this.#init.clock.now())
        this.#failedUntil.set(k, this.#init.clock.now() + this.#init.backoffMs)
      }).finally(() => { this.#inFlight.delete(k); this.pump() })
    }
  }

  #prune(now: number): void {
    for (const [k, until] of this.#failedUntil) if (until <= now) this.#failedUntil.delete(k)
    while (this.#failedUntil.size >= MAX_FAILED) this.#failedUntil.delete(this.#failedUntil.keys().next().value!)
  }

  stop(): void { this.#stopped = true }
}
