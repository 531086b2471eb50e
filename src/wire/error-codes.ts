/**
 * The wire ERROR code registry (docs/protocol.md §5.1, normative): the only codes a node sends to a peer in an
 * ERROR body, by the layer that raises them. Anything else a handler throws (a file system or SQLite error, a bug,
 * a code meant for the local log) reaches the peer as `internal` with fixed text, so a peer never learns file
 * paths, SQL or stack details of the node it talks to. Receivers treat a code they do not know like `internal`.
 */
import { ZeoneError } from '../util/errors.js'

export const WIRE_ERROR_CODES = {
  generic: ['internal', 'unhandled_type', 'bad_message', 'bad_request', 'bad_input', 'cbor', 'too_large', 'timeout',
    'aborted', 'stopping', 'stopped', 'rate_limited', 'not_found', 'unavailable', 'busy', 'link_closed',
    'remote_failed', 'unexpected'],
  wire: ['bad_envelope', 'bad_frame', 'bad_handshake', 'bad_mac', 'bad_magic', 'bad_signature', 'bad_version',
    'downgrade', 'frame_too_large', 'identity_mismatch', 'no_common_suite', 'no_common_version', 'oversize',
    'replayed_hello', 'replayed_seq', 'self_connect', 'seq_exhausted', 'stale_timestamp', 'transcript_mismatch',
    'bad_batch', 'legacy_empty_frame', 'legacy_json', 'legacy_shape', 'legacy_type', 'legacy_utf8'],
  transport: ['too_many_pending'],
  dht: ['bad_legacy', 'puzzle', 'no_listen_addr', 'stale_record'],
  nat: ['bad_node_id', 'nat_bad_candidates', 'nat_bad_relay', 'nat_bad_signal', 'nat_busy', 'nat_candidates',
    'nat_echo_size', 'nat_no_rendezvous', 'nat_no_tcp', 'nat_no_transport', 'nat_not_relayed', 'nat_pair_unpunchable',
    'nat_punch_failed', 'nat_redirected', 'nat_relay_only', 'nat_relay_refused', 'nat_session', 'nat_signal_refused',
    'nat_signature', 'nat_stale', 'nat_tcp_failed', 'nat_tcp_timeout', 'nat_turn'],
  content: ['bad_chunk_size', 'bad_hash', 'bad_index', 'bad_manifest', 'bad_manifest_version', 'bad_publication',
    'bad_range', 'cache_miss', 'empty_publication', 'invalid_merkle_proof', 'manifest_too_large', 'not_publishable',
    'too_many_chunks', 'too_many_files', 'too_many_publications'],
  economy: ['bad_cheque', 'bad_onchain', 'bad_payload', 'bad_peer', 'cheque_backwards', 'cheque_expired',
    'wrong_party', 'debt_limit', 'low_trust'],
  cortex: ['bad_chain', 'bad_layers', 'bad_reply', 'capacity', 'closed', 'context_full', 'context_length_exceeded',
    'empty_prompt', 'ended', 'engine', 'failover_exhausted', 'flood', 'model_not_found', 'model_not_whitelisted',
    'no_model', 'no_replacement', 'no_route', 'pos_mismatch', 'unreachable', 'untokenizable', 'wrong_model',
    'bad_k', 'no_space', 'no_store', 'migration_busy', 'bad_dtype', 'bad_flags', 'bad_length', 'bad_rank', 'bad_shape', 'non_finite', 'truncated', 'unpaid', 'unpayable'],
  services: ['unknown_service', 'refused', 'service_error', 'reply_failed', 'exit_error', 'payload_too_large',
    'bad_exit', 'unknown_exit', 'client_streams', 'exit_streams', 'client_udp', 'exit_udp', 'connect_timeout', 'resolve_failed', 'stream_in_use', 'credit_limit', 'over_budget', 'service_failed', 'service_shape', 'service_version', 'vpn_host',
    'vpn_shape', 'vpn_version'],
} as const satisfies Record<string, readonly string[]>

export type WireErrorCode = (typeof WIRE_ERROR_CODES)[keyof typeof WIRE_ERROR_CODES][number]

const REGISTERED: ReadonlySet<string> = new Set(Object.values(WIRE_ERROR_CODES).flat())

export function isWireErrorCode(code: string): code is WireErrorCode { return REGISTERED.has(code) }

export const INTERNAL_TEXT = 'internal error (details are in the serving node\'s log)'

// An absolute POSIX path (two or more segments) or a Windows drive path: what a message must never carry out.
const PATH = /(?<![\w.])(?:\/[\w.@+-]+){2,}\/?|[A-Za-z]:\\[^\s'"]*/g

/** The text a peer may read: no paths, no control characters, at most 512 bytes of it. */
export function safeErrorText(text: string): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(PATH, '<path>').replace(/[\u0000-\u001f\u007f]/g, ' ')
  const b = Buffer.from(clean, 'utf8')
  return b.byteLength <= 512 ? clean : b.subarray(0, 512).toString('utf8').replace(/\uFFFD$/, '')
}

/**
 * What to put in an ERROR for `err`: its code and scrubbed message when the code is registered, `internal` with
 * fixed text otherwise. `fallback` names a registered code for errors that are not ZeoneErrors but whose cause is
 * known to be the peer's input (e.g. a decode that threw a TypeError).
 */
export function toWireError(err: unknown, fallback?: WireErrorCode): { code: WireErrorCode; message: string } {
  if (err instanceof ZeoneError && isWireErrorCode(err.code)) return { code: err.code, message: safeErrorText(err.message) }
  if (fallback && !(err instanceof ZeoneError)) return { code: fallback, message: fallback }
  return { code: 'internal', message: INTERNAL_TEXT }
}
