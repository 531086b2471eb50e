/**
 * Our own publications: values we signed (`put`, a higher seq each time) and provider records (`provide`), kept
 * (and saved, when persistence is on) so that they are re-signed and stored again every republish interval, also
 * after a restart.
 */
import type { Endpoint } from '../interfaces/link.js'
import { toHex } from '../util/bytes.js'
import type { DhtContext } from './context.js'
import { DhtInvalidError } from './errors.js'
import type { DhtPersistence } from './persist.js'
import type { LookupStats } from './read.js'
import { signProvider, signRecord, type Signer, type SignedRecord } from './record.js'

export class Publications {
  readonly #ctx: DhtContext
  readonly #signer: Signer
  readonly #persist: DhtPersistence | undefined
  readonly #advertise: () => Endpoint[]
  readonly #published = new Map<string, { key: Uint8Array; value: Uint8Array; seq: number }>()
  readonly #provided = new Map<string, { key: Uint8Array; data: Uint8Array | undefined }>()

  constructor(ctx: DhtContext, signer: Signer, persist: DhtPersistence | undefined, advertise: () => Endpoint[]) {
    this.#ctx = ctx
    this.#signer = signer
    this.#persist = persist
    this.#advertise = advertise
    for (const e of persist?.loadPublished() ?? []) {
      if (e.kind === 'value' && e.data) this.#published.set(toHex(e.key), { key: e.key, value: e.data, seq: e.seq })
      else if (e.kind === 'provider') this.#provided.set(toHex(e.key), { key: e.key, data: e.data })
    }
  }

  /**
   * How many of a put's closest answered nodes it stores on (config `putCopies`; 0 = s x d, each path's own closest
   * answers): beyond the s closest, because attackers with ids ground next to the key can hold most of those.
   */
  #copies(): number {
    const c = this.#ctx.config
    return c.putCopies > 0 ? c.putCopies : c.siblings * Math.max(1, c.disjointPaths)
  }

  /** Our publications restored at construction (values, provider records). */
  get restored(): number { return this.#published.size + this.#provided.size }

  /** Signs and stores `value` under `key` on the s closest nodes; we republish it until `unpublish`. */
  async put(key: Uint8Array, value: Uint8Array, signal?: AbortSignal): Promise<{ record: SignedRecord; stored: number; stats: LookupStats }> {
    if (value.byteLength > this.#ctx.config.maxValueBytes) throw new DhtInvalidError('too_large', `value exceeds ${this.#ctx.config.maxValueBytes} bytes`)
    const hex = toHex(key)
    const now = this.#ctx.clock.now()
    const seq = Math.max(now, (this.#published.get(hex)?.seq ?? 0) + 1)
    this.#published.set(hex, { key, value, seq })
    this.#persist?.savePublished({ kind: 'value', key, data: value, seq })
    return this.#publish(key, value, seq, signal)
  }

  async #publish(key: Uint8Array, value: Uint8Array, seq: number, signal?: AbortSignal): Promise<{ record: SignedRecord; stored: number; stats: LookupStats }> {
    const t0 = this.#ctx.clock.now()
    const record = signRecord(this.#signer, key, value, seq, t0 + this.#ctx.config.recordTtlMs)
    this.#ctx.store.putRecord(record, t0)
    const res = await this.#ctx.findNode(key, signal)
    const targets = res.reached.slice(0, this.#copies())
    const acks = await this.#ctx.storeOn(targets, { t: 'store', x: this.#ctx.x, record }, signal)
    // the lookup's messages plus one STORE per copy target (up to s x d since putCopies, not the s closest)
    return { record, stored: acks, stats: { hops: res.hops, messages: res.messages + targets.length, latencyMs: this.#ctx.clock.now() - t0 } }
  }

  /** Announces that we provide `key` (signed provider record on the s closest nodes), re-announced every republish. */
  async provide(key: Uint8Array, data?: Uint8Array, signal?: AbortSignal): Promise<number> {
    this.#provided.set(toHex(key), { key, data })
    this.#persist?.savePublished({ kind: 'provider', key, data, seq: 0 })
    return this.#announce(key, data, signal)
  }

  async #announce(key: Uint8Array, data: Uint8Array | undefined, signal?: AbortSignal): Promise<number> {
    const now = this.#ctx.clock.now()
    const provider = signProvider(this.#signer, key, this.#advertise().slice(0, 4), data, now + this.#ctx.config.recordTtlMs)
    this.#ctx.store.putProvider(provider, now)
    const res = await this.#ctx.findNode(key, signal)
    return this.#ctx.storeOn(res.reached.slice(0, this.#copies()), { t: 'add_provider', x: this.#ctx.x, provider }, signal)
  }

  unprovide(key: Uint8Array): void { this.#provided.delete(toHex(key)); this.#persist?.deletePublished('provider', key) }
  unpublish(key: Uint8Array): void { this.#published.delete(toHex(key)); this.#persist?.deletePublished('value', key) }

  /** Re-signs our own values and provider records with a new expiry and stores them again. */
  async republish(): Promise<void> {
    for (const p of [...this.#published.values()]) {
      if (this.#published.get(toHex(p.key)) !== p) continue // unpublished meanwhile
      p.seq = Math.max(this.#ctx.clock.now(), p.seq + 1)
      // the seq is saved before it is signed: after a crash we never sign a lower one again
      try { this.#persist?.savePublished({ kind: 'value', key: p.key, data: p.value, seq: p.seq }) } catch { /* next round */ }
      await this.#publish(p.key, p.value, p.seq).catch(() => {})
    }
    for (const p of [...this.#provided.values()]) await this.#announce(p.key, p.data).catch(() => {})
  }
}
