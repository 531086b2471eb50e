import { ZeoneError } from '../util/errors.js'

/** A STUN/TURN message failed to parse or validate (hostile or corrupt datagram). */
export class StunError extends ZeoneError {
  override readonly name = 'StunError' as string
}

/** A STUN/TURN transaction got an error response (code = `stun_<number>`). */
export class StunResponseError extends ZeoneError {
  override readonly name = 'StunResponseError' as string
  readonly status: number
  constructor(status: number, reason: string, options?: { cause?: unknown }) {
    super(`stun_${status}`, `STUN error ${status}: ${reason}`, options)
    this.status = status
  }
}

/** NAT traversal (signalling, punching, relay) failed. */
export class NatError extends ZeoneError {
  override readonly name = 'NatError' as string
}
