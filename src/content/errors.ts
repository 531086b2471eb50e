/** Typed errors of the content layer; `code` is stable and used as a metrics/refusal label. */
import { ZeoneError } from '../util/errors.js'

/** A Merkle proof, root or chunk failed verification. */
export class MerkleError extends ZeoneError {
  override readonly name = 'MerkleError'
}

/** A manifest is malformed, unsigned, or describes something we refuse (bad path, chunk size, size). */
export class ManifestError extends ZeoneError {
  override readonly name = 'ManifestError'
}

/** A path from a manifest or the network would leave the target directory or is otherwise unsafe. */
export class UnsafePathError extends ZeoneError {
  override readonly name = 'UnsafePathError'
  constructor(path: string, reason: string) { super('unsafe_path', `refusing path ${JSON.stringify(path.slice(0, 200))}: ${reason}`) }
}

/** A content request or reply violated the chunk protocol. */
export class ContentProtocolError extends ZeoneError {
  override readonly name = 'ContentProtocolError'
}

/** A download could not complete (no providers left, disk error, aborted); the partial state stays resumable. */
export class DownloadError extends ZeoneError {
  override readonly name = 'DownloadError'
}
