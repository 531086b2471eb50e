// The emission's distribution contract, the node-side DataAttestation signer, freezes and the trust bootstrap.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { hexToBytes, keccak256, toHex, type Address, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { makeFixture, reverts, keys, ZEO, type Fixture } from './fixture.js'
import { ChainClient } from '../../src/economy/chain/client.js'
import { attestationDigest, signDataAttestation, submitFraudProof } from '../../src/economy/chain/attestation.js'
import { ProposalState, REPORTERS, call, executeP, proposeAs, queueP, reporterFixture, stakeFor, stateOf, trustAll, voteP, G } from './gov-helpers.js'

const S = 'Staking'
const R = 'RewardsDistributor'
const bal = (f: Fixture, i: number) => f.r<bigint>(f.dep.token, 'ZEOToken', 'balanceOf', [f.addr(i)])

test('rewards: emission reaches providers pro rata to bonded stake by rule; non-providers and providers who left earn nothing', async () => {
  const f = await makeFixture({ keepDeployerAdmin: false })
  const rewards = f.dep.rewards as Address
  assert.equal((await f.r<Hex>(f.dep.emission, 'Emission', 'rewardsPool')).toLowerCase(), rewards.toLowerCase())
  await stakeFor(f, 1, ZEO(1_000))
  await stakeFor(f, 2, ZEO(3_000))
  await stakeFor(f, 3, ZEO(50_000)) // staked but not a provider
  await f.w(1, f.dep.staking, S, 'registerProvider', [3, 0])
  await f.w(2, f.dep.staking, S, 'registerProvider', [4, 0])
  assert.equal(await f.r<bigint>(rewards, R, 'totalWeight'), ZEO(4_000))
  await f.chain.increaseTime(86_401)
  await f.w(4, f.dep.emission, 'Emission', 'mintEpoch')
  const minted = await f.r<bigint>(f.dep.token, 'ZEOToken', 'balanceOf', [rewards])
  assert.ok(minted > ZEO(200_000), `minted ${minted}`)
  const e1 = await f.r<bigint>(rewards, R, 'earned', [f.addr(1)])
  const e2 = await f.r<bigint>(rewards, R, 'earned', [f.addr(2)])
  // shares to the wei, up to the index's rounding (< totalWeight / 1e18 wei)
  assert.ok(minted / 4n - e1 < 10_000n && e1 <= minted / 4n, `e1 ${e1} of ${minted}`)
  assert.ok((minted * 3n) / 4n - e2 < 10_000n && e2 <= (minted * 3n) / 4n, `e2 ${e2} of ${minted}`)
  assert.equal(await f.r<bigint>(rewards, R, 'earned', [f.addr(3)]), 0n)
  await reverts(f.w(3, rewards, R, 'claim'), 'NothingToClaim')
  await reverts(f.w(3, rewards, R, 'setWeight', [f.addr(3), ZEO(1)]), 'NotStaking')
  const b1 = await bal(f, 1)
  await f.w(1, rewards, R, 'claim')
  assert.equal((await bal(f, 1)) - b1, e1)
  // provider 1 leaves entirely; the next epoch goes to provider 2 alone
  await f.w(1, f.dep.staking, S, 'requestUnstake', [ZEO(1_000)])
  await f.chain.increaseTime(86_400)
  await f.w(4, f.dep.emission, 'Emission', 'mintEpoch')
  assert.equal(await f.r<bigint>(rewards, R, 'earned', [f.addr(1)]), 0n)
  const b2 = await bal(f, 2)
  await f.w(2, rewards, R, 'claim')
  const got = (await bal(f, 2)) - b2
  assert.ok(got > e2)
  // what was minted is exactly what was claimed plus what is still reserved (no tokens created or lost)
  const left = await f.r<bigint>(f.dep.token, 'ZEOToken', 'balanceOf', [rewards])
  assert.ok(left < 20_000n, `dust left: ${left}`)
})

test('attestation: the node signs DataAttestations the Staking contract accepts; a conflicting pair slashes and pays the submitter', async () => {
  const f = await makeFixture()
  await stakeFor(f, 1, ZEO(10_000))
  const fields = (data: string) => ({ chainId: 31337n, staking: f.dep.staking, root: hexToBytes(keccak256(toHex('root'))), index: 9n, dataHash: hexToBytes(keccak256(toHex(data))) })
  assert.equal(attestationDigest(fields('x')), await f.r<Hex>(f.dep.staking, S, 'attestationDigest', [keccak256(toHex('root')), 9n, keccak256(toHex('x'))]))
  const a = await signDataAttestation(keys[1]!, fields('honest'))
  const b = await signDataAttestation(keys[1]!, fields('forged'))
  const other = await signDataAttestation(keys[2]!, fields('forged'))
  const cl = await ChainClient.open({ deployment: f.dep, provider: f.chain, privateKey: keys[3]! })
  await assert.rejects(submitFraudProof(cl, f.addr(1), a, a), /agree/)
  await assert.rejects(submitFraudProof(cl, f.addr(1), a, other), /not signed by the provider/)
  const b3 = await bal(f, 3)
  await submitFraudProof(cl, f.addr(1), a, b)
  assert.equal((await bal(f, 3)) - b3, ZEO(100))
  assert.equal((await f.r<{ bonded: bigint }>(f.dep.staking, S, 'accountOf', [f.addr(1)])).bonded, ZEO(9_000))
  await assert.rejects(submitFraudProof(cl, f.addr(1), b, a), /InvalidFraudProof/)
})

