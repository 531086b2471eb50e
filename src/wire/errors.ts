import { ZeoneError } from '../util/errors.js'

/** Base of the wire layer's protocol errors: `code` is the refusal reason label used in metrics. */
export class ProtocolErrorBase extends ZeoneError {
  override readonly name: string = 'ProtocolErrorBase'
}
