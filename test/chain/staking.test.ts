import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encodeFunctionData, keccak256, toFunctionSelector, toHex, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { makeFixture, deployRaw, reverts, keys, ZEO, type Fixture } from './fixture.js'

const S = 'Staking'
async function fund(f: Fixture, i: number, amount: bigint) {
  await f.w(0, f.dep.token, 'ZEOToken', 'transfer', [f.addr(i), amount])
  await f.w(i, f.dep.token, 'ZEOToken', 'approve', [f.dep.staking, amount])
}
const acct = (f: Fixture, i: number) => f.r<{ bonded: bigint; unbonding: bigint; banned: boolean; kind: number }>(f.dep.staking, S, 'accountOf', [f.addr(i)])

test('staking: unbonding delay, provider stake = bandwidth_mbps * 100 ZEO', async () => {
  const f = await makeFixture()
  const st = f.dep.staking
  await fund(f, 1, ZEO(10_000))
  await f.w(1, st, S, 'stake', [ZEO(5_000)])
  // exit provider at 100 Mbps needs 10,000 ZEO
  await reverts(f.w(1, st, S, 'registerProvider', [1, 100]), 'InsufficientStake')
  await f.w(1, st, S, 'registerProvider', [1, 50]) // 5,000 ZEO is enough for 50 Mbps
  await f.w(1, st, S, 'stake', [ZEO(5_000)])
  await f.w(1, st, S, 'registerProvider', [2, 100])
  assert.equal(await f.r<bigint>(st, S, 'requiredStake', [f.addr(1)]), ZEO(10_000))
  // cannot unbond below the requirement while registered (only fully)
  await reverts(f.w(1, st, S, 'requestUnstake', [ZEO(1)]), 'InsufficientStake')
  await f.w(1, st, S, 'requestUnstake', [ZEO(10_000)])
  await reverts(f.w(1, st, S, 'withdraw'), 'StillUnbonding')
  await f.chain.increaseTime(1001)
  await f.w(1, st, S, 'withdraw')
  assert.equal(await f.r<bigint>(f.dep.token, 'ZEOToken', 'balanceOf', [f.addr(1)]), ZEO(10_000))
})

test('slashing: only governance (SLASHER_ROLE) or a verified fraud proof; 10% / 1% / 50% + ban; burned', async () => {
  const f = await makeFixture()
  const st = f.dep.staking
  await fund(f, 1, ZEO(1_000))
  await f.w(1, st, S, 'stake', [ZEO(1_000)])
  // unauthorised slashing
  for (const i of [0, 1, 2]) await reverts(f.w(i, st, S, 'slash', [f.addr(1), 0, keccak256('0x01')]), 'AccessControlUnauthorizedAccount')
  const role = await f.r<Hex>(st, S, 'SLASHER_ROLE')
  assert.equal(await f.r<boolean>(st, S, 'hasRole', [role, f.dep.timelock]), true)
  await f.w(0, st, S, 'grantRole', [role, f.addr(7)]) // stand-in for the timelock in this test
  const s0 = await f.r<bigint>(f.dep.token, 'ZEOToken', 'totalSupply')
  await f.w(7, st, S, 'slash', [f.addr(1), 1, keccak256('0x02')]) // unavailability 1%
  assert.equal((await acct(f, 1)).bonded, ZEO(990))
  // unbonding stake stays slashable
  await f.w(1, st, S, 'requestUnstake', [ZEO(490)])
  await f.w(7, st, S, 'slash', [f.addr(1), 0, keccak256('0x03')]) // invalid data 10% of 990 = 99
  const a = await acct(f, 1)
  assert.equal(a.bonded + a.unbonding, ZEO(891))
  await f.w(7, st, S, 'slash', [f.addr(1), 2, keccak256('0x04')]) // censorship 50% + ban
  const b = await acct(f, 1)
  assert.equal(b.banned, true)
  assert.equal(b.bonded + b.unbonding, ZEO(891) - ZEO(891) / 2n)
  assert.equal(s0 - (await f.r<bigint>(f.dep.token, 'ZEOToken', 'totalSupply')), ZEO(1_000) - b.bonded - b.unbonding)
  await reverts(f.w(1, st, S, 'stake', [1n]), 'Banned')
  const later = BigInt(Math.floor(Date.now() / 1000)) + 10n ** 6n
  assert.equal(await f.r<bigint>(st, S, 'votingStakeAt', [f.addr(1), later]), 0n)
  // a banned account may leave with what is left, but its voting stake stays 0
  await fund(f, 2, ZEO(1_000))
  await f.w(2, st, S, 'stake', [ZEO(1_000)])
  await f.w(7, st, S, 'slash', [f.addr(2), 2, keccak256('0x05')])
  assert.equal((await acct(f, 2)).bonded, ZEO(500))
  await f.w(2, st, S, 'requestUnstake', [ZEO(100)])
  assert.equal(await f.r<bigint>(st, S, 'votingStakeAt', [f.addr(2), later]), 0n)
})