test('freeze: only the governor freezes, the freeze is bounded and ends; a defeated slash proposal only delays the exit', async () => {
  const f = await reporterFixture({ unbondingDelay: 100, trustMaxStepWad: 10n ** 18n })
  await reverts(f.w(1, f.dep.staking, S, 'freezeUnbonding', [f.addr(3), 10n ** 12n]), 'AccessControlUnauthorizedAccount')
  await stakeFor(f, 3, ZEO(5_000))
  await f.w(3, f.dep.staking, S, 'requestUnstake', [ZEO(5_000)])
  await stakeFor(f, 2, ZEO(2_000))
  await trustAll(f, 2, 10n ** 18n)
  const p = await proposeAs(f, 2, [call(f.dep.staking, f.abi(S), 'slash', [f.addr(3), 0, keccak256(toHex('e'))])], 'weak slash')
  const until = await f.r<bigint>(f.dep.staking, S, 'frozenUntil', [f.addr(3)])
  const deadline = await f.r<bigint>(f.dep.governor, G, 'proposalDeadline', [p.id])
  assert.equal(until, deadline + 50n + 2n * 86_400n)
  await f.chain.increaseTime(200)
  assert.equal(await stateOf(f, p), ProposalState.Defeated) // no quorum
  await reverts(f.w(3, f.dep.staking, S, 'withdraw'), 'UnbondingFrozen')
  await f.chain.increaseTime(2 * 86_400)
  const b0 = await bal(f, 3)
  await f.w(3, f.dep.staking, S, 'withdraw')
  assert.equal((await bal(f, 3)) - b0, ZEO(5_000))
})

test('trust bootstrap: reporters added by governance start counting one epoch later; one reporter alone is no score', async () => {
  const f = await makeFixture({ keepDeployerAdmin: false, trustMaxStepWad: 10n ** 18n, trustEpochLength: 1000 })
  await stakeFor(f, 1, ZEO(40_000))
  const t0 = (await f.clients[0]!.public.getBlock()).timestamp
  assert.equal(await f.r<boolean>(f.dep.trust, 'TrustOracle', 'isActiveAt', [t0]), false)
  const weight0 = await f.r<bigint>(f.dep.governor, G, 'getVotes', [f.addr(1), t0])
  assert.equal(weight0, 200_000_000_000n) // sqrt(4e22): stake alone
  const T = f.abi('TrustOracle')
  const add = await proposeAs(f, 1, REPORTERS.map((r) => call(f.dep.trust, T, 'setReporter', [f.addr(r), true])), 'three reporters')
  await f.chain.increaseTime(11)
  await voteP(f, 1, add, 1)
  await f.chain.increaseTime(101)
  await queueP(f, add)
  await f.chain.increaseTime(51)
  await executeP(f, add)
  const t1 = (await f.clients[0]!.public.getBlock()).timestamp
  assert.equal(await f.r<boolean>(f.dep.trust, 'TrustOracle', 'isActiveAt', [t1]), false) // still the bootstrap epoch
  await trustAll(f, 1, 5n * 10n ** 17n)
  await f.chain.increaseTime(1001)
  const t2 = (await f.clients[0]!.public.getBlock()).timestamp
  assert.equal(await f.r<boolean>(f.dep.trust, 'TrustOracle', 'isActiveAt', [t2]), true)
  assert.equal(await f.r<bigint>(f.dep.governor, G, 'getVotes', [f.addr(1), t2]), 300_000_000_000n) // * 1.5
  assert.equal(await f.r<boolean>(f.dep.trust, 'TrustOracle', 'isActiveAt', [t0]), false) // history unchanged
  // one reporter alone is not a trust score: a stranger with one report has none
  await f.w(REPORTERS[0], f.dep.trust, 'TrustOracle', 'report', [f.addr(2), 10n ** 18n])
  assert.equal(await f.r<bigint>(f.dep.trust, 'TrustOracle', 'trustOf', [f.addr(2)]), 0n)
  await reverts(f.w(2, f.dep.trust, 'TrustOracle', 'report', [f.addr(2), 10n ** 18n]), 'NotReporter')
  void privateKeyToAccount
})

test('guardian: may cancel a queued operation (pause), cannot propose to or execute through the timelock', async () => {
  const guardian = privateKeyToAccount(keys[6]!).address
  const f = await makeFixture({ keepDeployerAdmin: false, guardian })
  await stakeFor(f, 1, ZEO(20_000))
  const p = await proposeAs(f, 1, [call(f.dep.params, f.abi('Params'), 'setUint', [keccak256(toHex('fee_ai')), 77n])], 'to be paused')
  await f.chain.increaseTime(11)
  await voteP(f, 1, p, 1)
  await f.chain.increaseTime(101)
  await queueP(f, p)
  // GovernorTimelockControl's salt: the governor's address in the top 20 bytes, xor the description hash
  const salt = toHex((BigInt(f.dep.governor) << 96n) ^ BigInt(p.descHash), { size: 32 })
  const opId = await f.r<Hex>(f.dep.timelock, 'Timelock', 'hashOperationBatch', [p.targets, p.values, p.calldatas, '0x'.padEnd(66, '0'), salt])
  assert.equal(await f.r<boolean>(f.dep.timelock, 'Timelock', 'isOperationPending', [opId]), true)
  await reverts(f.w(6, f.dep.timelock, 'Timelock', 'schedule', [f.dep.params, 0n, p.calldatas[0], '0x'.padEnd(66, '0'), keccak256('0x01'), 60n]), 'AccessControlUnauthorizedAccount')
  await f.w(6, f.dep.timelock, 'Timelock', 'cancel', [opId])
  await f.chain.increaseTime(51)
  await reverts(executeP(f, p), 'GovernorUnexpectedProposalState')
  assert.equal(await stateOf(f, p), ProposalState.Canceled)
})
