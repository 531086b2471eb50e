/** Typed errors of the economy layer. `code` is the stable machine-readable reason (metrics label, wire error). */
import { ZeoneError } from '../util/errors.js'

/** A cheque, claim or ack that does not decode, verify, or fit the relationship (a trust event for the sender). */
export class EconomyProtocolError extends ZeoneError {
  override readonly name: string = 'EconomyProtocolError'
}

/** A cheque was refused; `code` says why: bad_cheque, bad_signature, wrong_party, cheque_backwards, cheque_expired. */
export class ChequeRejectedError extends EconomyProtocolError {
  override readonly name = 'ChequeRejectedError'
}

/** The peer is over its debt limit and must pay (send a cheque) before it is served again. code: 'debt_limit'. */
export class DebtLimitError extends ZeoneError {
  override readonly name = 'DebtLimitError'
  constructor(message: string) { super('debt_limit', message) }
}

/** The peer's effective trust is below T_min (or it is blacklisted). code: 'low_trust'. */
export class LowTrustError extends ZeoneError {
  override readonly name = 'LowTrustError'
  constructor(message: string) { super('low_trust', message) }
}

/** The ledger store is closed, corrupt, or was given a value it cannot hold. */
export class LedgerError extends ZeoneError {
  override readonly name = 'LedgerError'
}
