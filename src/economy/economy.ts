/**
 * The economy engine: metering, debt limits, cheques and reconciliation over one LedgerStore. Sans-I/O: it is fed
 * frame events, usage records, and payloads, and returns payloads to send; src/economy/session.ts moves them over
 * links. Implements UsageMeter (authorize/record) for the service router, content server and relays.
 *
 * The rule on peer input (docs/protocol/economy.md §1): a peer's cheque only settles what the peer owes us, never
 * more (the rest is a recorded `cheque_excess` dispute); what we pay a peer is bounded by what our own meter
 * recorded it served us (consumed + billed), so nothing a peer sends can make us sign a larger cheque.
 *
 * Why this file is long: the engine's rules (debt limits, which cheque settles what, what we may pay, reconciliation)
 * read and change the same account fields and are checked together against the rule above; pricing, claims, trust
 * and the store are already modules of their own.
 */
import type { Clock } from '../interfaces/clock.js'
import type { FrameEvent } from '../interfaces/node-context.js'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import type { UsageMeter } from '../interfaces/services.js'
import { equalBytes, toB64, toHex } from '../util/bytes.js'
import { checkCheque, decodeCheque, encodeCheque, signCheque, type ChequeFields, type ChequeSigner, type OnchainPart, type OnchainVerifier } from './cheque.js'
import { toAmount, type EconomyConfig } from './config.js'
import { ChequeRejectedError, DebtLimitError, LowTrustError } from './errors.js'
import { MAX_LEDGER_AMOUNT, type Account } from './ledger-rows.js'
import type { LedgerStore } from './ledger-store.js'
import { Pricing, PPM, type ServicePrice } from './pricing.js'
import type { ReconcileDecision } from './reconcile.js'
import { Claims, type PeerState, type PendingClaim } from './claims.js'
import { TrustBook } from './trust.js'
import { nullEvents, type EconomyEvents } from './metrics.js'

/**
 * Service name of wire bytes metered by message-type range; types outside these ranges are not metered. Content
 * (0x40-0x4f) is not: its chunk data is billed once, as the `cdn` service, by the content layer on both sides.
 */
function wireServiceOf(type: number): string | undefined {
  if (type >= 0x20 && type <= 0x2f) return 'wire:service'
  if (type >= 0x30 && type <= 0x3f) return 'wire:vpn'
  if (type >= 0x70 && type <= 0x7f) return 'wire:cortex'
  return undefined
}

export interface EconomyInit {
  identity: ChequeSigner
  store: LedgerStore
  config: EconomyConfig
  clock: Clock
  logger?: Logger
  /** Cached stake lookup (ZEO wei); undefined = config defaultStake. */
  stakeOf?: (peer: Uint8Array) => bigint | undefined
  onchainVerifier?: OnchainVerifier
  /** Adds the EIP-712 part to a cheque we issue (settlement client). */
  onchainSigner?: (fields: Omit<ChequeFields, 'onchain'>) => OnchainPart | undefined | Promise<OnchainPart | undefined>
  /** Metrics sink. */
  events?: EconomyEvents
  /** Called (synchronously) when our debt to a peer reached the pay threshold: the session sends a cheque. */
  onPaymentDue?: (peer: Uint8Array) => void
}

export interface BalanceView { peer: string; served: bigint; consumed: bigint; charged: bigint; billed: bigint; paidIn: bigint; paidOut: bigint; balance: bigint }


export type { PendingClaim } from './claims.js'

const MAX_PEER_STATES = 100_000

export class Economy implements UsageMeter {
  readonly store: LedgerStore
  readonly pricing: Pricing
  readonly trust: TrustBook
  #debtLimit: bigint
  #payThreshold: bigint
  #trustMin: number
  #init: EconomyInit
  #cfg: EconomyConfig
  #log: Logger
  #peers = new Map<string, PeerState>()
  #maxRecovery: bigint
  #events: EconomyEvents
  #claims: Claims

