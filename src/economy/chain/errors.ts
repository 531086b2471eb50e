import { ZeoneError } from '../../util/errors.js'

/** Errors of the on-chain settlement client. `code` values: compile_failed, rpc_error, deploy_failed, bad_cheque,
 *  bad_binding, not_configured, tx_reverted. */
export class ChainError extends ZeoneError {
  override readonly name = 'ChainError'
}
