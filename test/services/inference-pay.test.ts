/**
 * Pay per token for remote generations (issue 21 item 5): the quote, the budget bound, both ledgers metering the
 * same token count through signed receipts, streams cut mid-way, and hostile servers and clients. Real ledgers
 * (SQLite), real stages (ONNX), in-memory links.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { MemoryNetwork, type MemoryNode } from '../../src/transport/memory.js'
import { StageEngine } from '../../src/cortex/stage.js'
import { StageServer } from '../../src/cortex/server.js'
import { StaticStageDirectory } from '../../src/cortex/directory.js'
import { CortexService, type GenerateRequest, type GenerateResult } from '../../src/cortex/service.js'
import { CortexType, decodeToken, encodeGenerate, encodeInfoResp, encodeToken, decodeGenerate } from '../../src/cortex/messages.js'
import { decodeReceipt, encodeReceipt, signReceipt } from '../../src/cortex/pay/receipt.js'
import { GEN_SERVICE } from '../../src/cortex/pay/server-meter.js'
import { tokenQuote } from '../../src/cortex/pay/quote.js'
import type { Economy } from '../../src/economy/economy.js'
import type { Link } from '../../src/interfaces/link.js'
import { identity, refClock, tempDir, tinyModel } from '../cortex/helpers.js'
import { config, makeEconomy } from '../economy/helpers.js'

const PRICE = 7n
const model = 'tiny-pay'
const m = tinyModel({ family: 'gpt2', layers: 2, seed: 5 })
const tmp = tempDir('zeone-pay-')
const net = new MemoryNetwork({ clock: refClock })
const cfg = config({ pricing: { services: { [GEN_SERVICE]: { unit: 'token', price: Number(PRICE) } } } })
let head: MemoryNode, tail: MemoryNode, asker: MemoryNode
let s1: StageServer, s2: StageServer
let ecoHead: Economy, ecoAsker: Economy
let svcHead: CortexService, svcAsker: CortexService

before(async () => {
  head = net.createNode(identity(60), { host: '10.0.6.1', port: 1 })
  tail = net.createNode(identity(61), { host: '10.0.6.1', port: 2 })
  asker = net.createNode(identity(62), { host: '10.0.6.1', port: 3 })
  ecoHead = makeEconomy(join(tmp.dir, 'head.sqlite'), head.identity, refClock, cfg)
  ecoAsker = makeEconomy(join(tmp.dir, 'asker.sqlite'), asker.identity, refClock, cfg)
  s1 = new StageServer({ modelId: model, engine: await StageEngine.load(m.dir, { start: 0, end: 1 }), router: head.router })
  s2 = new StageServer({ modelId: model, engine: await StageEngine.load(m.dir, { start: 1, end: 2 }), router: tail.router })
  s1.start(); s2.start()
  svcHead = new CortexService({
    nodeId: head.identity.publicKey, router: head.router, links: head, directory: new StaticStageDirectory(head, [{ host: '10.0.6.1', port: 2 }]),
    stages: [{ server: s1, dir: m.dir }], signer: head.identity, usage: () => ecoHead, trust: ecoHead.trust, quote: () => tokenQuote(ecoHead.pricing),
    receiptWindow: 4, receiptTimeoutMs: 400, timeoutMs: 5000,
  })
  svcAsker = new CortexService({
    nodeId: asker.identity.publicKey, router: asker.router, links: asker, directory: new StaticStageDirectory(asker, [{ host: '10.0.6.1', port: 1 }]),
    stages: [], signer: asker.identity, usage: () => ecoAsker, trust: ecoAsker.trust,
  })
  svcHead.start(); svcAsker.start()
})
after(async () => {
  svcHead.stop(); svcAsker.stop()
  for (const s of [s1, s2]) { s.stop(); await s.engine.close() }
  for (const n of [head, tail, asker]) n.stop()
  ecoHead.close(); ecoAsker.close()
  m.cleanup(); tmp.cleanup()
})

/** Units of `service` the ledger in `file` recorded for `peer` as `kind`, read from its SQLite file. */
function units(eco: Economy, file: string, peer: Uint8Array, kind: 'charged' | 'billed'): number {
  eco.flush()
  const db = new Database(join(tmp.dir, file), { readonly: true })
  try {
    const r = db.prepare('SELECT COALESCE(SUM(units), 0) AS u FROM txlog WHERE kind = ? AND service = ? AND peer = ?').get(kind, GEN_SERVICE, Buffer.from(peer)) as { u: number | bigint }
    return Number(r.u)
  } finally { db.close() }
}
const served = (): number => units(ecoHead, 'head.sqlite', asker.identity.publicKey, 'charged')
const consumed = (): number => units(ecoAsker, 'asker.sqlite', head.identity.publicKey, 'billed')

type Result = { value: GenerateResult }
async function drain(req: GenerateRequest, signal?: AbortSignal, stopAfter = Infinity, ac?: AbortController): Promise<{ ids: number[]; result?: Result }> {
  const it = svcAsker.generate(req, signal)
  const ids: number[] = []
  for (;;) {
    const r = await it.next()
    if (r.done) return { ids, result: { value: r.value } }
    ids.push(r.value.id)
    if (ids.length >= stopAfter) { ac?.abort(); await it.return(undefined as never).catch(() => {}); return { ids } }
  }
}

