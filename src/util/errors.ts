/**
 * Base error for every ZEONE layer. Subclasses are told apart by `name`; a `code` carries the stable
 * machine-readable reason (used as a metrics label for refusals), and `cause` chains the underlying error.
 */
export class ZeoneError extends Error {
  override readonly name: string = 'ZeoneError'
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
  }
}

/** Input that came from outside (network, file, user) and failed validation. */
export class InvalidInputError extends ZeoneError {
  override readonly name = 'InvalidInputError'
}

/** An operation was aborted through its AbortSignal or because the component stopped. */
export class AbortedError extends ZeoneError {
  override readonly name = 'AbortedError'
  constructor(message = 'operation aborted', options?: { cause?: unknown }) {
    super('aborted', message, options)
  }
}

/** An operation did not finish within its deadline. */
export class TimeoutError extends ZeoneError {
  override readonly name = 'TimeoutError'
  constructor(message = 'operation timed out', options?: { cause?: unknown }) {
    super('timeout', message, options)
  }
}
