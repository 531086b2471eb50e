/**
 * The node's hook for cortex.slashFailedChecks (src/cortex/attach.ts): each confirmed failed check goes to the
 * fraud-proof path (fraud.ts), loaded on the first one so that a node that never finds fraud never loads viem.
 */
import type { LinkProvider } from '../../interfaces/link.js'
import type { Logger } from '../../interfaces/logger.js'
import type { ProviderDirectory } from '../../interfaces/providers.js'
import type { UsageMeter } from '../../interfaces/services.js'
import type { TrustSink } from '../../interfaces/trust.js'
import type { ChainClient } from '../../economy/chain/client.js'
import type { Evidence } from './audit.js'
import type { LiarBook } from './resolve.js'

export interface FraudHookDeps {
  client: ChainClient
  providers: ProviderDirectory
  links: LinkProvider
  signer: { publicKey: Uint8Array; sign(...parts: Uint8Array[]): Uint8Array }
  usage: () => UsageMeter | undefined
  trust: () => TrustSink | undefined
  logger: Logger
  /** The node's record of lying checkers (shared with its auditors). */
  liars?: LiarBook
}

/** The hook; the promise it returns settles when the proof was submitted or given up (the auditor's settled() waits). */
export function fraudHook(d: FraudHookDeps): (e: Evidence, model: string, layers: number) => Promise<void> {
  const subs = new Map<string, Promise<(e: Evidence) => Promise<unknown>>>()
  return (e, model, layers) => {
    let p = subs.get(`${model}/${layers}`)
    if (!p) {
      p = import('./fraud.js').then((m) => m.fraudSubmitter({ client: d.client, providers: d.providers, links: d.links, signer: d.signer, model, layers, usage: d.usage(), trust: d.trust(), logger: d.logger, liars: d.liars }))
      subs.set(`${model}/${layers}`, p)
    }
    return p.then((f) => f(e)).then(() => {}, (err: Error) => d.logger.warn({ err: err.message }, 'cortex: fraud proof failed'))
  }
}
