/**
 * The creditor's check of a cheque's `onchain` part against the chain (docs/protocol/economy.md §2): besides the
 * EIP-712 signature, the cheque must pay *us* (creditorEvm = our EVM address), at the agreed rate
 * (amountWei = amount * weiPerMicroCredit), from the EVM address the sender's Ed25519 id is bound to, and what is
 * still unpaid must be covered by the debtor's deposit with no withdrawal under way.
 *
 * Economy.receiveCheque is synchronous, chain reads are not: the guard answers from caches (binding per node id,
 * deposit state per debtor address) that `warm()` fills — the node warms every peer when its link comes up — and
 * that a miss or a stale entry refreshes in the background. A cheque that arrives before the cache knows the
 * debtor is refused as `onchain_pending` (no trust event); the next balance claim carries it again.
 */
import { bytesToHex, getAddress, type Address } from 'viem'
import type { Cheque } from '../cheque.js'
import { equalBytes } from '../../util/bytes.js'
import { makeOnchainVerifier } from './cheque-eip712.js'

/** Why the guard refused a cheque (ChequeRejectedError code + message). */
export interface OnchainRefusal { code: OnchainRefusalCode; message: string }
export type OnchainRefusalCode = 'bad_onchain' | 'onchain_wrong_payee' | 'onchain_wrong_rate' | 'onchain_unbound' | 'onchain_uncovered' | 'onchain_pending'

/** A debtor's deposit as the escrow holds it, and what it already paid us. */
export interface DebtorState {
  balance: bigint
  /** True while a withdrawal request is open (requested and not yet expired): the deposit is leaving. */
  withdrawing: boolean
  /** SettlementEscrow.paidOut(debtor, us). */
  paidToUs: bigint
}

/** The chain reads the guard needs (ChainClient implements them). */
export interface ChequeChainView {
  /** The EVM address `nodeId` is verifiably bound to, or undefined. */
  addressOf(nodeId: Uint8Array): Promise<Address | undefined>
  debtorState(debtor: Address, creditor: Address): Promise<DebtorState>
}

export interface ChequeGuardInit {
  chain: ChequeChainView
  chainId: bigint
  escrow: Uint8Array
  /** Our bound EVM address: every cheque must pay it. */
  selfEvm: Address
  /** The agreed rate: ZEO wei per ledger micro-credit. */
  weiPerMicroCredit: bigint
  /** An entry younger than this is used as is. @default 15000 */
  ttlMs?: number
  /** An entry older than this is not trusted at all (refused as pending while it refreshes). @default 10 * ttlMs */
  maxStaleMs?: number
  /** @default 10000 per cache */
  max?: number
  now?: () => number
  onError?: (err: Error) => void
}

interface Entry<T> { at: number; value: T }

const MAX_INFLIGHT = 64

/** A bounded cache of async lookups with one refresh in flight per key. */
class AsyncCache<T> {
  readonly #map = new Map<string, Entry<T>>()
  readonly #inflight = new Map<string, Promise<T>>()
  constructor(private readonly max: number, private readonly now: () => number, private readonly onError: (err: Error) => void) {}

