/**
 * The service router: serves SERVICE_REQUEST (0x20) with SERVICE_RESPONSE (0x21) for registered services, with
 * budget checks and metering (ctx.services.get('usage')), and calls services on other peers.
 */
import { SpanKind } from '@opentelemetry/api'
import type { NodeTracer } from '../interfaces/tracing.js'
import { failSpan } from '../util/span.js'
import { randomBytes } from '../crypto/sign.js'
import type { Inbound, Link, RemotePeer, RequestOptions } from '../interfaces/link.js'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import type { UsageMeter } from '../interfaces/services.js'
import { RemoteError } from '../transport/errors.js'
import { ZeoneError } from '../util/errors.js'
import { MessageType } from '../wire/message-types.js'
import { toWireError, type WireErrorCode } from '../wire/error-codes.js'
import { decodeServiceRequest, decodeServiceResponse, encodeServiceRequest, encodeServiceResponse, type ServiceResponse } from './messages.js'
import type { Service } from './service.js'


/**
 * The `code: text` a caller reads in a failed SERVICE_RESPONSE. Only registered wire codes and scrubbed text go out
 * (src/wire/error-codes.ts): a service that throws a file system error answers `internal`. `fallback` is the code
 * for a non-ZeoneError at a step where the cause is the request itself.
 */
function serviceErrorText(err: unknown, fallback?: WireErrorCode): string {
  const w = toWireError(err, fallback)
  return `${w.code}: ${w.message}`
}

export interface ServiceRouterInit {
  providerId: Uint8Array
  /** Looked up on every call, so an economy attached later is used. */
  usage?: () => UsageMeter | undefined
  logger?: Logger
  /** @default 64 */
  maxConcurrent?: number
  /** @default 30000 */
  timeoutMs?: number
  /** @default 1 MiB */
  maxPayloadBytes?: number
  /** Aborts in-flight calls when the node stops. */
  signal?: AbortSignal
  /** Records a client span per call (its context goes to the provider) and a server span per traced request. */
  tracer?: NodeTracer
}

export class ServiceError extends ZeoneError {
  override readonly name = 'ServiceError'
}

export class ServiceRouter {
  #services = new Map<string, Service>()
  #init: ServiceRouterInit
  #logger: Logger
  #inFlight = 0

  constructor(init: ServiceRouterInit) {
    this.#init = { ...init }
    this.#logger = init.logger ?? silentLogger
  }
  /** Live config: new limits apply to the next request; calls in flight keep the timeout they started with. */
  setLimits(l: Pick<ServiceRouterInit, 'maxConcurrent' | 'timeoutMs' | 'maxPayloadBytes'>): void {
    this.#init = { ...this.#init, ...l }
  }


