// Params records on the real DHT code (in-process testnet, each node on its own /24): storing nodes refuse malformed
// and oversized params records at STORE; a follower in open mode counts a publisher only with a claimed stake, a
// routing-table contact and a subnet of its own; anchors mode counts only the anchors.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { sha1 } from '../../src/crypto/hash.js'
import { signRecord } from '../../src/dht/record.js'
import { createTestnet } from '../../src/dht/testnet.js'
import type { GovernedParams } from '../../src/economy/chain/param-names.js'
import { ParamsAgreement } from '../../src/economy/chain/params-agree.js'
import { decodeParamsRecord, encodeParamsRecord, paramsKey, type ParamsSnapshot } from '../../src/economy/chain/params-record.js'
import { eligibility, paramsValidator } from '../../src/economy/chain/params-sync.js'
import { toHex } from '../../src/util/bytes.js'

const CHAIN = 31337
const key = paramsKey(CHAIN)
const values: GovernedParams = {
  fee_vpn: 1000n, fee_cdn: 200n, fee_ai: 50n, debt_limit: 10_000_000n, min_trust_score: 10n ** 17n, slashing_rate: 1000n,
  slash_invalid_bps: 1000n, slash_unavailable_bps: 100n, slash_censorship_bps: 5000n, fraud_reward_bps: 1000n,
}
const snapshot: ParamsSnapshot = {
  chainId: CHAIN, params: new Uint8Array(20).fill(0xaa), blockNumber: 42, blockHash: new Uint8Array(32).fill(4),
  blockTime: Math.floor(Date.now() / 1000) - 10, values: { ...values, fee_ai: 77n }, models: [],
}
const claim = { evm: new Uint8Array(20).fill(1), stakeWei: 10n ** 21n }

test('params on the DHT: STORE refuses malformed, oversized and other-chain params records; open and anchor followers', async (t) => {
  const tn = await createTestnet({ size: 8 })
  t.after(() => tn.destroy())
  const [hostile, target, ...rest] = tn.nodes
  for (const n of tn.nodes) n.dht.setValidator(key, paramsValidator(CHAIN))
  const contact = hostile!.dht.table.get(target!.dht.selfIdHex)
  assert.ok(contact, 'the hostile node knows the target')
  const store = async (value: Uint8Array): Promise<string> => {
    const record = signRecord(hostile!.identity, key, value, Date.now(), Date.now() + 60_000)
    const ans = await hostile!.dht.rpc(contact, { t: 'store', x: hostile!.dht.puzzle, record })
    assert.equal(ans.t, 'ack')
    return ans.t === 'ack' ? (ans.ok ? 'ok' : String(ans.err)) : 'no ack'
  }
  assert.equal(await store(new Uint8Array([0xa1, 0x61, 0x76, 0x02])), 'malformed')
  assert.equal(await store(new Uint8Array(5000).fill(0x41)), 'malformed')
  assert.equal(await store(encodeParamsRecord({ snapshot: { ...snapshot, chainId: 1 } })), 'wrong_chain')
  assert.equal(target!.dht.store.getRecords(key, Date.now()).length, 0, 'nothing malformed was kept')
  assert.equal(await store(encodeParamsRecord({ snapshot, claim })), 'ok')

  // three honest publishers with stake claims, one without a claim; the follower reads them all through a lookup
  const pubs = rest.slice(0, 3)
  for (const p of pubs) await p.dht.put(key, encodeParamsRecord({ snapshot, claim }))
  await rest[3]!.dht.put(key, encodeParamsRecord({ snapshot }))
  const follower = rest[4]!
  const records = await follower.dht.getAll(key)
  assert.equal(records.length, 5)
  for (const r of records) assert.equal(decodeParamsRecord(r.value).snapshot.blockNumber, 42)

  const open = new ParamsAgreement({ quorum: 4, chainId: CHAIN, eligible: eligibility(follower.dht, [], 1n), nowSec: () => Math.floor(Date.now() / 1000) })
  const d = open.consider(records, key)
  assert.equal(d.refused.get(toHex(rest[3]!.identity.publicKey)), 'not_eligible', 'no stake claim, no vote')
  // hostile + three honest publishers with claims: four groups if the follower has them all in its table
  const inTable = [hostile!, ...pubs].filter((n) => follower.dht.table.get(toHex(sha1(n.identity.publicKey))))
  assert.equal(inTable.length, 4, 'an 8-node testnet: every node is in every table')
  assert.equal(d.accepted?.snapshot.values.fee_ai, 77n)
  assert.equal([...d.votes.values()][0], 4)
  // a publisher the follower has no contact for has no proven address, so no group: it does not vote
  follower.dht.table.evict(toHex(sha1(pubs[2]!.identity.publicKey)))
  const open2 = new ParamsAgreement({ quorum: 4, chainId: CHAIN, eligible: eligibility(follower.dht, [], 1n), nowSec: () => Math.floor(Date.now() / 1000) })
  const d2 = open2.consider(records, key)
  assert.equal(d2.accepted, undefined)
  assert.equal(d2.refused.get(toHex(pubs[2]!.identity.publicKey)), 'not_eligible')

  // anchors mode: only the two named anchors count, whatever they or others claim
  const anchors = [pubs[0]!, pubs[1]!].map((n) => toHex(n.identity.publicKey))
  const anchored = new ParamsAgreement({ quorum: 2, chainId: CHAIN, eligible: eligibility(follower.dht, anchors, 1n), nowSec: () => Math.floor(Date.now() / 1000) })
  const a = anchored.consider(records, key)
  assert.equal(a.accepted?.snapshot.values.fee_ai, 77n)
  assert.deepEqual(new Set(a.accepted?.supporters), new Set(anchors))
  assert.equal(a.refused.get(toHex(pubs[2]!.identity.publicKey)), 'not_eligible')
  const lone = new ParamsAgreement({ quorum: 3, chainId: CHAIN, eligible: eligibility(follower.dht, anchors, 1n), nowSec: () => Math.floor(Date.now() / 1000) })
  assert.equal(lone.consider(records, key).accepted, undefined, 'two anchors cannot make a quorum of three')
})
