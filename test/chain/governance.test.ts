import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encodeFunctionData, keccak256, toFunctionSelector, toHex } from 'viem'
import { reverts, ZEO, type Fixture } from './fixture.js'
import { reporterFixture, trustAll } from './gov-helpers.js'

const G = 'ZeoneGovernor'
// three reporters (accounts 5, 6, 7), no step bound: each report() below is the same score from all three
const govFixture = () => reporterFixture({ trustMaxStepWad: 10n ** 18n })
async function give(f: Fixture, i: number, amount: bigint) {
  await f.w(0, f.dep.token, 'ZEOToken', 'transfer', [f.addr(i), amount])
}
async function stakeFor(f: Fixture, i: number, amount: bigint) {
  await give(f, i, amount)
  await f.w(i, f.dep.token, 'ZEOToken', 'approve', [f.dep.staking, amount])
  await f.w(i, f.dep.staking, 'Staking', 'stake', [amount])
}
const report = (f: Fixture, i: number, trustWad: bigint) => trustAll(f, i, trustWad)
const now = async (f: Fixture) => (await f.clients[0]!.public.getBlock()).timestamp
const votes = async (f: Fixture, i: number) => f.r<bigint>(f.dep.governor, G, 'getVotes', [f.addr(i), await now(f)])
const state = (f: Fixture, id: bigint) => f.r<number>(f.dep.governor, G, 'state', [id])

test('governance: deposit, snapshot voting, timelock, execution changes params; only the timelock administers', async () => {
  const f = await govFixture()
  const { governor, params, token, trust, timelock } = f.dep
  const FEE_VPN = keccak256(toHex('fee_vpn'))
  const model = keccak256(toHex('model:tiny-llm'))
  // after deployment the deployer holds no admin power
  await reverts(f.w(0, params, 'Params', 'setUint', [FEE_VPN, 1n]), 'OwnableUnauthorizedAccount')
  await reverts(f.w(0, trust, 'TrustOracle', 'setReporter', [f.addr(0), true]), 'OwnableUnauthorizedAccount')
  await reverts(f.w(0, token, 'ZEOToken', 'grantRole', [keccak256(toHex('MINTER_ROLE')), f.addr(0)]), 'AccessControlUnauthorizedAccount')
  await reverts(f.w(1, trust, 'TrustOracle', 'report', [f.addr(1), 1n]), 'NotReporter')

  await stakeFor(f, 1, ZEO(10_000))
  assert.equal(await votes(f, 1), 0n) // no trust attestation yet: below min_trust_score
  await report(f, 1, 5n * 10n ** 17n)
  assert.equal(await votes(f, 1), 150_000_000_000n) // sqrt(1e22) * 1.5

  const pAbi = f.abi('Params')
  const targets = [params, params]
  const values = [0n, 0n]
  const calldatas = [
    encodeFunctionData({ abi: pAbi, functionName: 'setUint', args: [FEE_VPN, 1234n] }),
    encodeFunctionData({ abi: pAbi, functionName: 'setModel', args: [model, true] }),
  ]
  const desc = 'raise fee_vpn, whitelist tiny-llm'
  await give(f, 1, ZEO(1000))
  await reverts(f.w(1, governor, G, 'propose', [targets, values, calldatas, desc]), toFunctionSelector('ERC20InsufficientAllowance(address,uint256,uint256)'))
  await f.w(1, token, 'ZEOToken', 'approve', [governor, ZEO(1000)])
  await f.w(1, governor, G, 'propose', [targets, values, calldatas, desc])
  assert.equal(await f.r<bigint>(token, 'ZEOToken', 'balanceOf', [governor]), ZEO(1000))
  const id = await f.r<bigint>(governor, G, 'hashProposal', [targets, values, calldatas, keccak256(toHex(desc))])
  assert.equal(await state(f, id), 0) // Pending
  await f.chain.increaseTime(11)
  // a whale that stakes after the snapshot gets no say in this proposal
  await stakeFor(f, 2, ZEO(1_000_000))
  await report(f, 2, 10n ** 18n)
  await f.w(2, governor, G, 'castVote', [id, 0])
  await f.w(1, governor, G, 'castVote', [id, 1])
  const [against, forVotes] = await f.r<[bigint, bigint, bigint]>(governor, G, 'proposalVotes', [id])
  assert.equal(against, 0n)
  assert.equal(forVotes, 150_000_000_000n)
  await reverts(f.w(1, governor, G, 'castVote', [id, 1]), 'GovernorAlreadyCastVote')
  await f.chain.increaseTime(101)
  assert.equal(await state(f, id), 4) // Succeeded
  await f.w(5, governor, G, 'queue', [targets, values, calldatas, keccak256(toHex(desc))])
  assert.equal(await state(f, id), 5) // Queued
  await reverts(f.w(5, governor, G, 'execute', [targets, values, calldatas, keccak256(toHex(desc))]), toFunctionSelector('TimelockUnexpectedOperationState(bytes32,bytes32)'))
  await f.chain.increaseTime(51)
  await f.w(5, governor, G, 'execute', [targets, values, calldatas, keccak256(toHex(desc))])
  assert.equal(await state(f, id), 7) // Executed
  assert.equal(await f.r<bigint>(params, 'Params', 'getUint', [FEE_VPN]), 1234n)
  assert.equal(await f.r<boolean>(params, 'Params', 'modelWhitelisted', [model]), true)
  // deposit refunded because quorum was reached
  const b = await f.r<bigint>(token, 'ZEOToken', 'balanceOf', [f.addr(1)])
  await f.w(4, governor, G, 'settleDeposit', [id])
  assert.equal((await f.r<bigint>(token, 'ZEOToken', 'balanceOf', [f.addr(1)])) - b, ZEO(1000))
  await reverts(f.w(4, governor, G, 'settleDeposit', [id]), 'DepositNotClaimable')
  assert.equal(await f.r<boolean>(f.dep.staking, 'Staking', 'hasRole', [keccak256(toHex('SLASHER_ROLE')), timelock]), true)
})