  register(service: Service): () => void {
    if (this.#services.has(service.name)) throw new Error(`service '${service.name}' is already registered`)
    this.#services.set(service.name, service)
    return () => { if (this.#services.get(service.name) === service) this.#services.delete(service.name) }
  }

  get(name: string): Service | undefined { return this.#services.get(name) }
  names(): string[] { return [...this.#services.keys()].sort() }
  get inFlight(): number { return this.#inFlight }

  /**
   * Runs one request for `peer` and returns what to answer. Never throws: refusals become `success: false` with an
   * error code (unknown_service, over_budget, debt_limit, low_trust, busy, timeout, service_error).
   */
  async execute(peer: RemotePeer, serviceName: string, budget: bigint, run: (s: Service, signal: AbortSignal) => Promise<unknown>,
    quote: (s: Service) => bigint, units: (s: Service, result: unknown) => bigint): Promise<{ ok: true; result: unknown; cost: bigint; ms: number } | { ok: false; error: string; ms: number }> {
    const t0 = performance.now()
    const fail = (error: string): { ok: false; error: string; ms: number } => ({ ok: false, error, ms: performance.now() - t0 })
    const service = this.#services.get(serviceName)
    if (!service) return fail(`unknown_service: no service '${serviceName}'`)
    const usage = this.#init.usage?.()
    try {
      usage?.authorize(peer.nodeId, serviceName)
    } catch (err) {
      return fail(serviceErrorText(err, 'refused'))
    }
    let price: bigint
    try { price = quote(service) } catch (err) { return fail(serviceErrorText(err, 'bad_request')) }
    if (price > budget) return fail(`over_budget: cost ${price} exceeds budget ${budget}`)
    if (this.#inFlight >= (this.#init.maxConcurrent ?? 64)) return fail('busy: too many requests in progress')
    this.#inFlight++
    const ctrl = new AbortController()
    const timer = setTimeout(() => ctrl.abort(new ServiceError('timeout', 'service call timed out')), this.#init.timeoutMs ?? 30_000)
    timer.unref()
    const onStop = (): void => ctrl.abort(new ServiceError('stopping', 'node stopping'))
    this.#init.signal?.addEventListener('abort', onStop, { once: true })
    try {
      const result = await Promise.race([
        run(service, ctrl.signal),
        new Promise<never>((_, reject) => ctrl.signal.addEventListener('abort', () => reject(ctrl.signal.reason), { once: true })),
      ])
      let cost = price
      if (usage) {
        try { cost = usage.record(peer.nodeId, serviceName, units(service, result), 'served') } catch (err) {
          this.#logger.warn({ service: serviceName, err: (err as Error).message }, 'usage record failed')
        }
      }
      return { ok: true, result, cost, ms: performance.now() - t0 }
    } catch (err) {
      this.#logger.debug({ service: serviceName, err: (err as Error)?.message ?? String(err) }, 'service call failed')
      return fail(serviceErrorText(err))
    } finally {
      clearTimeout(timer)
      this.#init.signal?.removeEventListener('abort', onStop)
      this.#inFlight--
    }
  }

  /** The SERVICE_REQUEST handler for v1/v2 links. */
  handle = async (msg: Inbound): Promise<void> => {
    const max = this.#init.maxPayloadBytes ?? 1 << 20
    const req = decodeServiceRequest(msg.body, max)
    const span = this.#init.tracer && msg.trace ? this.#init.tracer.start(`service.serve ${req.serviceName}`, { parent: msg.trace, kind: SpanKind.SERVER, attributes: { 'zeone.service': req.serviceName, 'zeone.peer.id': msg.link.peer.nodeIdB64 } }) : undefined
    const r = await this.execute(msg.link.peer, req.serviceName, req.budget,
      (s, signal) => s.serve(req.payload, { peer: msg.link.peer, signal }),
      (s) => s.quote(req.payload),
      (s, result) => s.units(req.payload, result as Uint8Array))
    const body = encodeServiceResponse({
      success: r.ok, result: r.ok ? (r.result as Uint8Array) : null, cost: r.ok ? r.cost : 0n, executionTime: r.ms,
      requestId: req.requestId, error: r.ok ? null : r.error, providerId: this.#init.providerId,
    })
    if (msg.reply) msg.reply(MessageType.SERVICE_RESPONSE, body)
    else msg.link.send(MessageType.SERVICE_RESPONSE, body)
    if (span) {
      span.setAttribute('zeone.service.cost', Number(r.ok ? r.cost : 0n))
      if (r.ok) span.end()
      else failSpan(span, { code: r.error.split(':')[0], message: r.error })
    }
  }

  /** Calls `serviceName` on the peer at the other end of `link`. Rejects with ServiceError when the peer refuses. */
  async call(link: Link, serviceName: string, payload: Uint8Array, opts: RequestOptions & { budget?: bigint } = {}): Promise<ServiceResponse> {
    const tracer = this.#init.tracer
    // a sampled-out call costs one draw: no span, name or attributes are built for it
    const span = tracer && (opts.trace || tracer.sampleRoot()) ? tracer.start(`service.call ${serviceName}`, { kind: SpanKind.CLIENT, sample: true, ...(opts.trace ? { parent: opts.trace } : {}), attributes: { 'zeone.service': serviceName, 'zeone.peer.id': link.peer.nodeIdB64 } }) : undefined
    try {
      const resp = await this.#call(link, serviceName, payload, span ? { ...opts, trace: tracer!.contextOf(span) } : opts)
      span?.setAttribute('zeone.service.cost', Number(resp.cost))
      span?.end()
      return resp
    } catch (err) { failSpan(span, err); throw err }
  }

  async #call(link: Link, serviceName: string, payload: Uint8Array, opts: RequestOptions & { budget?: bigint }): Promise<ServiceResponse> {
    const requestId = Buffer.from(randomBytes(12)).toString('base64url')
    const { budget: _b, ...ro } = opts
    const reply = await link.request(MessageType.SERVICE_REQUEST, encodeServiceRequest({ serviceName, payload, budget: opts.budget ?? 0n, requestId }), ro)
      .catch((err: unknown) => { throw err instanceof RemoteError ? new ServiceError(err.code, err.message, { cause: err }) : err })
    if (reply.type !== MessageType.SERVICE_RESPONSE) throw new ServiceError('bad_reply', `expected SERVICE_RESPONSE, got type 0x${reply.type.toString(16)}`)
    const resp = decodeServiceResponse(reply.body, this.#init.maxPayloadBytes ?? 1 << 20)
    if (resp.requestId !== requestId) throw new ServiceError('bad_reply', 'SERVICE_RESPONSE for another request')
    if (opts.budget !== undefined && resp.cost > opts.budget) throw new ServiceError('over_budget', `provider charged ${resp.cost} over the budget ${opts.budget}`)
    if (!resp.success) throw new ServiceError(resp.error?.split(':')[0] || 'service_failed', resp.error ?? 'service call failed')
    this.#recordConsumed(link, serviceName, payload, resp)
    return resp
  }

  /**
   * The consumer's own meter of a call it accepted: the service's units when we know the service (the same
   * definition the provider prices), else one request. The economy pays a provider's statement only up to what
   * this meter recorded, so a caller that recorded nothing would never pay (docs/protocol/economy.md).
   */
  #recordConsumed(link: Link, serviceName: string, payload: Uint8Array, resp: ServiceResponse): void {
    const usage = this.#init.usage?.()
    if (!usage) return
    try {
      const local = this.#services.get(serviceName)
      const units = local ? local.units(payload, resp.result ?? new Uint8Array(0)) : 1n
      usage.record(link.peer.nodeId, serviceName, units, 'consumed')
    } catch (err) {
      this.#logger.warn({ service: serviceName, err: (err as Error).message }, 'usage record failed')
    }
  }
}
