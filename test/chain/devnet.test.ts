import { test } from 'node:test'
import assert from 'node:assert/strict'
import { hexToBytes, parseEther, toHex } from 'viem'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { signCheque, encodeCheque } from '../../src/economy/cheque.js'
import { signOnchainPart } from '../../src/economy/chain/cheque-eip712.js'
import { startDevnet } from '../../src/economy/chain/devnet.js'
import { ChainClient } from '../../src/economy/chain/client.js'
import { settleEncoded } from '../../src/economy/chain/settle-ledger.js'
import { propose, vote, queue, execute, proposalState, setParamAction } from '../../src/economy/chain/governance.js'

test('devnet over HTTP: stake source, full cheque settlement with 20% burn, governance changes a parameter', async (t) => {
  const net = await startDevnet({ port: 0, accounts: 3 })
  t.after(() => net.stop())
  const open = (i: number) => ChainClient.open({ deployment: net.deployment, rpcUrl: net.url, privateKey: net.keys[i]! })
  const [alice, bob] = [await open(1), await open(2)]
  const aliceId = Identity.fromSeed(randomBytes(32))
  const bobId = Identity.fromSeed(randomBytes(32))
  await alice.bind(aliceId)
  await bob.bind(bobId)
  await alice.bind(aliceId) // idempotent

  // stakes: the StakeSource finds the verified binding and reads the staking contract
  await alice.stake(parseEther('5000'))
  assert.equal(await bob.stakeOf(aliceId.publicKey), parseEther('5000'))
  assert.equal(await bob.stakeOf(bobId.publicKey), 0n)
  assert.equal(await bob.stakeOf(new Uint8Array(32)), 0n)

  // alice consumes bob's service, pays with cumulative cheques; bob settles the latest one
  await alice.deposit(parseEther('100'))
  const escrow = hexToBytes(net.deployment.escrow)
  const expires = BigInt(Math.floor(Date.now() / 1000) + 3600)
  const cheques: Uint8Array[] = []
  for (const [serial, credits] of [[1n, 300n], [2n, 1250n]] as const) {
    const onchain = await signOnchainPart(net.keys[1]!, { chainId: 31337n, escrow, creditorEvm: hexToBytes(bob.address!), amountWei: credits * 10n ** 16n, serial, expires })
    cheques.push(encodeCheque(signCheque(aliceId, { creditor: bobId.publicKey, amount: credits, serial, expires, onchain })))
  }
  const supply0 = await bob.read<bigint>(net.deployment.token, 'ZEOToken', 'totalSupply')
  const bob0 = await bob.balance()
  const [res] = await settleEncoded(bob, [cheques[1]!])
  assert.equal(res!.error, undefined)
  const paid = 1250n * 10n ** 16n
  assert.equal(res!.paid, paid)
  assert.equal((await bob.balance()) - bob0, paid - paid / 5n)
  assert.equal(supply0 - (await bob.read<bigint>(net.deployment.token, 'ZEOToken', 'totalSupply')), paid / 5n)
  const [older] = await settleEncoded(bob, [cheques[0]!]) // superseded cheque cannot be cashed again
  assert.equal(older!.skipped, 'already cashed')
  assert.equal(older!.txHash, undefined)
  const [garbage] = await settleEncoded(bob, [new Uint8Array([0xa1, 0x00])])
  assert.ok(garbage!.error !== undefined)

  // governance on devnet timings (1 s delay, 60 s period, 1 s timelock)
  const id = await propose(alice, [setParamAction(alice, 'fee_cdn', 777n)], 'fee_cdn to 777')
  await net.chain.increaseTime(2)
  await vote(alice, id, 1)
  await net.chain.increaseTime(61)
  assert.equal(await proposalState(alice, id), 'Succeeded')
  await queue(bob, id)
  await net.chain.increaseTime(2)
  await execute(bob, id)
  assert.equal(await proposalState(alice, id), 'Executed')
  assert.equal((await bob.readParams()).fee_cdn, 777n)

  // the JSON-RPC server refuses garbage and non-POST requests without dying
  const r1 = await fetch(net.url, { method: 'POST', body: '{nope' })
  assert.equal(((await r1.json()) as { error: { code: number } }).error.code, -32700)
  const r2 = await fetch(net.url, { method: 'GET' })
  assert.equal(r2.status, 405)
  await r2.arrayBuffer()
  const r3 = await fetch(net.url, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'eth_chainId' }) })
  assert.deepEqual(await r3.json(), { jsonrpc: '2.0', id: 7, result: toHex(31337) })
})
