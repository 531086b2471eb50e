/**
 * Maps v0 SERVICE_REQUEST/SERVICE_RESPONSE (JSON) onto the service router. v0 peers may only call the services in
 * `legacy.services` that offer a JSON entry point, and may owe at most `legacy.creditLimit` micro-credits in total.
 * `echo` answers the way v1.2.4 does (a dict payload comes back with `request_id` and `requester_id` added) and is
 * bounded by the legacy frame cap rather than the v1/v2 echo cap: v1.2.4 peers send 500 KiB payloads. Every refusal
 * is a SERVICE_RESPONSE with `success: false` and the reason, never silence.
 */
import { toWireError } from '../wire/error-codes.js'
import { randomBytes } from '../crypto/sign.js'
import type { LegacyLink, LegacyMessage, LegacyRouter, RequestOptions } from '../interfaces/link.js'
import { JsonNumber, pyFloat } from '../wire/legacy-json.js'
import { TimeoutError } from '../util/errors.js'
import type { ServiceRouter } from './router.js'
import { ServiceError } from './router.js'

/** Credits on the v0 wire are floats; ours are integer micro-credits. */
const MICRO = 1_000_000
/** Peers whose owed credit is tracked; the oldest entry is forgotten beyond this. */
const MAX_TRACKED = 10_000
const MAX_PENDING = 256

export interface LegacyServicesInit {
  router: ServiceRouter
  legacy: LegacyRouter
  providerIdB64: string
  allowed: readonly string[]
  creditLimit: bigint
}

export interface LegacyServiceResult { success: boolean; result: unknown; cost: number; executionTime: number; requestId: string; error: string | null; providerId: string }

/** A payload field with exact number text when the bridge kept it (see LegacyConnection.toMessage). */
function rawField(m: LegacyMessage, key: string): unknown {
  const raw = (m as LegacyMessage & { rawPayload?: unknown }).rawPayload
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) return (raw as Record<string, unknown>)[key]
  return m.payload[key]
}

/** v1.2.4's echo: a dict gains `request_id` and `requester_id`; lists, strings and numbers come back unchanged. */
export function v0Echo(payload: unknown, requestId: string | null, requesterId: string): unknown {
  if (payload && typeof payload === 'object' && !Array.isArray(payload) && !(payload instanceof JsonNumber)) {
    return { ...(payload as Record<string, unknown>), request_id: requestId, requester_id: requesterId }
  }
  return payload
}

export class LegacyServices {
  #init: LegacyServicesInit
  #owed = new Map<string, bigint>()
  #pending = new Map<string, (r: Record<string, unknown>) => void>()
  #unsub: Array<() => void> = []

