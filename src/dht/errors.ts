import { ZeoneError } from '../util/errors.js'

/** A DHT message or record failed validation (wrong shape, bad signature, oversize, expired). */
export class DhtInvalidError extends ZeoneError {
  override readonly name = 'DhtInvalidError'
}

/** A DHT operation (get, put, provide) could not complete: no reachable peers, nothing found. */
export class DhtLookupError extends ZeoneError {
  override readonly name = 'DhtLookupError'
}
