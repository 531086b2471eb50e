/** Two real nodes over TCP with the economy layer attached: wire metering, automatic cheques, claims, CLI. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { attach } from '../../src/economy/attach.js'
import type { Economy } from '../../src/economy/economy.js'
import { controlCall } from '../../src/cli/control-client.js'
import { commands } from '../../src/cli/commands/economy.js'
import { MessageType } from '../../src/wire/message-types.js'
import { tempDir } from './helpers.js'

async function startNode(dataDir: string): Promise<ZeoneNode> {
  const config = validateConfig({
    dataDir, node: { port: 0, host: '127.0.0.1', legacy: false }, ops: { httpPort: -1, logLevel: 'silent' },
    economy: { debtLimit: 8000, payThresholdPpm: 500_000, claimIntervalMs: 150, flushIntervalMs: 20, minClaimGapMs: 50 },
  })
  const node = createNode(config, { layers: [['economy', attach]] })
  await node.start()
  node.router.handle(MessageType.VPN_DATA, () => {})
  return node
}

function io() {
  let out = ''
  const w = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb() } })
  return { io: { stdout: w((s) => { out += s }), stderr: w(() => {}) }, out: () => out }
}
const cmd = (name: string) => commands.find((c) => c.name === name)!

async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 1500; i++) {
    const v = await f()
    if (ok(v)) return v
    await sleep(20)
  }
  throw new Error(`gave up waiting for ${what}`)
}

interface Bal { peers: Array<{ peer: string; served: string; consumed: string; paidIn: string; paidOut: string; balance: string }> }

test('two nodes over TCP: both sides meter the same bytes, the debtor pays by cheque, claims agree, CLI reports', async (t) => {
  const a = tempDir('eco-a-')
  const b = tempDir('eco-b-')
  let na = await startNode(a.dir)
  const nb = await startNode(b.dir)
  t.after(async () => { await na.stop(); await nb.stop(); a.cleanup(); b.cleanup() })
  const link = await na.transport!.dial(nb.listenAddress!)
  for (let i = 0; i < 6; i++) link.send(MessageType.VPN_DATA, new Uint8Array(1000))
  const bid = nb.identity.nodeIdB64
  const aid = na.identity.nodeIdB64
  // B consumed 6000 credits' worth; over the 4000 pay threshold it sends A a cumulative cheque by itself
  const ba = await until(() => controlCall(b.dir, 'GET', `/v1/economy/balance?peer=${encodeURIComponent(aid)}`) as Promise<Bal>,
    (r) => r.peers[0]!.consumed === '6000' && r.peers[0]!.paidOut !== '0', 'B to meter and pay')
  const ab = await until(() => controlCall(a.dir, 'GET', `/v1/economy/balance?peer=${encodeURIComponent(bid)}`) as Promise<Bal>,
    (r) => r.peers[0]!.paidIn === ba.peers[0]!.paidOut, 'A to receive the cheque')
  assert.equal(ab.peers[0]!.served, '6000')
  assert.equal(ab.peers[0]!.balance, String(-BigInt(ba.peers[0]!.balance)))

  // periodic claims ran both ways without divergence (A's ledger has no divergence rows)
  const ecoA = na.services.get('usage') as unknown as Economy
  const ecoB = nb.services.get('usage') as unknown as Economy
  // B's claims reached A (each answered claim is a valid_message for B at A, besides the iou_created)
  await until(async () => ecoA.trust.view(nb.identity.publicKey).events, (n) => n >= 3, 'claims from B')
  await until(async () => ecoB.trust.view(na.identity.publicKey).events, (n) => n >= 2, 'claims from A')
  for (const e of [ecoA, ecoB]) assert.deepEqual(e.store.query('SELECT * FROM divergences WHERE accepted = 0'), [])
  const p = io()
  assert.equal(await cmd('balance').run({ positionals: [], flags: { 'data-dir': a.dir, json: true } }, p.io), 0)
  const all = JSON.parse(p.out()) as Bal & { debtLimit: string }
  assert.equal(all.debtLimit, '8000')
  assert.equal(all.peers.length, 1)
  const tr = io()
  assert.equal(await cmd('trust').run({ positionals: [bid], flags: { 'data-dir': a.dir } }, tr.io), 0)
  assert.match(tr.out(), /behavior/)
  assert.match(tr.out(), new RegExp(bid.slice(0, 10).replace(/[+/]/g, '.')))
  const iou = io()
  assert.equal(await cmd('iou list').run({ positionals: [], flags: { 'data-dir': a.dir, json: true } }, iou.io), 0)
  const cheques = (JSON.parse(iou.out()) as { cheques: Array<{ direction: string; status: string; debtor: string }> }).cheques
  assert.equal(cheques.length, 1)
  assert.equal(cheques[0]!.direction, 'in')
  assert.equal(cheques[0]!.debtor, bid)
  await assert.rejects(controlCall(a.dir, 'GET', '/v1/economy/balance?peer=nonsense'), { code: 'bad_peer' })
  const metrics = await na.metrics.metrics()
  assert.match(metrics, /zeone_economy_cheques_total\{direction="in",result="accepted"\} 1/)
  assert.match(await nb.metrics.metrics(), /zeone_economy_cheques_total\{direction="out",result="sent"\} 1/)
  assert.match(metrics, /zeone_economy_ledger_pending \d+/)

  // the ledger survives a restart
  await na.stop()
  na = await startNode(a.dir)
  // (read through the service registry: the control client's pooled socket to the old server may linger)
  const eco = na.services.get('usage') as unknown as Economy
  const again = eco.balance(nb.identity.publicKey)
  assert.equal(again.served, 6000n)
  assert.equal(String(again.paidIn), ab.peers[0]!.paidIn)
})

test('economy.enabled = false attaches nothing; stopping a node right after start leaves the ledger clean', async () => {
  const d = tempDir('eco-off-')
  try {
    const off = createNode(validateConfig({ dataDir: d.dir, node: { port: 0, host: '127.0.0.1', legacy: false }, ops: { httpPort: -1, logLevel: 'silent' }, economy: { enabled: false } }), { layers: [['economy', attach]] })
    await off.start()
    assert.equal(off.services.get('usage'), undefined)
    await off.stop()
    const on = await startNode(d.dir)
    const eco = on.services.get('economy')!
    await on.stop()
    await on.stop()
    assert.equal(eco.store.closed, true)
    // a clean stop: the next open is not a recovery
    const again = await startNode(d.dir)
    assert.equal(again.services.get('economy')!.store.recovered, false)
    await again.stop()
  } finally { d.cleanup() }
})
