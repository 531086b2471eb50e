/**
 * Issue 13 A and B against a live node over real TCP sockets and a real SQLite ledger: a peer that pays itself
 * credit with a self-signed cheque for 10^12, claims it billed us 10^12, and sends cheques for 2^63 and 2^64-1,
 * then calls the metered echo service. The node must sign it no cheque beyond what its meter recorded, cut it off
 * at the debt limit, keep saving its ledger, and an honest peer's cheque received after the attack must survive a
 * restart.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import Database from 'better-sqlite3'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { attach as attachEconomy, LEDGER_FILE } from '../../src/economy/attach.js'
import { attach as attachServices } from '../../src/services/attach.js'
import { decodeCheque, encodeCheque, signCheque } from '../../src/economy/cheque.js'
import { encodeClaim } from '../../src/economy/messages.js'
import type { Economy } from '../../src/economy/economy.js'
import type { Identity } from '../../src/crypto/identity.js'
import type { Link } from '../../src/interfaces/link.js'
import type { AttachFn } from '../../src/interfaces/node-context.js'
import { decodeServiceResponse, encodeServiceRequest } from '../../src/services/messages.js'
import { MessageType } from '../../src/wire/message-types.js'
import { tempDir } from '../economy/helpers.js'

const DEBT_LIMIT = 3000n
const TERA = 10n ** 12n

function nodeConfig(dataDir: string, economy: boolean): ReturnType<typeof validateConfig> {
  return validateConfig({
    dataDir, node: { port: 0, host: '127.0.0.1', legacy: false }, ops: { httpPort: -1, logLevel: 'silent' },
    services: { echo: { price: 50 } },
    economy: economy
      ? { debtLimit: Number(DEBT_LIMIT), payThresholdPpm: 100_000, claimIntervalMs: 600_000, flushIntervalMs: 20, minClaimGapMs: 0 }
      : { enabled: false },
  })
}

async function start(dataDir: string, economy = true): Promise<ZeoneNode> {
  const layers: Array<[string, AttachFn]> = economy ? [['services', attachServices], ['economy', attachEconomy]] : []
  const node = createNode(nodeConfig(dataDir, economy), { layers })
  await node.start()
  node.router.handle(MessageType.VPN_DATA, () => {})
  return node
}

async function until<T>(f: () => T | Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 1500; i++) {
    const v = await f()
    if (ok(v)) return v
    await sleep(20)
  }
  throw new Error(`gave up waiting for ${what}`)
}

const economyOf = (n: ZeoneNode): Economy => n.services.get('economy')!

/** One echo call; resolves to 'ok' or the refusal code. */
async function echo(link: Link): Promise<string> {
  const requestId = randomBytes(9).toString('base64url')
  const reply = await link.request(MessageType.SERVICE_REQUEST, encodeServiceRequest({ serviceName: 'echo', payload: new Uint8Array(100), budget: 1000n, requestId }), { timeoutMs: 10_000 })
  const r = decodeServiceResponse(reply.body, 1 << 20)
  return r.success ? 'ok' : (r.error ?? 'failed').split(':')[0]!
}

/** Reads an account straight from the ledger file (another connection: only what a flush committed). */
function onDisk(dataDir: string, peer: Uint8Array): { paid_in: bigint; served: bigint } | undefined {
  const db = new Database(join(dataDir, LEDGER_FILE), { readonly: true, fileMustExist: true })
  db.defaultSafeIntegers(true)
  try { return db.prepare('SELECT paid_in, served FROM accounts WHERE peer = ?').get(peer) as { paid_in: bigint; served: bigint } | undefined } finally { db.close() }
}

