// Issue 13 parts 3, 4 and 7 (governance): each test is an attack or a dead end that today's contracts allow.
// Fixture timings: voting delay 10 s, period 100 s, timelock 50 s.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { keccak256, toHex, type Hex } from 'viem'
import { makeFixture, ZEO } from './fixture.js'
import { G, REPORTERS, ProposalState, call, executeP, give, proposeAs, queueP, reporterFixture, stakeFor, stateOf, trustAll, voteP } from './gov-helpers.js'

test('bootstrap: right after a default deploy (no reporters, deployer admin renounced) a staker can pass and execute a proposal', async () => {
  const f = await makeFixture({ keepDeployerAdmin: false })
  await stakeFor(f, 1, ZEO(20_000))
  const p = await proposeAs(f, 1, [call(f.dep.params, f.abi('Params'), 'setUint', [keccak256(toHex('fee_vpn')), 4321n])], 'bootstrap: fee_vpn')
  await f.chain.increaseTime(11)
  await voteP(f, 1, p, 1)
  await f.chain.increaseTime(101)
  assert.equal(await stateOf(f, p), ProposalState.Succeeded)
  await queueP(f, p)
  await f.chain.increaseTime(51)
  await executeP(f, p)
  assert.equal(await f.r<bigint>(f.dep.params, 'Params', 'getUint', [keccak256(toHex('fee_vpn'))]), 4321n)
})

test('bootstrap: emission goes to a distribution contract, never to the deployer key', async () => {
  const f = await makeFixture({ keepDeployerAdmin: false })
  const pool = await f.r<Hex>(f.dep.emission, 'Emission', 'rewardsPool')
  assert.notEqual(pool.toLowerCase(), f.addr(0).toLowerCase())
  const code = await f.clients[0]!.public.getCode({ address: pool })
  assert.ok(code !== undefined && code.length > 2, 'the rewards pool must be a contract')
})

test('trust: one reporter cannot zero a whale before the snapshot and pass a proposal that mints to itself', async () => {
  const f = await reporterFixture({ trustMaxStepWad: 10n ** 18n })
  const attacker = REPORTERS[2]
  await stakeFor(f, 1, ZEO(1_000_000)) // the whale
  await stakeFor(f, attacker, ZEO(20_000))
  await trustAll(f, 1, 10n ** 18n)
  await trustAll(f, attacker, 10n ** 18n)
  // the attacking reporter alone says the whale is untrusted
  await f.w(attacker, f.dep.trust, 'TrustOracle', 'report', [f.addr(1), 0n])
  const minter = await f.r<Hex>(f.dep.token, 'ZEOToken', 'MINTER_ROLE')
  const p = await proposeAs(f, attacker, [call(f.dep.token, f.abi('ZEOToken'), 'grantRole', [minter, f.addr(attacker)])], 'make me a minter')
  await f.chain.increaseTime(11)
  await voteP(f, 1, p, 0)
  await voteP(f, attacker, p, 1)
  await f.chain.increaseTime(101)
  assert.equal(await stateOf(f, p), ProposalState.Defeated)
})

test('trust: even a majority of reporters moves an account by at most the per-epoch step', async () => {
  const f = await reporterFixture({ trustMaxStepWad: 25n * 10n ** 16n, trustEpochLength: 86_400 })
  for (let day = 0; day < 4; day++) {
    await trustAll(f, 1, 10n ** 18n)
    await f.chain.increaseTime(86_400)
  }
  assert.equal(await f.r<bigint>(f.dep.trust, 'TrustOracle', 'trustOf', [f.addr(1)]), 10n ** 18n)
  for (const r of REPORTERS.slice(0, 2)) await f.w(r, f.dep.trust, 'TrustOracle', 'report', [f.addr(1), 0n])
  assert.equal(await f.r<bigint>(f.dep.trust, 'TrustOracle', 'trustOf', [f.addr(1)]), 75n * 10n ** 16n)
  for (const r of REPORTERS.slice(0, 2)) await f.w(r, f.dep.trust, 'TrustOracle', 'report', [f.addr(1), 0n])
  assert.equal(await f.r<bigint>(f.dep.trust, 'TrustOracle', 'trustOf', [f.addr(1)]), 75n * 10n ** 16n)
})

