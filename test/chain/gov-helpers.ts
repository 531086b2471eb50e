// Shared helpers for the governance attack tests: fund, stake, attest trust by every reporter, propose and pass.
import { encodeFunctionData, keccak256, toHex, type Abi, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { makeFixture, keys, ZEO, type Fixture } from './fixture.js'
import type { DeployInit } from '../../src/economy/chain/deploy.js'

export const G = 'ZeoneGovernor'
/** Accounts 5, 6 and 7 are the trust reporters of `reporterFixture`. */
export const REPORTERS = [5, 6, 7] as const

/** A deployment as `zeone chain deploy` makes it (deployer admin renounced) with three named trust reporters. */
export function reporterFixture(extra: Record<string, unknown> = {}): Promise<Fixture> {
  const init: DeployInit = { keepDeployerAdmin: false, reporters: REPORTERS.map((i) => privateKeyToAccount(keys[i]!).address), ...extra }
  return makeFixture(init)
}

export async function give(f: Fixture, i: number, amount: bigint): Promise<void> {
  await f.w(0, f.dep.token, 'ZEOToken', 'transfer', [f.addr(i), amount])
}

export async function stakeFor(f: Fixture, i: number, amount: bigint): Promise<void> {
  await give(f, i, amount)
  await f.w(i, f.dep.token, 'ZEOToken', 'approve', [f.dep.staking, amount])
  await f.w(i, f.dep.staking, 'Staking', 'stake', [amount])
}

/** Every reporter attests `trustWad` for account i. */
export async function trustAll(f: Fixture, i: number, trustWad: bigint): Promise<void> {
  for (const r of REPORTERS) await f.w(r, f.dep.trust, 'TrustOracle', 'report', [f.addr(i), trustWad])
}

export interface Proposal { id: bigint; targets: Address[]; values: bigint[]; calldatas: Hex[]; descHash: Hex }

export function call(target: Address, abi: Abi, fn: string, args: readonly unknown[]): { target: Address; data: Hex } {
  return { target, data: encodeFunctionData({ abi, functionName: fn, args } as never) }
}

/** Account i pays the deposit and proposes the calls. */
export async function proposeAs(f: Fixture, i: number, calls: { target: Address; data: Hex }[], description: string): Promise<Proposal> {
  await give(f, i, ZEO(1000))
  await f.w(i, f.dep.token, 'ZEOToken', 'approve', [f.dep.governor, ZEO(1000)])
  const targets = calls.map((c) => c.target)
  const values = calls.map(() => 0n)
  const calldatas = calls.map((c) => c.data)
  await f.w(i, f.dep.governor, G, 'propose', [targets, values, calldatas, description])
  const descHash = keccak256(toHex(description))
  const id = await f.r<bigint>(f.dep.governor, G, 'hashProposal', [targets, values, calldatas, descHash])
  return { id, targets, values, calldatas, descHash }
}

export const stateOf = (f: Fixture, p: Proposal) => f.r<number>(f.dep.governor, G, 'state', [p.id])
export const queueP = (f: Fixture, p: Proposal) => f.w(4, f.dep.governor, G, 'queue', [p.targets, p.values, p.calldatas, p.descHash])
export const executeP = (f: Fixture, p: Proposal) => f.w(4, f.dep.governor, G, 'execute', [p.targets, p.values, p.calldatas, p.descHash])
export const voteP = (f: Fixture, i: number, p: Proposal, support: 0 | 1 | 2) => f.w(i, f.dep.governor, G, 'castVote', [p.id, support])
export const now = async (f: Fixture) => (await f.clients[0]!.public.getBlock()).timestamp
export const ProposalState = { Pending: 0, Active: 1, Canceled: 2, Defeated: 3, Succeeded: 4, Queued: 5, Expired: 6, Executed: 7 } as const