/** Waits (on the server's own accounting, not a clock) until the server has settled every generation. */
async function settled(): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const a = served(), b = consumed()
    await new Promise((r) => setTimeout(r, 25))
    if (a === served() && b === consumed() && i > 4) return
  }
}

test('a paid generation: the quote, the cost of what arrived, the same token count in both ledgers', async () => {
  const s0 = served(), c0 = consumed()
  const { ids, result } = await drain({ model, prompt: 'hello world', maxTokens: 10, temperature: 0, budget: 1000n })
  assert.equal(ids.length, 10)
  const v = result!.value as { price?: bigint; cost?: bigint; reason: string }
  assert.equal(v.price, PRICE)
  assert.equal(v.cost, 10n * PRICE)
  await settled()
  assert.equal(served() - s0, 10)
  assert.equal(consumed() - c0, 10)
})

test('a budget below maxTokens x price is refused up front; with fit the generation stops where the budget ends', async () => {
  const s0 = served(), c0 = consumed()
  await assert.rejects(drain({ model, prompt: 'hello world', maxTokens: 10, temperature: 0, budget: 10n * PRICE - 1n }), (e: Error & { code?: string }) => e.code === 'over_budget' || /over_budget|does not pay/.test(e.message))
  const { ids, result } = await drain({ model, prompt: 'hello world', maxTokens: 10, temperature: 0, budget: 5n * PRICE + 3n, fitContext: true })
  assert.equal(ids.length, 5)
  assert.equal((result!.value as { reason: string }).reason, 'length')
  assert.equal((result!.value as { cost?: bigint }).cost, 5n * PRICE)
  await settled()
  assert.equal(served() - s0, 5)
  assert.equal(consumed() - c0, 5)
})

test('a client that stops reading mid-way pays for exactly the tokens that arrived, in both ledgers', async () => {
  const s0 = served(), c0 = consumed()
  const ac = new AbortController()
  const { ids } = await drain({ model, prompt: 'hello world', maxTokens: 60, temperature: 0, budget: 10_000n }, ac.signal, 3, ac)
  assert.equal(ids.length, 3)
  await settled()
  const s = served() - s0, c = consumed() - c0
  assert.equal(s, c, 'server and client recorded different counts')
  assert.ok(s >= 3 && s < 60, `paid ${s}`)
})

test('a server fault mid-way (the last stage goes away): both ledgers hold the tokens streamed before it', async () => {
  const s0 = served(), c0 = consumed()
  const it = svcAsker.generate({ model, prompt: 'hello world', maxTokens: 60, temperature: 0, budget: 10_000n })
  let got = 0
  await it.next(); got++
  await it.next(); got++
  s2.stop() // the tail stage stops answering: the coordinator's pipeline fails
  await assert.rejects((async () => { for (;;) { const r = await it.next(); if (r.done) return; got++ } })())
  await settled()
  const s = served() - s0, c = consumed() - c0
  assert.equal(s, c)
  assert.ok(s >= got, `paid ${s}, read ${got}`)
  // a fresh tail for the tests after this one
  await s2.engine.close()
  s2 = new StageServer({ modelId: model, engine: await StageEngine.load(m.dir, { start: 1, end: 2 }), router: tail.router })
  s2.start()
})

/** Waits for a condition fed by message handlers (bounded; no timing assertion). */
async function until(f: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !f(); i++) await new Promise((r) => setTimeout(r, 10))
}

/** A node that speaks the generation protocol by hand (hostile peers). */
function fake(n: number): MemoryNode { return net.createNode(identity(n), { host: '10.0.6.1', port: n }) }

