/**
 * The client side of pay per token for one remote generation: checks the server's quote against the budget,
 * counts the tokens that arrived, records them as consumed and signs a cumulative receipt for them. The count is
 * the client's own: a server that says (in `n` on done) it streamed more is reported, never paid for; a server that
 * streams past the budget gets no receipt past it and the generation is failed.
 */
import type { UsageMeter } from '../../interfaces/services.js'
import type { TrustSink } from '../../interfaces/trust.js'
import { InferenceError } from '../errors.js'
import { encodeReceipt, signReceipt, type ReceiptSigner } from './receipt.js'
import { GEN_SERVICE } from './server-meter.js'

export interface ClientMeterInit {
  signer: ReceiptSigner
  server: Uint8Array
  gid: Uint8Array
  maxTokens: number
  /** The request may be shortened (by context or budget) instead of refused. */
  fit: boolean
  budget?: bigint
  usage?: UsageMeter
  trust?: TrustSink
}

export class ClientMeter {
  received = 0
  price = 0n
  window = 0
  #accepted = false
  #early = 0

  constructor(readonly init: ClientMeterInit) {}

  /** Most tokens the budget pays for at the quoted price (Infinity: no budget or free). */
  get affordable(): number {
    const b = this.init.budget
    if (b === undefined || this.price === 0n) return Infinity
    const n = b / this.price
    return n > BigInt(Number.MAX_SAFE_INTEGER) ? Infinity : Number(n)
  }

  /** What the tokens that arrived cost at the quote. */
  get cost(): bigint { return BigInt(this.received) * this.price }

  /** Applies the acceptance's quote; returns a receipt for tokens that arrived before it, if any. */
  accept(q: { price?: bigint; window?: number }): Uint8Array | undefined {
    this.price = q.price ?? 0n
    this.window = q.window ?? 0
    this.#accepted = true
    if (!this.init.fit && this.affordable < this.init.maxTokens) {
      throw new InferenceError('over_budget', `the quote (${this.price} per token) puts ${this.init.maxTokens} tokens over the budget ${this.init.budget}`)
    }
    const k = this.#early
    this.#early = 0
    return k ? this.arrived(k) : undefined
  }

  /** Counts `k` tokens that arrived; returns the receipt bytes to send (undefined when the server wants none). */
  arrived(k: number): Uint8Array | undefined {
    if (!this.#accepted) { this.#early += k; return undefined }
    if (this.received + k > this.affordable) {
      const over = this.received + k - this.affordable
      this.init.trust?.report(this.init.server, 'invalid_message', `streamed ${over} tokens past the budget`)
      throw new InferenceError('over_budget', 'the server streamed past the budget')
    }
    this.received += k
    if (this.window === 0) return undefined
    try { this.init.usage?.record(this.init.server, GEN_SERVICE, BigInt(k), 'consumed') } catch { /* ledger closed */ }
    return encodeReceipt(signReceipt(this.init.signer, this.init.server, this.init.gid, this.received, this.price))
  }

  /** The server's final count: more than arrived is a false claim (reported; we pay our own count). */
  finish(n: number | undefined): void {
    if (n !== undefined && n > this.received) this.init.trust?.report(this.init.server, 'invalid_message', `claimed ${n} tokens, ${this.received} arrived`)
  }
}