  get(key: string): Entry<T> | undefined { return this.#map.get(key) }

  refresh(key: string, load: () => Promise<T>): Promise<T> {
    const running = this.#inflight.get(key)
    if (running) return running
    const p = load().then((value) => {
      if (this.#map.size >= this.max && !this.#map.has(key)) this.#map.delete(this.#map.keys().next().value as string)
      this.#map.delete(key)
      this.#map.set(key, { at: this.now(), value })
      return value
    }).finally(() => this.#inflight.delete(key))
    this.#inflight.set(key, p)
    return p
  }

  /** Starts a background refresh unless too many are running already. */
  kick(key: string, load: () => Promise<T>): void {
    if (this.#inflight.has(key) || this.#inflight.size >= MAX_INFLIGHT) return
    this.refresh(key, load).catch((err: unknown) => this.onError(err as Error))
  }

  drop(key: string): void { this.#map.delete(key) }

  get busy(): boolean { return this.#inflight.size > 0 }

  async idle(): Promise<void> { while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight.values()]) }
}

export class ChequeGuard {
  readonly #init: ChequeGuardInit
  readonly #sig: (c: Cheque) => boolean
  readonly #ttl: number
  readonly #maxStale: number
  readonly #now: () => number
  readonly #bindings: AsyncCache<Address | undefined>
  readonly #deposits: AsyncCache<DebtorState>
  readonly #onError: (err: Error) => void

  constructor(init: ChequeGuardInit) {
    this.#init = init
    this.#sig = makeOnchainVerifier({ chainId: init.chainId, escrow: init.escrow })
    this.#ttl = init.ttlMs ?? 15_000
    this.#maxStale = init.maxStaleMs ?? 10 * this.#ttl
    this.#now = init.now ?? Date.now
    const onError = init.onError ?? (() => {})
    this.#onError = onError
    this.#bindings = new AsyncCache(init.max ?? 10_000, this.#now, onError)
    this.#deposits = new AsyncCache(init.max ?? 10_000, this.#now, onError)
  }

  /** Loads the peer's binding and, if bound, its deposit state (call when a link comes up; awaitable in tests). */
  async warm(peer: Uint8Array): Promise<void> {
    const addr = await this.#bindings.refresh(bytesToHex(peer), () => this.#init.chain.addressOf(peer))
    if (addr !== undefined) await this.#deposits.refresh(addr.toLowerCase(), () => this.#init.chain.debtorState(addr, this.#init.selfEvm))
  }

  /** Forgets what we know about a debtor's deposit (after we cashed, or an event says it changed). */
  invalidateDeposit(debtor: Address): void { this.#deposits.drop(debtor.toLowerCase()) }

  /** Resolves when no lookups are running (tests, shutdown). */
  async settled(): Promise<void> {
    do {
      await this.#bindings.idle()
      await new Promise((r) => setImmediate(r)) // let a finished binding lookup start its deposit lookup
      await this.#deposits.idle()
    } while (this.#bindings.busy || this.#deposits.busy)
  }

  /** Economy's OnchainVerifier: true, or why the cheque is refused. Synchronous, from the caches. */
  verify(c: Cheque): true | OnchainRefusal {
    const o = c.onchain
    if (o === undefined) return true
    if (!this.#sig(c)) return { code: 'bad_onchain', message: 'the EIP-712 part is not the debtor key\'s signature for our chain and escrow' }
    if (!equalBytes(o.creditorEvm, hexBytes(this.#init.selfEvm))) {
      return { code: 'onchain_wrong_payee', message: `the on-chain cheque pays ${getAddress(bytesToHex(o.creditorEvm))}, not our address ${this.#init.selfEvm}` }
    }
    const want = c.amount * this.#init.weiPerMicroCredit
    if (o.amountWei !== want) {
      return { code: 'onchain_wrong_rate', message: `amountWei ${o.amountWei} is not ${c.amount} credits at ${this.#init.weiPerMicroCredit} wei each (${want})` }
    }
    const bound = this.#fresh(this.#bindings, bytesToHex(c.debtor), () => this.#init.chain.addressOf(c.debtor))
    if (bound === undefined) {
      this.warm(c.debtor).catch((err: unknown) => this.#onError(err as Error)) // binding, then its deposit
      return pending('the debtor\'s binding')
    }
    const debtorEvm = getAddress(bytesToHex(o.debtorEvm))
    if (bound.value === undefined || bound.value.toLowerCase() !== debtorEvm.toLowerCase()) {
      return { code: 'onchain_unbound', message: `${debtorEvm} is not the EVM address the sender's node id is bound to (${bound.value ?? 'none'})` }
    }
    const st = this.#fresh(this.#deposits, debtorEvm.toLowerCase(), () => this.#init.chain.debtorState(debtorEvm, this.#init.selfEvm))
    if (st === undefined) return pending('the debtor\'s deposit')
    const unpaid = o.amountWei > st.value.paidToUs ? o.amountWei - st.value.paidToUs : 0n
    if (st.value.withdrawing && unpaid > 0n) return { code: 'onchain_uncovered', message: 'the debtor has requested to withdraw its deposit' }
    if (unpaid > st.value.balance) return { code: 'onchain_uncovered', message: `unpaid ${unpaid} wei exceeds the debtor's deposit of ${st.value.balance}` }
    return true
  }

  /** The entry if it is young enough to trust (refreshing it in the background once it is past the TTL). */
  #fresh<T>(cache: AsyncCache<T>, key: string, load: () => Promise<T>): Entry<T> | undefined {
    const e = cache.get(key)
    const age = e === undefined ? Infinity : this.#now() - e.at
    if (age >= this.#ttl) cache.kick(key, load)
    return age < this.#maxStale ? e : undefined
  }
}

function pending(what: string): OnchainRefusal {
  return { code: 'onchain_pending', message: `${what} is not known yet; looking it up (the next claim carries the cheque again)` }
}

function hexBytes(a: Address): Uint8Array {
  return Uint8Array.from(Buffer.from(a.slice(2), 'hex'))
}
