import { ZeoneError } from '../util/errors.js'

/** The link closed before a pending request was answered, or a send was attempted on a closed link. */
export class LinkClosedError extends ZeoneError {
  override readonly name = 'LinkClosedError'
  constructor(reason: string) { super('link_closed', `link closed: ${reason}`) }
}

/** The remote side answered a request with an ERROR message. */
export class RemoteError extends ZeoneError {
  override readonly name = 'RemoteError'
  constructor(code: string, message: string) { super(code, `remote error (${code}): ${message}`) }
}

/** A peer sent something the protocol forbids; `code` is the refusal reason label used in metrics. */
export class ProtocolError extends ZeoneError {
  override readonly name = 'ProtocolError'
}