  constructor(init: LegacyServicesInit) {
    this.#init = init
    this.#unsub.push(init.legacy.handleLegacy('SERVICE_REQUEST', (m, l) => this.#serve(m, l)))
    this.#unsub.push(init.legacy.handleLegacy('SERVICE_RESPONSE', (m) => {
      const id = m.payload.request_id
      if (typeof id === 'string') this.#pending.get(`${m.senderId}/${id}`)?.(m.payload)
    }))
  }

  owedBy(nodeIdB64: string): bigint { return this.#owed.get(nodeIdB64) ?? 0n }

  async #serve(m: LegacyMessage, link: LegacyLink): Promise<void> {
    const p = m.payload
    const requestId = typeof p.request_id === 'string' ? p.request_id.slice(0, 128) : null
    const name = typeof p.service_name === 'string' ? p.service_name : ''
    const budgetCredits = typeof p.budget === 'number' && Number.isFinite(p.budget) && p.budget > 0 ? p.budget : 0
    const budget = BigInt(Math.floor(Math.min(budgetCredits, 1e12) * MICRO))
    const owed = this.owedBy(m.senderId)
    const answer = (ok: boolean, result: unknown, costMicro: bigint, ms: number, error: string | null): void => {
      if (link.closed) return
      const body = (success: boolean, res: unknown, err: string | null): Record<string, unknown> => ({
        success, result: success ? res : null, cost: pyFloat(Number(costMicro) / MICRO), execution_time: pyFloat(ms / 1000),
        request_id: requestId, error: err, provider_id: this.#init.providerIdB64,
      })
      try {
        link.send('SERVICE_RESPONSE', body(ok, result, error))
      } catch (err) {
        // the answer does not fit a legacy frame (or cannot be written): say why instead of leaving the caller waiting
        if (link.closed) return
        const w = toWireError(err, 'reply_failed')
        link.send('SERVICE_RESPONSE', body(false, null, `${w.code}: ${w.message}`.slice(0, 300)))
      }
    }
    if (!this.#init.allowed.includes(name) || !this.#init.router.get(name)?.serveJson) {
      answer(false, null, 0n, 0, `not_permitted: service '${name}' is not offered to v0 peers`)
      return
    }
    const r = await this.#init.router.execute(link.peer, name, budget,
      (s, signal) => (name === 'echo' ? Promise.resolve(v0Echo(rawField(m, 'payload'), requestId, m.senderId)) : s.serveJson!(rawField(m, 'payload'), { peer: link.peer, signal })),
      (s) => {
        const q = s.quote(new Uint8Array(0))
        if (owed + q > this.#init.creditLimit) throw new ServiceError('credit_limit', 'v0 peer over its credit limit')
        return q
      },
      () => 1n)
    if (!r.ok) { answer(false, null, 0n, r.ms, r.error); return }
    this.#charge(m.senderId, r.cost)
    answer(true, r.result, r.cost, r.ms, null)
  }

  #charge(id: string, cost: bigint): void {
    if (cost === 0n) return
    const prev = this.#owed.get(id) ?? 0n
    this.#owed.delete(id)
    if (this.#owed.size >= MAX_TRACKED) {
      const oldest = this.#owed.keys().next().value
      if (oldest !== undefined) this.#owed.delete(oldest)
    }
    this.#owed.set(id, prev + cost)
  }

  /** Calls a service on a v0 peer. */
  call(link: LegacyLink, serviceName: string, payload: unknown, opts: RequestOptions & { budget?: number } = {}): Promise<LegacyServiceResult> {
    if (this.#pending.size >= MAX_PENDING) return Promise.reject(new ServiceError('too_many_pending', 'too many pending v0 service calls'))
    const requestId = Buffer.from(randomBytes(12)).toString('hex')
    const key = `${link.peer.nodeIdB64}/${requestId}`
    return new Promise((resolve, reject) => {
      const ms = opts.timeoutMs ?? 10_000
      const timer = setTimeout(() => { done(); reject(new TimeoutError(`v0 service call timed out after ${ms} ms`)) }, ms)
      timer.unref()
      const offClose = link.onClose((reason) => { done(); reject(new ServiceError('link_closed', `link closed: ${reason}`)) })
      const done = (): void => { clearTimeout(timer); offClose(); this.#pending.delete(key) }
      this.#pending.set(key, (r) => {
        done()
        const res: LegacyServiceResult = {
          success: r.success === true, result: r.result, cost: Number(r.cost ?? 0), executionTime: Number(r.execution_time ?? 0),
          requestId, error: typeof r.error === 'string' ? r.error : null, providerId: String(r.provider_id ?? ''),
        }
        if (res.success) resolve(res)
        else reject(new ServiceError('service_failed', res.error ?? 'v0 service call failed'))
      })
      try {
        link.send('SERVICE_REQUEST', { service_name: serviceName, payload, budget: pyFloat(opts.budget ?? 0), request_id: requestId })
      } catch (err) { done(); reject(err) }
    })
  }

  stop(): void {
    for (const u of this.#unsub) u()
    this.#unsub = []
    this.#pending.clear()
  }
}
