/**
 * The claimant and attester sides of BALANCE_CLAIM / BALANCE_ACK (docs/protocol/economy.md §3-4), over the
 * engine's ledger, trust book and per-peer state. Used through Economy.makeClaim / answerClaim / applyAck.
 */
import type { Clock } from '../interfaces/clock.js'
import type { Logger } from '../interfaces/logger.js'
import { equalBytes, toB64 } from '../util/bytes.js'
import type { ChequeSigner } from './cheque.js'
import { toAmount, type EconomyConfig } from './config.js'
import { EconomyProtocolError } from './errors.js'
import { checkStorable, MAX_LEDGER_AMOUNT } from './ledger-rows.js'
import type { LedgerStore } from './ledger-store.js'
import { ACK_DIVERGED, ACK_OK, claimHash, decodeAck, decodeClaim, encodeAck, encodeClaim } from './messages.js'
import type { EconomyEvents } from './metrics.js'
import { PPM } from './pricing.js'
import { reconcile, type ReconcileDecision } from './reconcile.js'
import type { TrustBook } from './trust.js'

/** Volatile per-peer state of the engine (lost on restart, which the reconciliation rule accounts for). */
export interface PeerState { dropEpoch: number; confirmedDropEpoch: number; seq: bigint; overLimit: boolean; due: boolean; adjusted: bigint; lastAnswer: number; lastLegacyClaim: number }

/** A claim awaiting its ack. `adjusted` = the peer's adjustment sum when it was made (acks may overlap). */
export interface PendingClaim { peer: Uint8Array; seq: bigint; hash: Uint8Array; served: bigint; dropEpoch: number; adjusted: bigint }

export interface ClaimsDeps {
  identity: ChequeSigner
  clock: Clock
  cfg: EconomyConfig
  store: LedgerStore
  trust: TrustBook
  log: Logger
  events: EconomyEvents
  maxRecovery: bigint
  state(peer: Uint8Array): PeerState
  receiveCheque(peer: Uint8Array, bytes: Uint8Array): unknown
}

