// Issue 18 items 5 and 6: an unstaked peer's refusal says why; the trust report says whether a peer is served and
// against which floor; a stake change drops the cached stakes at once.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { ZeoneError } from '../../src/util/errors.js'
import { trustReport } from '../../src/economy/report.js'
import { StakeCache } from '../../src/economy/stake-cache.js'
import { config, idFrom, ManualClock, makeEconomy, tempDir } from '../economy/helpers.js'

const alice = idFrom(31)
const bob = idFrom(32)
const carol = idFrom(33)

test('an unstaked peer is refused with the reason and the fix; the trust report labels it', () => {
  const { dir, cleanup } = tempDir()
  const clock = new ManualClock()
  try {
    const stakes = new Map<string, bigint>([[bob.nodeIdB64, 0n]])
    const srv = makeEconomy(join(dir, 's.sqlite'), alice, clock, config(), { stakeOf: (p) => stakes.get(Buffer.from(p).toString('base64')) })
    let err: ZeoneError | undefined
    try { srv.authorize(bob.publicKey, 'vpn') } catch (e) { err = e as ZeoneError }
    assert.equal(err?.code, 'low_trust')
    assert.match(err!.message, /because the peer has no stake \(bind its identity and stake: zeone chain bind, zeone stake AMOUNT\)/)
    srv.authorize(carol.publicKey, 'vpn') // the default stake: served
    srv.trust.report(bob.publicKey, 'iou_redeemed')
    srv.trust.report(carol.publicKey, 'iou_redeemed')
    const r = trustReport(srv) as { minTrust: number; peers: Array<{ peer: string; serving: string }> }
    assert.equal(r.minTrust, srv.trustMin)
    const by = Object.fromEntries(r.peers.map((p) => [p.peer, p.serving]))
    assert.equal(by[bob.nodeIdB64], 'no: no stake (collateral only)')
    assert.equal(by[carol.nodeIdB64], 'yes')
    srv.close()
  } finally { cleanup() }
})

test('StakeCache.invalidate: the next lookup re-reads the source instead of the cached answer', async () => {
  let stake = 0n
  let reads = 0
  const cache = new StakeCache({ source: () => ({ stakeOf: async () => { reads++; return stake } }), now: () => 0, ttlMs: 600_000 })
  const peer = bob.publicKey
  cache.get(peer)
  await new Promise((r) => setImmediate(r))
  assert.equal(cache.get(peer), 0n)
  stake = 5n
  assert.equal(cache.get(peer), 0n) // fresh for 10 minutes
  cache.invalidate()
  assert.equal(cache.get(peer), undefined) // forgotten: a re-read is under way
  await new Promise((r) => setImmediate(r))
  assert.equal(cache.get(peer), 5n)
  assert.equal(reads, 2)
})
