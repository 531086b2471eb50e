/** v0 balance claims are reconciled into the ledger as evidence: a false claim is a divergence row, never credit. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { createNode, LAYERS } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { num, pyTime, V0Peer } from '../transport/legacy-v0-peer.js'

test('a v0 claim that disagrees with our meter is a divergence row in ledger.sqlite; a true one and the peer balance are untouched', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'zeone-legacy-ledger-'))
  const node = createNode(validateConfig({
    dataDir, node: { port: 0, host: '127.0.0.1' }, ops: { httpPort: -1, logLevel: 'silent' }, economy: { minClaimGapMs: 0 },
  }), { layers: LAYERS.filter(([n]) => n === 'services' || n === 'economy') })
  await node.start()
  const p = await V0Peer.connect(node.listenAddress!.port)
  try {
    await p.handshake()
    await p.next('BALANCE_CLAIM')
    for (let i = 0; i < 5; i++) { p.send('PING', {}); await p.next('PONG') }
    await new Promise((r) => setTimeout(r, 50))
    const t = { sent: p.bytesOut, recv: p.bytesIn }
    p.send('BALANCE_CLAIM', { claimed_balance: num(`${t.sent - t.recv}.0`), total_sent: num(`${t.sent}.0`), total_received: num(`${t.recv}.0`), timestamp: pyTime(Date.now()) })
    assert.equal((await p.next('BALANCE_ACK')).payload.status, 'agreed')
    p.send('BALANCE_CLAIM', { claimed_balance: num('1000000000.0'), total_sent: num('1000000000.0'), total_received: num('0.0'), timestamp: pyTime(Date.now()) })
    assert.equal((await p.next('BALANCE_ACK')).payload.status, 'disputed')
    const eco = node.services.get('economy')!
    assert.equal(eco.balance(p.keys.pk).balance, 0n, 'a claim moves no balance')
  } finally {
    p.close()
    await node.stop()
  }
  const db = new Database(join(dataDir, 'ledger.sqlite'), { readonly: true })
  try {
    const rows = db.prepare('SELECT claimed, attested, reason, accepted FROM divergences').all() as Array<{ claimed: number; attested: number; reason: string; accepted: number }>
    assert.equal(rows.length, 1, JSON.stringify(rows))
    assert.equal(rows[0]!.reason, 'v0_claim_bytes')
    assert.equal(rows[0]!.claimed, 1_000_000_000)
    assert.equal(rows[0]!.accepted, 0)
    assert.ok(rows[0]!.attested < 1_000_000, 'our own meter, not the claim')
  } finally { db.close(); rmSync(dataDir, { recursive: true, force: true }) }
})
