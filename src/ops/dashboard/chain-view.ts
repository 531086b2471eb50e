/** The chain part of the dashboard that needs RPC reads: our bonded stake and the latest governance proposals. */
import type { Address, Hex } from 'viem'
import type { ChainClient } from '../../economy/chain/client.js'
import { proposalState } from '../../economy/chain/governance.js'

export interface ProposalRow { id: string; state: string; description: string }

/** Proposals the page lists, newest first; descriptions are cut (they are whatever a proposer wrote). */
export const MAX_PROPOSALS = 10
const MAX_DESCRIPTION = 200

/** The newest proposals from the governor's ProposalCreated events, with their current state. */
export async function recentProposals(cl: ChainClient, max = MAX_PROPOSALS): Promise<ProposalRow[]> {
  const event = cl.abi('ZeoneGovernor').find((x) => x.type === 'event' && x.name === 'ProposalCreated')
  const logs = await cl.c.public.getLogs({ address: cl.dep.governor as Address, event: event as never, fromBlock: BigInt(cl.dep.fromBlock ?? 0), toBlock: 'latest' })
  const rows: ProposalRow[] = []
  for (const log of [...logs].reverse().slice(0, max)) {
    const a = (log as unknown as { args: { proposalId: bigint; description: string; calldatas: Hex[] } }).args
    const description = typeof a.description === 'string' ? a.description.slice(0, MAX_DESCRIPTION) : ''
    rows.push({ id: a.proposalId.toString(), state: await proposalState(cl, a.proposalId), description })
  }
  return rows
}
