/** DAO helpers for `zeone gov`: propose (with the 1000 ZEO deposit), vote, queue and execute by proposal id. */
import { encodeFunctionData, keccak256, toHex, type Address, type Hex } from 'viem'
import type { ChainClient } from './client.js'
import { paramKey } from './client.js'
import { ChainError } from './errors.js'

export interface Action { target: Address; value: bigint; calldata: Hex }
export const PROPOSAL_STATES = ['Pending', 'Active', 'Canceled', 'Defeated', 'Succeeded', 'Queued', 'Expired', 'Executed'] as const
export const DEPOSIT = 1000n * 10n ** 18n

export function setParamAction(cl: ChainClient, name: string, value: bigint): Action {
  return { target: cl.dep.params, value: 0n, calldata: encodeFunctionData({ abi: cl.abi('Params'), functionName: 'setUint', args: [paramKey(name), value] }) }
}

export function setModelAction(cl: ChainClient, modelHash: Hex, allowed: boolean): Action {
  return { target: cl.dep.params, value: 0n, calldata: encodeFunctionData({ abi: cl.abi('Params'), functionName: 'setModel', args: [modelHash, allowed] }) }
}

export async function propose(cl: ChainClient, actions: Action[], description: string): Promise<bigint> {
  if (actions.length === 0 || actions.length > 32) throw new ChainError('bad_proposal', 'a proposal needs 1..32 actions')
  const me = cl.address
  if (me === undefined) throw new ChainError('not_configured', 'no EVM key configured')
  const allowance = await cl.read<bigint>(cl.dep.token, 'ZEOToken', 'allowance', [me, cl.dep.governor])
  if (allowance < DEPOSIT) await cl.write(cl.dep.token, 'ZEOToken', 'approve', [cl.dep.governor, DEPOSIT])
  const args = [actions.map((a) => a.target), actions.map((a) => a.value), actions.map((a) => a.calldata)] as const
  await cl.write(cl.dep.governor, 'ZeoneGovernor', 'propose', [...args, description])
  return cl.read<bigint>(cl.dep.governor, 'ZeoneGovernor', 'hashProposal', [...args, keccak256(toHex(description))])
}

/** support: 0 against, 1 for, 2 abstain. */
export async function vote(cl: ChainClient, id: bigint, support: 0 | 1 | 2): Promise<void> {
  await cl.write(cl.dep.governor, 'ZeoneGovernor', 'castVote', [id, support])
}

export async function proposalState(cl: ChainClient, id: bigint): Promise<(typeof PROPOSAL_STATES)[number]> {
  const s = await cl.read<number>(cl.dep.governor, 'ZeoneGovernor', 'state', [id])
  return PROPOSAL_STATES[s] ?? 'Pending'
}

/** Recovers a proposal's actions and description from its ProposalCreated event. */
export async function findProposal(cl: ChainClient, id: bigint): Promise<{ targets: Address[]; values: bigint[]; calldatas: Hex[]; description: string }> {
  const event = cl.abi('ZeoneGovernor').find((x) => x.type === 'event' && x.name === 'ProposalCreated')
  const logs = await cl.c.public.getLogs({ address: cl.dep.governor, event: event as never, fromBlock: BigInt(cl.dep.fromBlock ?? 0), toBlock: 'latest' })
  for (const log of logs) {
    const a = (log as unknown as { args: { proposalId: bigint; targets: Address[]; values: bigint[]; calldatas: Hex[]; description: string } }).args
    if (a.proposalId === id) return { targets: a.targets, values: a.values, calldatas: a.calldatas, description: a.description }
  }
  throw new ChainError('unknown_proposal', `no proposal ${id}`)
}

/** Every proposal id the governor has created since the deployment block (ProposalCreated events), oldest first. */
export async function listProposalIds(cl: ChainClient): Promise<bigint[]> {
  const event = cl.abi('ZeoneGovernor').find((x) => x.type === 'event' && x.name === 'ProposalCreated')
  const logs = await cl.c.public.getLogs({ address: cl.dep.governor, event: event as never, fromBlock: BigInt(cl.dep.fromBlock ?? 0), toBlock: 'latest' })
  return logs.map((log) => (log as unknown as { args: { proposalId: bigint } }).args.proposalId)
}

export async function queue(cl: ChainClient, id: bigint): Promise<void> {
  const p = await findProposal(cl, id)
  await cl.write(cl.dep.governor, 'ZeoneGovernor', 'queue', [p.targets, p.values, p.calldatas, keccak256(toHex(p.description))])
}

export async function execute(cl: ChainClient, id: bigint): Promise<void> {
  const p = await findProposal(cl, id)
  await cl.write(cl.dep.governor, 'ZeoneGovernor', 'execute', [p.targets, p.values, p.calldatas, keccak256(toHex(p.description))])
}