test('hostile server: a done that claims more tokens than streamed, and tokens past the budget, are not paid', async () => {
  const evil = fake(70)
  const receipts: number[] = []
  let mode: 'overclaim' | 'overstream' = 'overclaim'
  evil.router.handle(CortexType.CORTEX_INFO, (msg) => { msg.reply?.(CortexType.CORTEX_INFO_RESP, encodeInfoResp({ model: 'evil', family: 'gpt2', start: 0, end: 2, layers: 2, capacity: 4, sessions: 0 })) })
  evil.router.handle(CortexType.CORTEX_RECEIPT, (msg) => { receipts.push(decodeReceipt(msg.body).n) })

  evil.router.handle(CortexType.CORTEX_GENERATE, (msg) => {
    const g = decodeGenerate(msg.body)
    msg.reply?.(CortexType.CORTEX_TOKEN, encodeToken({ gid: g.gid, seq: 0, ids: [], text: '', done: false, promptTokens: 2, price: PRICE, window: 8 }))
    const k = mode === 'overclaim' ? 3 : 5
    for (let i = 1; i <= k; i++) msg.link.send(CortexType.CORTEX_TOKEN, encodeToken({ gid: g.gid, seq: i, ids: [65 + i], text: 'x', done: false }))
    msg.link.send(CortexType.CORTEX_TOKEN, encodeToken({ gid: g.gid, seq: k + 1, ids: [], text: '', done: true, reason: 'length', n: mode === 'overclaim' ? 10 : k }))
  })
  const eco = makeEconomy(join(tmp.dir, 'victim.sqlite'), identity(71), refClock, cfg)
  const victimNode = fake(71)
  const victim = new CortexService({ nodeId: victimNode.identity.publicKey, router: victimNode.router, links: victimNode, directory: new StaticStageDirectory(victimNode, [{ host: '10.0.6.1', port: 70 }]), stages: [], signer: victimNode.identity, usage: () => eco, trust: eco.trust })
  victim.start()
  try {
    const before = eco.trust.view(evil.identity.publicKey).behavior
    const it = victim.generate({ model: 'evil', prompt: 'x', maxTokens: 10, budget: 1000n })
    let r = await it.next()
    while (!r.done) r = await it.next()
    assert.equal(r.value.cost, 3n * PRICE, 'the client pays its own count, not the claim')
    await until(() => receipts.length >= 3)
    assert.deepEqual(receipts, [1, 2, 3])
    assert.ok(eco.trust.view(evil.identity.publicKey).behavior < before, 'the false claim is a trust event')
    // streaming past what the budget pays: no receipt past it, the generation fails
    mode = 'overstream'
    receipts.length = 0
    const it2 = victim.generate({ model: 'evil', prompt: 'x', maxTokens: 3, budget: 3n * PRICE })
    await assert.rejects((async () => { for (;;) { const x = await it2.next(); if (x.done) return } })(), /past the budget/)
    await until(() => receipts.length >= 3)
    assert.deepEqual(receipts, [1, 2, 3])
    eco.flush()
    const db = new Database(join(tmp.dir, 'victim.sqlite'), { readonly: true })
    const u = db.prepare('SELECT SUM(units) AS u FROM txlog WHERE kind = ? AND service = ?').get('billed', GEN_SERVICE) as { u: number }
    db.close()
    assert.equal(Number(u.u), 6)
  } finally { victim.stop(); eco.close(); evil.stop(); victimNode.stop() }
})

test('hostile client: receipts that lag, forged receipts and no receipts pay only what was receipted, and the stream stops', async () => {
  const cheat = fake(80)
  const link: Link = await cheat.dial({ host: '10.0.6.1', port: 1 })
  const run = async (gidByte: number, receiptFor: (n: number) => Uint8Array | undefined): Promise<{ got: number; reason?: string }> => {
    const gid = new Uint8Array(16).fill(gidByte)
    let got = 0
    let done: (r: string | undefined) => void = () => {}
    const finished = new Promise<string | undefined>((r) => { done = r })
    const off = cheat.router.handle(CortexType.CORTEX_TOKEN, (msg) => {
      const t = decodeToken(msg.body)
      got += t.ids.length
      if (t.ids.length) { const b = receiptFor(got); if (b) link.send(CortexType.CORTEX_RECEIPT, b) }
      if (t.done) done(t.reason)
    })
    const ack = await link.request(CortexType.CORTEX_GENERATE, encodeGenerate({ gid, model, prompt: 'hello world', maxTokens: 30, temperature: 0, topK: 0, topP: 1, seed: 0, budget: 1000n }))
    assert.equal(ack.type, CortexType.CORTEX_TOKEN, Buffer.from(ack.body).toString())
    const reason = await finished
    off()
    return { got, reason }
  }
  const mine = (): number => units(ecoHead, 'head.sqlite', cheat.identity.publicKey, 'charged')
  try {
    // claims two tokens fewer than it received: the server never runs more than the window (4) ahead of it
    const r1 = await run(1, (n) => n > 2 ? encodeReceipt(signReceipt(cheat.identity, head.identity.publicKey, new Uint8Array(16).fill(1), n - 2, PRICE)) : undefined)
    assert.equal(r1.got, 30, `lagging by less than the window still streams everything (${r1.reason})`)
    await settled()
    assert.equal(mine(), 28, 'the server records what the receipts cover')
    // no receipts at all: the stream stops after the window
    const before = ecoHead.trust.view(cheat.identity.publicKey).behavior
    const r2 = await run(2, () => undefined)
    assert.equal(r2.got, 4)
    assert.match(r2.reason ?? '', /unpaid/)
    await settled()
    assert.equal(mine(), 28)
    assert.ok(ecoHead.trust.view(cheat.identity.publicKey).behavior < before, 'unreceipted tokens are a trust event')
    // receipts signed by another key are forgeries: nothing recorded, the sender blacklisted
    const other = identity(81)
    const r3 = await run(3, (n) => encodeReceipt(signReceipt(other, head.identity.publicKey, new Uint8Array(16).fill(3), n, PRICE)))
    assert.equal(r3.got, 4)
    await settled()
    assert.equal(mine(), 28)
    assert.equal(ecoHead.trust.view(cheat.identity.publicKey).blacklisted, true)
  } finally { cheat.stop() }
})