test('hostile peer: self-paid cheques, an inflated claim and 2^63 / 2^64-1 cheques gain nothing and do not stop the ledger', { timeout: 120_000 }, async (t) => {
  const v = tempDir('hostile-eco-v-')
  const m = tempDir('hostile-eco-m-')
  const h = tempDir('hostile-eco-h-')
  let victim = await start(v.dir)
  const mallory = await start(m.dir, false)
  const honest = await start(h.dir)
  t.after(async () => { await victim.stop(); await mallory.stop(); await honest.stop(); v.cleanup(); m.cleanup(); h.cleanup() })
  const vid = victim.identity.publicKey
  const mid = mallory.identity
  // every cheque the victim signs to mallory
  const signedToMallory: bigint[] = []
  mallory.router.handle(MessageType.IOU, (msg) => { signedToMallory.push(decodeCheque(msg.body).amount) })

  const link = await mallory.transport!.dial(victim.listenAddress!)
  const exp = BigInt(Math.floor(Date.now() / 1000) + 3600)
  const cheque = (id: Identity, amount: bigint, serial: bigint): Uint8Array => encodeCheque(signCheque(id, { creditor: vid, amount, serial, expires: exp }))
  // A: a cheque mallory signed itself for 10^12, then a claim that it billed us 10^12
  link.send(MessageType.IOU, cheque(mid, TERA, 1n))
  await link.request(MessageType.BALANCE_CLAIM, encodeClaim(mid, { to: vid, seq: 1n, served: 0n, consumed: 0n, charged: TERA, paidOut: 0n, ts: BigInt(Date.now()) }))
  // B: cheques past what SQLite INTEGER holds
  link.send(MessageType.IOU, cheque(mid, 1n << 63n, 2n))
  link.send(MessageType.IOU, cheque(mid, (1n << 64n) - 1n, 3n))
  const eco = economyOf(victim)
  await until(() => eco.store.getCheque(mid.publicKey, vid)?.serial ?? 0n, (s) => s === 1n, 'the 10^12 cheque to be held')

  // metered echo calls until the debt limit cuts mallory off
  const results: string[] = []
  for (let i = 0; i < 200 && results.at(-1) !== 'debt_limit'; i++) results.push(await echo(link))
  assert.equal(results.at(-1), 'debt_limit', `mallory is cut off by the debt limit (got ${results.slice(-3).join(',')} after ${results.length} calls)`)
  assert.ok(results.length > 1, 'mallory was served until it reached the limit')
  const bal = eco.balance(mid.publicKey)
  assert.ok(bal.balance > DEBT_LIMIT, `mallory owes us ${bal.balance}`)
  assert.equal(bal.paidIn, 0n, 'mallory\'s own cheques credited nothing: it never owed anything when it sent them')
  assert.equal(bal.billed, 0n, 'the inflated claim billed us nothing')
  // what the node pays mallory: never more than its meter recorded mallory served it (the request bytes)
  await sleep(100)
  assert.ok(bal.paidOut <= bal.consumed + bal.billed, `paid out ${bal.paidOut} > metered ${bal.consumed + bal.billed}`)
  for (const a of signedToMallory) assert.ok(a <= bal.consumed + bal.billed, `the node signed mallory a cheque for ${a}`)
  const disputes = eco.store.query<{ reason: string }>('SELECT reason FROM divergences WHERE accepted = 0 ORDER BY id').map((r) => r.reason)
  assert.deepEqual(disputes, ['cheque_excess', 'provider_statement_excess'], 'both are recorded disputes')
  assert.equal(eco.store.flushFailures, 0)

  // an honest peer pays after the attack: the victim serves it VPN data, it sends a cheque by itself
  const hl = await victim.transport!.dial(honest.listenAddress!)
  for (let i = 0; i < 4; i++) hl.send(MessageType.VPN_DATA, new Uint8Array(500))
  const hid = honest.identity.publicKey
  await until(() => eco.balance(hid).paidIn, (p) => p >= 300n, 'the honest cheque')
  const paid = eco.balance(hid).paidIn
  // the ledger keeps saving: the honest peer's payment reaches the file through the periodic flush
  await until(() => onDisk(v.dir, hid)?.paid_in ?? 0n, (p) => p === paid, 'the honest payment on disk')
  assert.equal(onDisk(v.dir, mid.publicKey)?.paid_in, 0n)
  assert.ok((onDisk(v.dir, mid.publicKey)?.served ?? 0n) > 0n, 'mallory\'s metering was saved too')

  // a clean stop (no uncaught RangeError), and everything is there after a restart
  await victim.stop()
  victim = await start(v.dir)
  const again = economyOf(victim)
  assert.equal(again.store.recovered, false, 'the shutdown was clean')
  assert.equal(again.balance(hid).paidIn, paid)
  assert.equal(again.store.getCheque(hid, vid)?.amount, paid)
  assert.equal(again.balance(mid.publicKey).paidIn, 0n)
  assert.ok(again.owed(mid.publicKey) > DEBT_LIMIT, 'mallory still owes us after the restart')
})