test('snapshot: lowering the quorum later does not revive a defeated proposal', async () => {
  const f = await reporterFixture({ trustMaxStepWad: 10n ** 18n })
  await stakeFor(f, 1, ZEO(100_000))
  await stakeFor(f, 2, ZEO(1_000)) // sqrt(1e21) * 1.5 ~ 4.7e10 < quorum 1e11
  await trustAll(f, 1, 5n * 10n ** 17n)
  await trustAll(f, 2, 5n * 10n ** 17n)
  const weak = await proposeAs(f, 2, [call(f.dep.params, f.abi('Params'), 'setUint', [keccak256(toHex('fee_ai')), 1n])], 'weak')
  const lower = await proposeAs(f, 1, [call(f.dep.governor, f.abi(G), 'setQuorumVotes', [1n])], 'lower quorum')
  await f.chain.increaseTime(11)
  await voteP(f, 2, weak, 1)
  await voteP(f, 1, lower, 1)
  await f.chain.increaseTime(101)
  assert.equal(await stateOf(f, weak), ProposalState.Defeated)
  await queueP(f, lower)
  await f.chain.increaseTime(51)
  await executeP(f, lower)
  assert.equal(await f.r<bigint>(f.dep.governor, G, 'quorumVotes'), 1n)
  assert.equal(await stateOf(f, weak), ProposalState.Defeated)
})

test('snapshot: raising min_trust_score / minVotingStake mid-vote does not silence voters of a running proposal', async () => {
  const f = await reporterFixture({ trustMaxStepWad: 10n ** 18n })
  await stakeFor(f, 1, ZEO(100_000))
  await stakeFor(f, 2, ZEO(1_000))
  await trustAll(f, 1, 10n ** 18n)
  await trustAll(f, 2, 5n * 10n ** 17n)
  const raise = await proposeAs(f, 1, [
    call(f.dep.params, f.abi('Params'), 'setUint', [keccak256(toHex('min_trust_score')), 9n * 10n ** 17n]),
    call(f.dep.governor, f.abi(G), 'setMinVotingStake', [ZEO(2_000)]),
  ], 'raise the bar')
  await f.chain.increaseTime(11)
  await voteP(f, 1, raise, 1)
  await f.chain.increaseTime(101)
  await queueP(f, raise)
  const running = await proposeAs(f, 1, [call(f.dep.params, f.abi('Params'), 'setUint', [keccak256(toHex('fee_cdn')), 3n])], 'running')
  await f.chain.increaseTime(51)
  await executeP(f, raise)
  assert.equal(await stateOf(f, running), ProposalState.Active)
  await voteP(f, 2, running, 0)
  const [against] = await f.r<[bigint, bigint, bigint]>(f.dep.governor, G, 'proposalVotes', [running.id])
  assert.ok(against > 0n, 'the voter had weight at the snapshot and keeps it')
})

test('deposit: a proposal canceled by its proposer loses the deposit (no free spam)', async () => {
  const f = await reporterFixture()
  const p = await proposeAs(f, 3, [call(f.dep.params, f.abi('Params'), 'setUint', [keccak256(toHex('fee_ai')), 9n])], 'spam then cancel')
  await f.w(3, f.dep.governor, G, 'cancel', [p.targets, p.values, p.calldatas, p.descHash])
  assert.equal(await stateOf(f, p), ProposalState.Canceled)
  const s0 = await f.r<bigint>(f.dep.token, 'ZEOToken', 'totalSupply')
  const b0 = await f.r<bigint>(f.dep.token, 'ZEOToken', 'balanceOf', [f.addr(3)])
  await f.w(4, f.dep.governor, G, 'settleDeposit', [p.id])
  assert.equal(await f.r<bigint>(f.dep.token, 'ZEOToken', 'balanceOf', [f.addr(3)]), b0)
  assert.equal(s0 - (await f.r<bigint>(f.dep.token, 'ZEOToken', 'totalSupply')), ZEO(1000))
  void give
})
