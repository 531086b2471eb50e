// Issue 13 part 7 (staking): escaping a slash by unbonding, the unstake clock restart, the fraud-proof reward.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { keccak256, toHex, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { makeFixture, reverts, keys, ZEO, type Fixture } from './fixture.js'
import { ProposalState, call, executeP, proposeAs, queueP, reporterFixture, stakeFor, stateOf, trustAll, voteP } from './gov-helpers.js'

const S = 'Staking'
const acct = (f: Fixture, i: number) => f.r<{ bonded: bigint; unbonding: bigint; banned: boolean }>(f.dep.staking, S, 'accountOf', [f.addr(i)])
const bal = (f: Fixture, i: number) => f.r<bigint>(f.dep.token, 'ZEOToken', 'balanceOf', [f.addr(i)])

test('slash escape: a staker who unbonds cannot withdraw while a slash proposal against it is live', async () => {
  // unbonding (100 s) is shorter than the slash path (10 + 100 + 50 s)
  const f = await reporterFixture({ unbondingDelay: 100, trustMaxStepWad: 10n ** 18n })
  await stakeFor(f, 1, ZEO(100_000))
  await trustAll(f, 1, 10n ** 18n)
  await stakeFor(f, 3, ZEO(10_000)) // the offender
  await f.w(3, f.dep.staking, S, 'requestUnstake', [ZEO(10_000)])
  const p = await proposeAs(f, 1, [call(f.dep.staking, f.abi(S), 'slash', [f.addr(3), 2, keccak256(toHex('censored'))])], 'slash 3')
  await f.chain.increaseTime(11)
  await voteP(f, 1, p, 1)
  await f.chain.increaseTime(101) // the offender's unbonding has matured by now
  await reverts(f.w(3, f.dep.staking, S, 'withdraw'), 'UnbondingFrozen')
  assert.equal(await stateOf(f, p), ProposalState.Succeeded)
  await queueP(f, p)
  await f.chain.increaseTime(51)
  await executeP(f, p)
  const a = await acct(f, 3)
  assert.equal(a.unbonding, ZEO(5_000)) // 50% slashed and banned
  assert.equal(a.banned, true)
})

test('unstake: a second request does not restart the clock of an already matured amount', async () => {
  const f = await makeFixture()
  await stakeFor(f, 1, ZEO(1_000))
  await f.w(1, f.dep.staking, S, 'requestUnstake', [ZEO(100)])
  await f.chain.increaseTime(1001)
  await f.w(1, f.dep.staking, S, 'requestUnstake', [ZEO(50)])
  const b0 = await bal(f, 1)
  await f.w(1, f.dep.staking, S, 'withdraw')
  assert.equal((await bal(f, 1)) - b0, ZEO(100))
})

test('fraud proof: the submitter is rewarded from the slashed stake (fraud_reward_bps, 10% of the slash)', async () => {
  const f = await makeFixture()
  await stakeFor(f, 1, ZEO(10_000))
  const domain = { name: 'ZEONE Staking', version: '1', chainId: 31337, verifyingContract: f.dep.staking }
  const types = { DataAttestation: [{ name: 'root', type: 'bytes32' }, { name: 'index', type: 'uint64' }, { name: 'dataHash', type: 'bytes32' }] } as const
  const signer = privateKeyToAccount(keys[1]!)
  const root = keccak256(toHex('manifest'))
  const sig = (h: Hex) => signer.signTypedData({ domain, types, primaryType: 'DataAttestation', message: { root, index: 3n, dataHash: h } }) // independent of src/ (see staking-rewards for the node's signer)
  const [hA, hB] = [keccak256(toHex('A')), keccak256(toHex('B'))]
  const b0 = await bal(f, 2)
  const s0 = await f.r<bigint>(f.dep.token, 'ZEOToken', 'totalSupply')
  await f.w(2, f.dep.staking, S, 'slashInvalidData', [f.addr(1), root, 3n, hA, await sig(hA), hB, await sig(hB)])
  assert.equal((await acct(f, 1)).bonded, ZEO(9_000))
  assert.equal((await bal(f, 2)) - b0, ZEO(100))
  assert.equal(s0 - (await f.r<bigint>(f.dep.token, 'ZEOToken', 'totalSupply')), ZEO(900))
})
