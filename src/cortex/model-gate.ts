/**
 * The governed model whitelist for a node WITHOUT chain access: it follows the network parameters agreed through the
 * DHT (the economy's `params` service, docs/protocol/params.md) and checks each served model against the whitelist
 * of the snapshot in force, per request, so a new snapshot applies at once (a model dropped from the whitelist is
 * refused for the next request; one added is served).
 *
 * Before the first snapshot is in force (a fresh node that has not yet heard a quorum) the model is served, with one
 * logged warning: refusing everything would stop inference on every new node until the DHT answers. Once any
 * snapshot is in force the whitelist is active, as it always is on chain: Params has no "whitelist off" switch,
 * a chain node refuses every model not whitelisted, and an empty whitelist in force refuses every model.
 * (A node with chain access keeps reading Params.modelWhitelisted itself, see attach.ts.)
 */
import type { Logger } from '../interfaces/logger.js'

/** What the gate needs of the params service (structural: cortex does not import the economy layer). */
export interface NetworkWhitelist {
  current(): { snapshot: { blockNumber: number } } | undefined
  /** Whether the snapshot in force whitelists keccak256(UTF-8 model id). */
  modelAllowed(modelHash: Uint8Array): boolean
}

/**
 * A per-request check for one served model: undefined = serve it, a string = the refusal reason.
 * `params` is looked up on every call (the service may come up after the stage starts); `modelHash` is
 * keccak256(UTF-8 modelId), the key of Params.modelWhitelisted.
 */
export function networkModelGate(params: () => NetworkWhitelist | undefined, modelId: string, modelHash: Uint8Array, log: Logger): () => string | undefined {
  let warnedUnknown = false
  let last: boolean | undefined
  return () => {
    const p = params()
    const inForce = p?.current()
    if (!p || !inForce) {
      if (!warnedUnknown) log.warn({ model: modelId }, 'cortex: no network parameters agreed yet: serving the model without a whitelist check until a params snapshot is in force')
      warnedUnknown = true
      return undefined
    }
    const ok = p.modelAllowed(modelHash)
    if (ok !== last && (last !== undefined || !ok)) log.warn({ model: modelId, allowed: ok, block: inForce.snapshot.blockNumber }, 'cortex: the network model whitelist changed for this model')
    last = ok
    return ok ? undefined : `${modelId} is not on the network's governed model whitelist (parameters in force from block ${inForce.snapshot.blockNumber})`
  }
}