  constructor(init: EconomyInit) {
    this.#init = init
    this.#cfg = init.config
    this.store = init.store
    this.#log = init.logger ?? silentLogger
    this.#events = init.events ?? nullEvents
    init.store.onFlushError = (err, failedPeers) => {
      this.#events.flushFailure()
      // retried every flush interval: log the first failure and then every 100th, the metric counts them all
      const n = init.store.flushFailures
      if (n === 1 || n % 100 === 0) this.#log.error({ err: err.message, failedPeers, failures: n }, 'ledger flush failed; the entries stay pending and are retried')
    }
    const now = (): number => init.clock.now()
    this.pricing = new Pricing(init.config, now)
    this.#debtLimit = init.config.debtLimit !== undefined ? toAmount(init.config.debtLimit) : 100n * 1024n * 1024n * this.pricing.bytePrice
    this.#payThreshold = (this.#debtLimit * BigInt(init.config.payThresholdPpm)) / PPM
    this.#trustMin = init.config.trust.min
    this.#maxRecovery = init.config.maxRecoveryAdjust !== undefined ? toAmount(init.config.maxRecoveryAdjust) : this.#debtLimit
    const t = init.config.trust
    const defaultStake = toAmount(t.defaultStake)
    this.trust = new TrustBook({
      store: init.store, now, baseStake: toAmount(t.baseStake),
      params: { alpha: t.alpha, initial: t.initial, min: t.min, decayPerDay: t.decayPerDay },
      stakeOf: (p) => init.stakeOf?.(p) ?? defaultStake,
    })
    this.#claims = new Claims({
      identity: init.identity, clock: init.clock, cfg: init.config, store: init.store, trust: this.trust, log: this.#log,
      events: this.#events, maxRecovery: this.#maxRecovery, state: (p) => this.#state(p), receiveCheque: (p, b) => this.receiveCheque(p, b),
    })
  }

  get debtLimit(): bigint { return this.#debtLimit }
  get payThreshold(): bigint { return this.#payThreshold }
  /** The effective-trust floor below which a peer is served only against collateral. */
  get trustMin(): number { return this.#trustMin }

  /**
   * Applies values governance decided on-chain (src/economy/chain/governed.ts maps Params to these), live: the
   * next authorize/record uses them. Unset fields keep their current value.
   */
  applyGoverned(g: { debtLimit?: bigint; trustMin?: number; prices?: ReadonlyMap<string, ServicePrice> }): void {
    if (g.debtLimit !== undefined) {
      if (g.debtLimit <= 0n) throw new RangeError('debt limit must be positive')
      this.#debtLimit = g.debtLimit
      this.#payThreshold = (g.debtLimit * BigInt(this.#cfg.payThresholdPpm)) / PPM
    }
    if (g.trustMin !== undefined) {
      if (!(g.trustMin >= 0 && g.trustMin <= 1)) throw new RangeError('trust floor must be in [0, 1]')
      this.#trustMin = g.trustMin
    }
    if (g.prices !== undefined) this.pricing.setGovernedPrices(g.prices)
  }

  #state(peer: Uint8Array): PeerState {
    const k = toHex(peer)
    let s = this.#peers.get(k)
    if (!s) {
      if (this.#peers.size >= MAX_PEER_STATES) this.#peers.clear()
      // a fresh process (or an evicted entry) cannot know whether a link dropped since the last confirmation: assume so
      s = { dropEpoch: 1, confirmedDropEpoch: 0, seq: 0n, overLimit: false, due: false, adjusted: 0n, lastAnswer: -Infinity, lastLegacyClaim: -Infinity }
      this.#peers.set(k, s)
    }
    return s
  }

  balance(peer: Uint8Array): BalanceView {
    const a = this.store.account(peer)
    return { peer: toB64(peer), served: a.served, consumed: a.consumed, charged: a.charged, billed: a.billed, paidIn: a.paidIn, paidOut: a.paidOut, balance: balanceOf(a) }
  }

  /** What the peer owes us (negative: what we owe it). */
  owed(peer: Uint8Array): bigint {
    return balanceOf(this.store.account(peer))
  }

  // ---- metering ----

  /** Meters one application frame (from ctx.wireTap): out = we served it, in = the peer served us. */
  observeFrame(ev: FrameEvent): void {
    if (!this.#cfg.enabled || ev.bytes <= 0 || this.store.closed) return
    const service = wireServiceOf(ev.type)
    if (!service) return
    // wire bytes are priced at the network byte price on both sides (never a local dynamic rate), so both views agree
    const amount = BigInt(ev.bytes) * this.pricing.bytePrice
    this.#meter(ev.peer.nodeId, ev.direction === 'out' ? 'served' : 'consumed', service, BigInt(ev.bytes), amount)
  }

  authorize(nodeId: Uint8Array, service: string): void {
    // a stopped ledger (node shutting down) meters nothing and blocks nobody
    if (!this.#cfg.enabled || this.store.closed) return
    const owed = this.owed(nodeId)
    const v = this.trust.view(nodeId)
    if (v.blacklisted) { this.#events.refusal('low_trust'); throw new LowTrustError(`peer is blacklisted (${v.reason}); not serving ${service}`) }
    if (v.effective < this.#trustMin && -owed < toAmount(this.#cfg.trust.collateral)) {
      this.#events.refusal('low_trust')
      // an unstaked peer scores 0 however well it behaves: say so, or its operator sees only a refusal
      const why = v.stake <= 0n ? ' because the peer has no stake (bind its identity and stake: zeone chain bind, zeone stake AMOUNT)' : ''
      throw new LowTrustError(`effective trust ${v.effective.toFixed(3)} below ${this.#trustMin}${why} and no collateral; not serving ${service}`)
    }
    if (owed > this.#debtLimit) {
      const s = this.#state(nodeId)
      if (!s.overLimit) { s.overLimit = true; this.trust.report(nodeId, 'excessive_debt', `${owed}`) }
      this.#events.refusal('debt_limit')
      throw new DebtLimitError(`peer owes ${owed} micro-credits, over the debt limit ${this.#debtLimit}; send a cheque`)
    }
  }

  record(nodeId: Uint8Array, service: string, units: bigint, direction: 'served' | 'consumed'): bigint {
    if (!this.#cfg.enabled || units <= 0n || this.store.closed) return 0n
    // service charges are the provider's: the consumer's own estimate is replaced by the provider's signed statement
    const amount = direction === 'served' ? this.pricing.chargeServed(service, units) : this.pricing.chargeConsumed(service, units)
    this.#meter(nodeId, direction === 'served' ? 'charged' : 'billed', service, units, amount)
    return amount
  }

  #meter(peer: Uint8Array, kind: 'served' | 'consumed' | 'charged' | 'billed', service: string, units: bigint, amount: bigint): void {
    this.store.meter(peer, kind, service, units, amount)
    // a failed flush is reported (onFlushError) and retried by the next one; metering goes on
    if (this.store.pending >= this.#cfg.maxBatch) { try { this.store.flush() } catch { /* reported */ } }
    if ((kind === 'consumed' || kind === 'billed') && this.#init.onPaymentDue && -this.owed(peer) >= this.#payThreshold) {
      const s = this.#state(peer)
      if (!s.due) { s.due = true; this.#init.onPaymentDue(peer) }
    }
  }

  // ---- cheques ----

  /**
   * The fields of a cheque for everything we owe the peer (cumulative); undefined when we owe nothing. The
   * cumulative amount never passes what our own meter recorded the peer served us (payableTo).
   */
  prepareCheque(peer: Uint8Array): Omit<ChequeFields, 'onchain'> | undefined {
    this.#state(peer).due = false
    const a = this.store.account(peer)
    let debt = -this.owed(peer)
    const room = payableTo(a) - a.paidOut
    if (debt > room) debt = room
    if (debt <= 0n) return undefined
    return { debtor: this.#init.identity.publicKey, creditor: new Uint8Array(peer), amount: a.paidOut + debt, serial: a.outSerial + 1n, expires: BigInt(Math.floor(this.#init.clock.now() / 1000) + this.#cfg.chequeTtlSec) }
  }

  /**
   * Signs and commits a prepared cheque (with its on-chain part, if any) and returns its bytes for sending; the
   * ledger is committed first, so a crash can never make us re-issue the serial. Undefined when another cheque
   * took the serial meanwhile (an async on-chain signature was in flight).
   */
  commitCheque(peer: Uint8Array, fields: Omit<ChequeFields, 'onchain'>, onchain?: OnchainPart): Uint8Array | undefined {
    const a = this.store.touch(peer)
    if (fields.serial !== a.outSerial + 1n || fields.amount < a.paidOut || fields.amount > payableTo(a)) return undefined
    const c = signCheque(this.#init.identity, onchain ? { ...fields, onchain } : fields)
    const bytes = encodeCheque(c)
    const delta = c.amount - a.paidOut
    a.paidOut = c.amount
    a.outSerial = c.serial
    this.store.log(peer, 'cheque_out', delta, `serial ${c.serial}`)
    this.store.putCheque({ debtor: c.debtor, creditor: new Uint8Array(peer), serial: c.serial, amount: c.amount, expires: c.expires, bytes, status: 'active', updated: this.#init.clock.now() })
    this.store.flush()
    this.#events.cheque('out', 'sent')
    return bytes
  }

  /** Prepares, signs (awaiting the settlement client's EIP-712 signer when configured) and commits a cheque. */
  async issueChequeAsync(peer: Uint8Array): Promise<Uint8Array | undefined> {
    const fields = this.prepareCheque(peer)
    if (!fields) return undefined
    const onchain = this.#init.onchainSigner ? await this.#init.onchainSigner(fields) : undefined
    if (this.store.closed) return undefined
    return this.commitCheque(peer, fields, onchain)
  }

  /** Synchronous issue without an on-chain part (no settlement client, tests). */
  issueCheque(peer: Uint8Array): Uint8Array | undefined {
    const fields = this.prepareCheque(peer)
    return fields && this.commitCheque(peer, fields)
  }

  /**
   * Accepts a cheque from `peer` (the link's proven identity). Throws ChequeRejectedError and reports trust.
   * The cheque is held at its full amount (it supersedes the held one), but it is credited only up to what the
   * peer owes us: `paidIn` (the credited cumulative amount) never rises past paidIn + owed. The rest is recorded
   * as a `cheque_excess` dispute; a later cheque credits it only as the peer comes to owe it.
   */
  receiveCheque(peer: Uint8Array, bytes: Uint8Array): 'new' | 'duplicate' {
    const a = this.store.account(peer)
    let verdict: 'new' | 'duplicate'
    let c
    try {
      c = decodeCheque(bytes)
      // amount and serial are bounded by the codec; the expiry is stored too
      if (c.expires > MAX_LEDGER_AMOUNT) throw new ChequeRejectedError('bad_cheque', `cheque expiry ${c.expires} exceeds 2^63-1`)
      verdict = checkCheque(c, {
        debtor: peer, creditor: this.#init.identity.publicKey, nowSec: BigInt(Math.floor(this.#init.clock.now() / 1000)),
        previous: this.#heldFrom(peer, a), onchainVerifier: this.#init.onchainVerifier,
      })
    } catch (err) {
      if (err instanceof ChequeRejectedError) {
        const ev = chequeTrustEvent(err.code, c, a.inSerial)
        if (ev !== undefined) this.trust.report(peer, ev, err.message)
        this.#events.cheque('in', err.code)
      }
      throw err
    }
    this.#events.cheque('in', verdict === 'new' ? 'accepted' : 'duplicate')
    if (verdict === 'duplicate') return verdict
    const before = this.owed(peer)
    const t = this.store.touch(peer)
    const most = t.paidIn + (before > 0n ? before : 0n)
    const credited = c.amount < most ? c.amount : most
    const delta = credited - t.paidIn
    this.store.putCheque({ debtor: peer, creditor: c.creditor, serial: c.serial, amount: c.amount, expires: c.expires, bytes, status: 'active', updated: this.#init.clock.now() })
    this.store.log(peer, 'cheque_in', delta, credited === c.amount ? `serial ${c.serial}` : `serial ${c.serial}, amount ${c.amount}`)
    t.paidIn = credited
    t.inSerial = c.serial
    if (credited < c.amount) {
      // more than the peer owes us: never credit we owe it (an honest debtor can overpay on a high estimate)
      this.store.divergence({ peer, side: 'attester', claimed: c.amount, attested: credited, reason: 'cheque_excess', accepted: false })
      this.#events.divergence('cheque_excess')
      this.#log.warn({ peer: toB64(peer), amount: `${c.amount}`, credited: `${credited}` }, 'cheque exceeds what the peer owes us; the excess is not credited')
    }
    this.trust.report(peer, 'iou_created')
    const s = this.#state(peer)
    if (before > this.debtLimit && this.owed(peer) <= this.debtLimit) { s.overLimit = false; this.trust.report(peer, 'debt_repaid') }
    return verdict
  }

  /** The latest cheque we hold from `peer` (amount as signed, not as credited), for the supersede check. */
  #heldFrom(peer: Uint8Array, a: Account): { amount: bigint; serial: bigint } | undefined {
    if (a.inSerial === 0n) return undefined
    const row = this.store.getCheque(peer, this.#init.identity.publicKey)
    return row && row.serial === a.inSerial ? { amount: row.amount, serial: row.serial } : { amount: a.paidIn, serial: a.inSerial }
  }

  /**
   * Files a claim another layer judged against its own meter (the v0 bridge's byte totals): a disagreement becomes
   * a divergence row in the ledger (evidence, capped to what the store holds), an agreement nothing; neither ever
   * moves a balance. At most one row per peer per `minClaimGapMs`, so a chatty peer cannot grow the ledger.
   */
  recordLegacyClaim(peer: Uint8Array, c: { claimed: bigint; ours: bigint; agreed: boolean; reason: string }): void {
    if (!this.#cfg.enabled || this.store.closed || c.agreed) return
    const s = this.#state(peer)
    const now = this.#init.clock.now()
    if (now - s.lastLegacyClaim < this.#cfg.minClaimGapMs) return
    s.lastLegacyClaim = now
    const cap = (x: bigint): bigint => (x < 0n ? 0n : x > MAX_LEDGER_AMOUNT ? MAX_LEDGER_AMOUNT : x)
    this.store.divergence({ peer, side: 'attester', claimed: cap(c.claimed), attested: cap(c.ours), reason: c.reason.slice(0, 64), accepted: false })
    this.#events.divergence('v0_claim')
  }

  /** The session could not act on onPaymentDue (no link): let the next metered frame raise it again. */
  cancelDue(peer: Uint8Array): void { this.#state(peer).due = false }

  /** The latest cheque each debtor gave us that is still active (what the settlement client can cash). */
  heldCheques(): Array<{ debtor: Uint8Array; serial: bigint; amount: bigint; expires: bigint; bytes: Uint8Array }> {
    const me = this.#init.identity.publicKey
    return this.store.listCheques().filter((r) => r.status === 'active' && equalBytes(r.creditor, me))
  }

  /** Records that the latest cheque from `debtor` was cashed on-chain. */
  markRedeemed(debtor: Uint8Array, serial: bigint): boolean {
    const row = this.store.getCheque(debtor, this.#init.identity.publicKey)
    if (!row || row.serial !== serial || row.status !== 'active') return false
    this.store.putCheque({ ...row, status: 'redeemed', updated: this.#init.clock.now() })
    this.trust.report(debtor, 'iou_redeemed')
    return true
  }

  /** Marks held cheques that expired unredeemed while the debtor still owes us as defaulted; returns how many. */
  checkDefaults(): number {
    const nowSec = BigInt(Math.floor(this.#init.clock.now() / 1000))
    let n = 0
    for (const row of this.store.listCheques()) {
      if (row.status !== 'active' || !equalBytes(row.creditor, this.#init.identity.publicKey) || row.expires > nowSec) continue
      if (this.owed(row.debtor) <= 0n) continue
      this.store.putCheque({ ...row, status: 'defaulted', updated: this.#init.clock.now() })
      this.trust.report(row.debtor, 'iou_defaulted')
      n++
    }
    return n
  }

  // ---- reconciliation (src/economy/claims.ts) ----

  makeClaim(peer: Uint8Array): { bytes: Uint8Array; pending: PendingClaim } { return this.#claims.makeClaim(peer) }
  /** Answers a peer's claim with our signed count of what we received from it. Commits first. */
  answerClaim(peer: Uint8Array, bytes: Uint8Array): Uint8Array { return this.#claims.answerClaim(peer, bytes) }
  /** Applies the peer's ack to our claim. */
  applyAck(pending: PendingClaim, bytes: Uint8Array): ReconcileDecision { return this.#claims.applyAck(pending, bytes) }

  /** A link to the peer closed: anything served on it since the last confirmation may be lost in flight. */
  linkClosed(peer: Uint8Array): void { this.#state(peer).dropEpoch++ }

  flush(): void { this.store.flush() }
  close(): void { this.store.close() }
}

/** The most we may ever have paid the peer in total: what our own meter recorded it served us. */
function payableTo(a: { consumed: bigint; billed: bigint }): bigint {
  return a.consumed + a.billed
}

function balanceOf(a: { served: bigint; charged: bigint; consumed: bigint; billed: bigint; paidIn: bigint; paidOut: bigint }): bigint {
  return a.served + a.charged - a.consumed - a.billed - a.paidIn + a.paidOut
}

function chequeTrustEvent(code: string, c: { serial: bigint } | undefined, inSerial: bigint): 'signature_forgery' | 'double_spend' | 'invalid_message' | 'excessive_debt' | undefined {
  if (code === 'bad_signature' || code === 'bad_onchain') return 'signature_forgery'
  // the settlement client's chain checks (src/economy/chain/cheque-guard.ts); pending = our cache, not the peer
  if (code === 'onchain_pending') return undefined
  if (code === 'onchain_uncovered') return 'excessive_debt'
  // a validly signed cheque with a newer serial but a lower cumulative amount tries to take back a payment
  if (code === 'cheque_backwards' && c && c.serial > inSerial) return 'double_spend'
  return 'invalid_message'
}
