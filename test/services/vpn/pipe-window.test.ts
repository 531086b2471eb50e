/**
 * Receive-window growth of a VPN stream (src/services/vpn/pipe.ts, docs/protocol/vpn.md §Flow control): a bulk
 * stream whose socket keeps taking data grows its window even when the peer never comes near running out of credit
 * (the quarter-window grants usually arrive first), within maxRecvWindow and the shared budget. Real loopback TCP
 * socket for the local side; the test plays the peer (sends VPN_DATA within its credit, reads the grants).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'
import { once } from 'node:events'
import type { Link } from '../../../src/interfaces/link.js'
import { Pipe, WindowBudget } from '../../../src/services/vpn/pipe.js'
import { decodeData, Role } from '../../../src/services/vpn/messages.js'
import { MessageType } from '../../../src/wire/message-types.js'

const KiB = 1024
const WINDOW = 64 * KiB
const CHUNK = 16 * KiB

async function socketPair(): Promise<{ local: Socket; app: Socket; close(): void }> {
  const srv = createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const accepted = once(srv, 'connection')
  const local = connect((srv.address() as AddressInfo).port, '127.0.0.1')
  await once(local, 'connect')
  const [app] = (await accepted) as [Socket]
  app.on('data', () => {}) // the application behind the socket reads everything at once
  return { local, app, close() { local.destroy(); app.destroy(); srv.close() } }
}

/**
 * Sends `total` bytes as the peer, never letting its unused credit fall below half the initial window (so the pipe
 * never sees the peer near running out). Returns the credit the pipe granted beyond what it received.
 */
async function transfer(total: number, maxRecvWindow: number, budget?: WindowBudget): Promise<number> {
  const { local, close } = await socketPair()
  let credit = WINDOW
  let granted = 0
  let wake: (() => void) | undefined
  const link = {
    closed: false,
    send(type: number, body: Uint8Array): boolean {
      if (type !== MessageType.VPN_DATA) return true
      const m = decodeData(body)
      if (m.credit) { credit += m.credit; granted += m.credit; wake?.() }
      return true
    },
    sendParts: () => true,
    whenWritable: async () => {},
    onClose: () => () => {},
  } as unknown as Link
  const pipe = new Pipe({
    link, role: Role.client, stream: 1, socket: local, sendWindow: 0, recvWindow: WINDOW, maxRecvWindow,
    ...(budget ? { budget } : {}), idleMs: 60_000, onDone: () => {},
  })
  try {
    let sent = 0
    while (sent < total) {
      if (credit - CHUNK < WINDOW / 2) { await new Promise<void>((r) => { wake = r }); continue }
      pipe.onData({ role: Role.exit, stream: 1, data: Buffer.alloc(CHUNK, sent & 0xff) })
      credit -= CHUNK
      sent += CHUNK
      // let the socket's write callbacks (and so the grants) run between chunks
      if ((sent / CHUNK) % 4 === 0) await new Promise((r) => setImmediate(r))
    }
    return granted - sent
  } finally {
    pipe.reset('test_done', false)
    close()
  }
}

test('a bulk stream grows its receive window though the peer never nearly runs dry', async () => {
  const extra = await transfer(2 * 1024 * KiB, 1024 * KiB)
  // each growth grants the window's size once more: 64 -> 128 -> ... ; at least one doubling in 2 MiB
  assert.ok(extra >= WINDOW, `window grew (credit beyond what arrived: ${extra} B)`)
  assert.ok(extra <= 1024 * KiB - WINDOW, `never beyond maxRecvWindow (${extra} B)`)
})

test('growth stops at maxRecvWindow and at the shared budget', async () => {
  assert.ok(await transfer(1024 * KiB, WINDOW) <= 0, 'maxRecvWindow = recvWindow: no growth')
  class Watched extends WindowBudget {
    peak = 0
    override take(n: number): boolean { const ok = super.take(n); this.peak = Math.max(this.peak, this.used); return ok }
  }
  const budget = new Watched(WINDOW)
  const extra = await transfer(4 * 1024 * KiB, 1024 * KiB, budget)
  assert.ok(extra > 0 && extra <= WINDOW, `the budget allowed one doubling only (${extra} B)`)
  assert.equal(budget.peak, WINDOW)
  assert.equal(budget.used, 0, 'given back when the stream ended')
})