test('governance: splitting stake across addresses gains nothing without trust and at most sqrt(n) with it', async () => {
  const f = await govFixture()
  const { governor, token } = f.dep
  await stakeFor(f, 1, ZEO(10_000)) // one address
  for (const i of [2, 3, 4, 5]) await stakeFor(f, i, ZEO(2_500)) // the same stake split four ways
  await stakeFor(f, 7, ZEO(999)) // below minVotingStake (1000 ZEO)
  await report(f, 1, 2n * 10n ** 17n)
  await report(f, 7, 10n ** 18n)
  const one = await votes(f, 1)
  assert.equal(one, 120_000_000_000n)
  // fresh addresses without attested trust have no weight at all
  for (const i of [2, 3, 4, 5]) assert.equal(await votes(f, i), 0n)
  assert.equal(await votes(f, 7), 0n)
  // if a reporter attests all four, the split gains exactly sqrt(4) = 2x, never more
  for (const i of [2, 3, 4, 5]) await report(f, i, 2n * 10n ** 17n)
  let split = 0n
  for (const i of [2, 3, 4, 5]) split += await votes(f, i)
  assert.equal(split, 2n * one)

  // a proposal that never reaches quorum loses its deposit (burned)
  await give(f, 2, ZEO(1000))
  await f.w(2, token, 'ZEOToken', 'approve', [governor, ZEO(1000)])
  const args = [[f.dep.params], [0n], [encodeFunctionData({ abi: f.abi('Params'), functionName: 'setUint', args: [keccak256(toHex('fee_ai')), 1n] })]] as const
  await f.w(2, governor, G, 'propose', [...args, 'spam'])
  const id = await f.r<bigint>(governor, G, 'hashProposal', [...args, keccak256(toHex('spam'))])
  await reverts(f.w(2, governor, G, 'settleDeposit', [id]), 'DepositNotClaimable') // still pending
  await f.chain.increaseTime(120)
  assert.equal(await state(f, id), 3) // Defeated
  const s0 = await f.r<bigint>(token, 'ZEOToken', 'totalSupply')
  await f.w(2, governor, G, 'settleDeposit', [id])
  assert.equal(s0 - (await f.r<bigint>(token, 'ZEOToken', 'totalSupply')), ZEO(1000))
})
