/** The `echo` service: returns its payload (a liveness and metering test between peers, v1/v2 and v0). */
import { ZeoneError } from '../util/errors.js'
import type { Service } from './service.js'

export interface EchoInit {
  /** Micro-credits per request. @default 0n */
  price?: bigint
  /** @default 65536 */
  maxPayloadBytes?: number
}

export function createEchoService(init: EchoInit = {}): Service {
  const price = init.price ?? 0n
  const max = init.maxPayloadBytes ?? 65_536
  const check = (n: number): void => {
    if (n > max) throw new ZeoneError('payload_too_large', `echo payload of ${n} bytes over ${max}`)
  }
  return {
    name: 'echo',
    quote: () => price,
    units: () => 1n,
    async serve(payload) { check(payload.byteLength); return payload },
    async serveJson(payload) {
      check(Buffer.byteLength(JSON.stringify(payload ?? null, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))))
      return payload
    },
  }
}