test('fraud proof: two conflicting signed attestations slash 10% once; forged or equal proofs are refused', async () => {
  const f = await makeFixture()
  const st = f.dep.staking
  await fund(f, 1, ZEO(1_000))
  await f.w(1, st, S, 'stake', [ZEO(1_000)])
  const domain = { name: 'ZEONE Staking', version: '1', chainId: 31337, verifyingContract: st }
  const types = { DataAttestation: [{ name: 'root', type: 'bytes32' }, { name: 'index', type: 'uint64' }, { name: 'dataHash', type: 'bytes32' }] } as const
  const signer = privateKeyToAccount(keys[1]!)
  const other = privateKeyToAccount(keys[2]!)
  const root = keccak256(toHex('manifest'))
  const hA = keccak256(toHex('chunk A'))
  const hB = keccak256(toHex('chunk B'))
  const sig = (acc: typeof signer, h: Hex) => acc.signTypedData({ domain, types, primaryType: 'DataAttestation', message: { root, index: 7n, dataHash: h } })
  const sA = await sig(signer, hA)
  const sB = await sig(signer, hB)
  await reverts(f.w(3, st, S, 'slashInvalidData', [f.addr(1), root, 7n, hA, sA, hA, sA]), 'InvalidFraudProof')
  await reverts(f.w(3, st, S, 'slashInvalidData', [f.addr(1), root, 7n, hA, sA, hB, await sig(other, hB)]), 'InvalidFraudProof')
  await f.w(3, st, S, 'slashInvalidData', [f.addr(1), root, 7n, hA, sA, hB, sB])
  assert.equal((await acct(f, 1)).bonded, ZEO(900))
  await reverts(f.w(3, st, S, 'slashInvalidData', [f.addr(1), root, 7n, hB, sB, hA, sA]), 'InvalidFraudProof') // reused
})

test('reentrancy: a hostile token re-entering withdraw() during the payout is stopped by the guard', async () => {
  const f = await makeFixture()
  const evil = await deployRaw(f, 0, 'ReentrantToken')
  const st = await deployRaw(f, 0, 'Staking', [evil, f.dep.params, 0n, f.addr(0)])
  await f.w(0, evil, 'ReentrantToken', 'approve', [st, ZEO(1000)])
  await f.w(0, st, S, 'stake', [ZEO(1000)])
  await f.w(0, st, S, 'requestUnstake', [ZEO(400)])
  await f.w(0, evil, 'ReentrantToken', 'arm', [st, encodeFunctionData({ abi: f.abi('Staking'), functionName: 'withdraw' })])
  await f.w(0, st, S, 'withdraw')
  assert.equal(await f.r<boolean>(evil, 'ReentrantToken', 'reentered'), true)
  assert.equal(await f.r<boolean>(evil, 'ReentrantToken', 'reentrySucceeded'), false)
  assert.equal((await f.r<Hex>(evil, 'ReentrantToken', 'reentryError')).slice(0, 10), toFunctionSelector('ReentrancyGuardReentrantCall()'))
  assert.equal(await f.r<bigint>(evil, 'ReentrantToken', 'balanceOf', [st]), ZEO(600))
})
