/**
 * The node's fraud-proof path (cortex.slashFailedChecks, with the chain attached): when its live auditor confirms a
 * failed check, the evidence's verdicts (its own, signed with the bound EVM key, and those of any hired verifier)
 * are topped up by hiring `service:verify` providers of the same layers (not the accused, not this node) to
 * re-check the block (not those whose verdicts it already holds, nor known liars); once the verdicts the Staking
 * contract would count (none by a key caught signing a false fail) reach `verdictQuorum`, the
 * slashByVerdict proof is submitted. Runs in the background, never more than one proof per (root, index).
 */
import type { LinkProvider } from '../../interfaces/link.js'
import type { Logger } from '../../interfaces/logger.js'
import type { ProviderDirectory } from '../../interfaces/providers.js'
import type { UsageMeter } from '../../interfaces/services.js'
import type { TrustSink } from '../../interfaces/trust.js'
import type { ChainClient } from '../../economy/chain/client.js'
import type { Evidence } from './audit.js'
import { directoryCheckers } from './check-client.js'
import type { Checker } from './checker.js'
import { confirmWith, slashByEvidence, type SlashOutcome } from './slash.js'
import type { LiarBook } from './resolve.js'

export interface FraudInit {
  client: ChainClient
  providers: ProviderDirectory
  links: LinkProvider
  signer: { publicKey: Uint8Array; sign(...parts: Uint8Array[]): Uint8Array }
  model: string
  layers: number
  usage?: UsageMeter | undefined
  trust?: TrustSink | undefined
  logger: Logger
  /** Most verifiers hired per failed check. @default 8 */
  maxHires?: number
  /** Checkers this node caught lying (resolve.ts): never hired, their verdicts never counted. */
  liars?: LiarBook | undefined
}

export function fraudSubmitter(o: FraudInit): (e: Evidence) => Promise<SlashOutcome | undefined> {
  const done = new Set<string>()
  const find = directoryCheckers(o.providers, o.links, { signer: o.signer, model: o.model, layers: o.layers, usage: o.usage, trust: o.trust, self: o.signer.publicKey })
  return async (e) => {
    if (e.reason !== 'failed_check' || !e.attestation || !e.commitment) return undefined
    const key = `${e.attestation.root}/${e.attestation.index}`
    if (done.has(key)) return undefined
    done.add(key)
    try {
      // the verifiers whose verdicts the audit already holds are not hired (nor paid) twice for one block
      const hired: Checker[] = [], exclude = [e.provider, ...(e.judges ?? []), ...(o.liars?.nodes ?? [])]
      for (let i = 0; i < (o.maxHires ?? 8); i++) {
        const c = await find(e.stage, exclude)
        if (!c || !c.nodeId) break
        hired.push(c); exclude.push(c.nodeId)
      }
      const out = await slashByEvidence(o.client, e, await confirmWith(e, hired), { ...(o.liars ? { disowned: (a: string) => o.liars!.disowned(a) } : {}) })
      o.logger.info({ submitted: out.submitted, counted: out.admitted.filter((a) => a.result === 'accepted').length, quorum: `${out.quorum}`, block: e.index }, out.submitted ? 'cortex: failed check slashed on chain' : 'cortex: failed check short of the verdict quorum')
      return out
    } catch (err) {
      o.logger.warn({ err: (err as Error).message, block: e.index }, 'cortex: fraud proof not submitted')
      return undefined
    }
  }
}
