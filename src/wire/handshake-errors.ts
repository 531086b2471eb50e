import { ProtocolErrorBase } from './errors.js'

/**
 * The handshake failed. `code` is the refusal reason label: bad_handshake, stale_timestamp, replayed_hello,
 * no_common_version, no_common_suite, identity_mismatch, transcript_mismatch, downgrade, self_connect, bad_key.
 */
export class HandshakeError extends ProtocolErrorBase {
  override readonly name = 'HandshakeError'
}
