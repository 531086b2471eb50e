/**
 * From a failed check to an on-chain slash: the auditor's Evidence (the provider's DataAttestation and the verdicts
 * it gathered) is confirmed by more hired verifiers where the quorum needs them, and the verdicts the Staking
 * contract would count (verdicts.ts: staked, registered, distinct, not the accused) are submitted as one
 * slashByVerdict proof once `verdictQuorum` of them are in hand. Below the quorum nothing is submitted.
 */
import type { ChainClient } from '../../economy/chain/client.js'
import { VerdictQuorum, type AdmitResult, type Verdict } from '../../economy/chain/verdicts.js'
import type { Evidence } from './audit.js'
import type { Checker } from './checker.js'

/** `disowned`: a verdict by an EVM key this node caught signing a false fail verdict (resolve.ts LiarBook). */
export interface SlashOutcome { submitted: boolean; admitted: { verifier: string; result: AdmitResult | 'disowned' }[]; quorum: bigint }

/** Asks each checker to re-check the evidence; returns the InferenceVerdicts of those whose check failed. */
export async function confirmWith(e: Pick<Evidence, 'commitment' | 'steps'>, checkers: Checker[]): Promise<Verdict[]> {
  if (!e.commitment || !e.steps) return []
  const out = await Promise.all(checkers.map((c) => c.check(e.steps!, e.commitment!).catch(() => undefined)))
  return out.flatMap((o) => (o && !o.ok && o.verdict ? [o.verdict] : []))
}

/** Admits the evidence's verdicts plus `more` (none whose key `disowned` names), and submits when they reach the quorum. */
export async function slashByEvidence(client: ChainClient, e: Pick<Evidence, 'attestation' | 'verdicts'>, more: Verdict[] = [], opts: { disowned?: (address: string) => boolean } = {}): Promise<SlashOutcome> {
  if (!e.attestation) return { submitted: false, admitted: [], quorum: 0n }
  const q = await VerdictQuorum.open(client, e.attestation)
  const admitted: SlashOutcome['admitted'] = []
  for (const v of [...(e.verdicts ?? []), ...more]) admitted.push({ verifier: v.verifier, result: opts.disowned?.(v.verifier) ? 'disowned' : await q.add(v) })
  const quorum = await q.quorum()
  if (!(await q.ready())) return { submitted: false, admitted, quorum }
  await q.submit()
  return { submitted: true, admitted, quorum }
}
