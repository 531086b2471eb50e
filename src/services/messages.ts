/**
 * SERVICE_REQUEST (0x20) / SERVICE_RESPONSE (0x21) payloads: deterministic CBOR maps, see docs/protocol/services.md.
 */
import { decode, encode } from '../wire/cbor.js'
import { InvalidInputError } from '../util/errors.js'

export const SERVICES_WIRE_VERSION = 1
export const MAX_SERVICE_NAME = 64
export const MAX_REQUEST_ID = 64
export const MAX_ERROR_TEXT = 512
const NAME_RE = /^[a-z0-9][a-z0-9_.:-]*$/

export interface ServiceRequest {
  serviceName: string
  payload: Uint8Array
  /** Most micro-credits the requester will pay for this call. */
  budget: bigint
  requestId: string
}

export interface ServiceResponse {
  success: boolean
  result: Uint8Array | null
  /** Micro-credits charged. */
  cost: bigint
  /** Milliseconds spent serving. */
  executionTime: number
  requestId: string
  error: string | null
  /** 32-byte Ed25519 public key of the provider. */
  providerId: Uint8Array
}

export class ServiceWireError extends InvalidInputError {
  override readonly name = 'ServiceWireError' as 'InvalidInputError'
}

const big = (n: bigint): number | bigint => (n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n)

export function encodeServiceRequest(r: ServiceRequest): Uint8Array {
  return encode({ v: SERVICES_WIRE_VERSION, service_name: r.serviceName, payload: r.payload, budget: big(r.budget), request_id: r.requestId })
}

export function encodeServiceResponse(r: ServiceResponse): Uint8Array {
  return encode({
    v: SERVICES_WIRE_VERSION, success: r.success, result: r.result, cost: big(r.cost), execution_time: Math.round(r.executionTime * 1000) / 1000,
    request_id: r.requestId, error: r.error === null ? null : r.error.slice(0, MAX_ERROR_TEXT), provider_id: r.providerId,
  })
}

function asMap(body: Uint8Array, maxBytes: number): Record<string, unknown> {
  const v = decode(body, { maxDepth: 2, maxItems: 16, maxStringBytes: maxBytes })
  if (!v || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || v instanceof Map) throw new ServiceWireError('service_shape', 'service message must be a CBOR map')
  const o = v as Record<string, unknown>
  if (o.v !== SERVICES_WIRE_VERSION) throw new ServiceWireError('service_version', `unsupported services message version ${String(o.v)}`)
  return o
}

const uint = (x: unknown, field: string): bigint => {
  if (typeof x === 'number' && Number.isSafeInteger(x) && x >= 0) return BigInt(x)
  if (typeof x === 'bigint' && x >= 0n) return x
  throw new ServiceWireError('service_shape', `${field} must be an unsigned integer`)
}

const reqId = (x: unknown): string => {
  if (typeof x !== 'string' || x.length === 0 || x.length > MAX_REQUEST_ID) throw new ServiceWireError('service_shape', `request_id must be text of 1..${MAX_REQUEST_ID} chars`)
  return x
}

export function decodeServiceRequest(body: Uint8Array, maxPayload: number): ServiceRequest {
  const o = asMap(body, maxPayload)
  const name = o.service_name
  if (typeof name !== 'string' || name.length > MAX_SERVICE_NAME || !NAME_RE.test(name)) throw new ServiceWireError('service_shape', 'service_name must match [a-z0-9][a-z0-9_.:-]* (<= 64 chars)')
  if (!(o.payload instanceof Uint8Array)) throw new ServiceWireError('service_shape', 'payload must be a byte string')
  return { serviceName: name, payload: o.payload, budget: uint(o.budget, 'budget'), requestId: reqId(o.request_id) }
}

export function decodeServiceResponse(body: Uint8Array, maxResult: number): ServiceResponse {
  const o = asMap(body, maxResult)
  if (typeof o.success !== 'boolean') throw new ServiceWireError('service_shape', 'success must be a boolean')
  if (o.result !== null && !(o.result instanceof Uint8Array)) throw new ServiceWireError('service_shape', 'result must be bytes or null')
  if (typeof o.execution_time !== 'number' || !(o.execution_time >= 0)) throw new ServiceWireError('service_shape', 'execution_time must be a non-negative number')
  if (o.error !== null && (typeof o.error !== 'string' || o.error.length > MAX_ERROR_TEXT)) throw new ServiceWireError('service_shape', 'error must be text or null')
  if (!(o.provider_id instanceof Uint8Array) || o.provider_id.byteLength !== 32) throw new ServiceWireError('service_shape', 'provider_id must be 32 bytes')
  return {
    success: o.success, result: o.result as Uint8Array | null, cost: uint(o.cost, 'cost'), executionTime: o.execution_time,
    requestId: reqId(o.request_id), error: o.error as string | null, providerId: o.provider_id,
  }
}
