/**
 * The server side of pay per token for one remote generation: counts tokens streamed, applies the client's signed
 * receipts to the usage meter (what a receipt covers is what the server records as served: the same count the
 * client recorded when it signed it), and holds the stream while more than `window` tokens are unreceipted.
 */
import type { UsageMeter } from '../../interfaces/services.js'
import type { TrustSink } from '../../interfaces/trust.js'
import { equalBytes } from '../../util/bytes.js'
import { verifyReceipt, type Receipt } from './receipt.js'

/** Service name under which generated tokens are metered (priced by the governed `fee_ai`, unit token). */
export const GEN_SERVICE = 'cortex:gen'

export interface ServerMeterInit {
  server: Uint8Array
  client: Uint8Array
  gid: Uint8Array
  price: bigint
  /** Most tokens streamed ahead of the receipts. */
  window: number
  usage: UsageMeter
  trust?: TrustSink
  /** How long to wait for a receipt before giving up on the client. */
  receiptTimeoutMs: number
}

export class ServerMeter {
  sent = 0
  paid = 0
  /** The latest valid receipt (evidence of the client's signed cumulative count). */
  latest: Receipt | undefined
  #wake: (() => void) | null = null

  constructor(readonly init: ServerMeterInit) {}

  /** Applies a decoded CORTEX_RECEIPT from the client's link. Never throws: bad receipts are reported and ignored. */
  onReceipt(r: Receipt): void {
    const i = this.init
    if (!equalBytes(r.gid, i.gid) || r.price !== i.price) { i.trust?.report(i.client, 'invalid_message', 'receipt for another generation or price'); return }
    if (!verifyReceipt(r, i.server, i.client)) { i.trust?.report(i.client, 'signature_forgery', 'token receipt signature does not verify'); return }
    if (r.n <= this.paid) return // cumulative: an older (or equal) count adds nothing
    // a receipt past what we streamed is not ours to bill: we record only tokens we sent
    if (r.n > this.sent) i.trust?.report(i.client, 'invalid_message', `receipt for ${r.n} tokens, ${this.sent} streamed`)
    const n = Math.min(r.n, this.sent)
    const delta = n - this.paid
    if (delta <= 0) return
    this.paid = n
    this.latest = r
    try { i.usage.record(i.client, GEN_SERVICE, BigInt(delta), 'served') } catch { /* ledger closed: the node is stopping */ }
    this.#wake?.()
  }

  /** Counts tokens streamed. */
  streamed(k: number): void { this.sent += k }

  /** Resolves true once fewer than `ahead` tokens are unreceipted; false on timeout or abort. */
  async covered(ahead: number, signal?: AbortSignal): Promise<boolean> {
    const deadline = Date.now() + this.init.receiptTimeoutMs
    while (this.sent - this.paid >= Math.max(1, ahead)) {
      if (signal?.aborted) return false
      const left = deadline - Date.now()
      if (left <= 0) return false
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, left)
        const onAbort = (): void => done()
        signal?.addEventListener('abort', onAbort, { once: true })
        function done(): void { clearTimeout(t); signal?.removeEventListener('abort', onAbort); resolve() }
        this.#wake = done
      })
      this.#wake = null
    }
    return true
  }

  /** Room to stream one more token. */
  room(signal?: AbortSignal): Promise<boolean> { return this.covered(this.init.window, signal) }
  /** Waits for the receipts of everything streamed (the end of the generation). */
  settle(signal?: AbortSignal): Promise<boolean> { return this.covered(1, signal) }
}