export class Claims {
  #d: ClaimsDeps
  constructor(deps: ClaimsDeps) { this.#d = deps }

  makeClaim(peer: Uint8Array): { bytes: Uint8Array; pending: PendingClaim } {
    const s = this.#d.state(peer)
    s.seq++
    const a = this.#d.store.account(peer)
    const latest = this.#d.store.getCheque(this.#d.identity.publicKey, peer)
    const bytes = encodeClaim(this.#d.identity, {
      to: peer, seq: s.seq, served: a.served, consumed: a.consumed, charged: a.charged, paidOut: a.paidOut, ts: BigInt(this.#d.clock.now()),
      ...(latest ? { cheque: latest.bytes } : {}),
    })
    return { bytes, pending: { peer: new Uint8Array(peer), seq: s.seq, hash: claimHash(bytes), served: a.served, dropEpoch: s.dropEpoch, adjusted: s.adjusted } }
  }

  /** Answers a peer's claim with our signed count of what we received from it. Commits first. */
  answerClaim(peer: Uint8Array, bytes: Uint8Array): Uint8Array {
    const st = this.#d.state(peer)
    const now = this.#d.clock.now()
    if (now - st.lastAnswer < this.#d.cfg.minClaimGapMs) {
      throw new EconomyProtocolError('rate_limited', `balance claims closer than ${this.#d.cfg.minClaimGapMs} ms`)
    }
    let c
    try {
      c = decodeClaim(bytes)
      if (!equalBytes(c.from, peer) || !equalBytes(c.to, this.#d.identity.publicKey)) throw new EconomyProtocolError('wrong_party', 'balance claim names the wrong parties')
    } catch (err) {
      this.#d.trust.report(peer, (err as EconomyProtocolError).code === 'bad_signature' ? 'signature_forgery' : 'invalid_message', (err as Error).message)
      throw err
    }
    if (c.cheque) {
      try { this.#d.receiveCheque(peer, c.cheque) } catch (err) { this.#d.log.debug({ err: (err as Error).message }, 'cheque in balance claim refused') }
    }
    const a = this.#d.store.account(peer)
    // service charges: the provider prices them (its dynamic rate), so its signed cumulative statement replaces our
    // estimate, but only as far as our own meter explains it: at most our estimate at the network's highest rate,
    // plus maxRecoveryAdjust once we restarted uncleanly (estimates lost un-flushed). That allowance stays in force
    // for later statements: the first statement after a crash may be stale (made before charges we recorded while
    // it was in flight, which it then drops from `billed`), so the lost estimates must stay explained for the next
    // one too. It is set, not added per crash: the most a provider bills beyond our surviving estimate stays one
    // maxRecoveryAdjust. A statement above the bound is a recorded dispute; nothing in a claim raises what we owe
    // past our own meter. (what an earlier statement already set stays explained: a statement can always keep or lower it)
    if (this.#d.store.recoveries > a.billedRecovery) {
      const t = this.#d.store.touch(peer)
      t.billedRecovery = this.#d.store.recoveries
      t.billedCredit = this.#d.maxRecovery
    }
    const explained = this.#statementBound(a.billedEst, a.billedCredit)
    const bound = explained > a.billed ? explained : a.billed
    const billed = c.charged < bound ? c.charged : bound
    if (billed !== a.billed) {
      const t = this.#d.store.touch(peer)
      const delta = billed - t.billed
      this.#d.store.log(peer, 'billed', delta, 'provider statement')
      t.billed = billed
      if (delta < 0n ? -delta > this.#tolerance(billed) : delta > this.#tolerance(billed)) {
        this.#d.store.divergence({ peer, side: 'attester', claimed: billed, attested: billed - delta, reason: 'provider_statement', accepted: true })
        this.#d.events.divergence('provider_statement')
      }
    }
    if (c.charged > bound) {
      this.#d.store.divergence({ peer, side: 'attester', claimed: c.charged, attested: bound, reason: 'provider_statement_excess', accepted: false })
      this.#d.events.divergence('provider_statement_excess')
      this.#d.log.warn({ peer: toB64(peer), charged: `${c.charged}`, bound: `${bound}` }, 'provider statement beyond what our own meter explains; recorded, not billed')
    }
    const status = a.consumed === c.served ? ACK_OK : ACK_DIVERGED
    if (status === ACK_DIVERGED) this.#d.log.debug({ peer: toB64(peer), claimed: `${c.served}`, attested: `${a.consumed}` }, 'balance claim differs from our count')
    this.#d.trust.report(peer, 'valid_message')
    st.lastAnswer = now
    // our attestation must survive a crash: the claimant builds its bounds on it
    this.#d.store.flush()
    // paidIn on the wire: the cumulative amount of the cheque we hold (it may exceed what we credited)
    const held = this.#d.store.getCheque(peer, this.#d.identity.publicKey)
    return encodeAck(this.#d.identity, { to: peer, seq: c.seq, claim: claimHash(bytes), attested: a.consumed, paidIn: held?.amount ?? a.paidIn, status, ts: BigInt(this.#d.clock.now()) })
  }

  #tolerance(v: bigint): bigint { return toAmount(this.#d.cfg.toleranceAbs) + (v * BigInt(this.#d.cfg.tolerancePpm)) / PPM }

  /** The largest provider statement our own estimate explains: the estimate at the highest network rate, + tolerance, + recovery allowance. */
  #statementBound(estimate: bigint, credit: bigint): bigint {
    const maxRate = BigInt(Math.max(this.#d.cfg.pricing.maxRatePpm, 1_000_000))
    const b = (estimate * maxRate + PPM - 1n) / PPM + this.#tolerance(estimate) + credit
    return b > MAX_LEDGER_AMOUNT ? MAX_LEDGER_AMOUNT : b
  }

  /** Applies the peer's ack to our claim. */
  applyAck(pending: PendingClaim, bytes: Uint8Array): ReconcileDecision {
    const peer = pending.peer
    const ack = decodeAck(bytes)
    if (!equalBytes(ack.from, peer) || !equalBytes(ack.to, this.#d.identity.publicKey) || ack.seq !== pending.seq || !equalBytes(ack.claim, pending.hash)) {
      this.#d.trust.report(peer, 'invalid_message', 'balance ack does not answer our claim')
      throw new EconomyProtocolError('wrong_party', 'balance ack does not answer our claim')
    }
    const s = this.#d.state(peer)
    const a = this.#d.store.touch(peer)
    // adjustments applied since the claim was made shift our counter; move the claimed value into today's terms
    const claimed = pending.served + (s.adjusted - pending.adjusted)
    const d = reconcile({
      claimed, attested: ack.attested, confirmed: a.confirmedServed,
      droppedSinceConfirm: pending.dropEpoch > s.confirmedDropEpoch, crashedSinceConfirm: this.#d.store.recoveries > a.confirmedRecovery,
      toleranceAbs: toAmount(this.#d.cfg.toleranceAbs), tolerancePpm: BigInt(this.#d.cfg.tolerancePpm), maxRecovery: this.#d.maxRecovery,
    })
    if (d.reason !== 'ok') this.#d.events.divergence(d.reason)
    if (d.accepted) {
      if (d.delta !== 0n) {
        checkStorable(a.served + d.delta, 'served')
        this.#d.store.log(peer, 'adjust', d.delta, d.reason)
        a.served += d.delta
        s.adjusted += d.delta
        this.#d.store.divergence({ peer, side: 'claimant', claimed, attested: ack.attested, reason: d.reason, accepted: true })
      }
      a.confirmedServed = ack.attested
      a.confirmedRecovery = this.#d.store.recoveries
      s.confirmedDropEpoch = pending.dropEpoch
    } else {
      this.#d.store.divergence({ peer, side: 'claimant', claimed, attested: ack.attested, reason: d.reason, accepted: false })
      this.#d.log.warn({ peer: toB64(peer), claimed: `${claimed}`, attested: `${ack.attested}` }, 'unexplained balance divergence recorded')
    }
    this.#d.store.flush()
    return d
  }
}
