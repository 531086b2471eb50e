/**
 * The LinkProvider compliance suite (as js-libp2p's interface-compliance-tests): one exported function that takes a
 * factory and runs the contract every implementation must keep: dial/onLink/get/request-reply/remote errors/close,
 * abort before dial, a dial timeout, a wrong expected identity, backpressure with a stalled reader under bulk data,
 * dedupe (concurrent and simultaneous dials), close/stop closing every link and stream, and unsubscribing.
 * An implementation without streams (the simulator's MemoryNetwork) leaves out `silentAddr` and `stallB`; the cases
 * that need them say so as skips.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import type { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import type { Endpoint, Link, LinkProvider, MessageRouter } from '../../src/interfaces/link.js'
import { InvalidInputError } from '../../src/util/errors.js'
import { MessageType } from '../../src/wire/message-types.js'
import { waitFor as pollUntil } from '../transport/helpers.js'

export type TestContext = { after(fn: () => void | Promise<void>): void }

export interface LinkProviderPair {
  a: LinkProvider
  b: LinkProvider
  bRouter: MessageRouter
  aAddr: Endpoint
  bAddr: Endpoint
  aId: Identity
  bId: Identity
  /** Stops side a: every link and stream it has must close. */
  stopA(): Promise<void>
  /** Streams/connections still open on each side (absent: the implementation has none). */
  open?(): { a: number; b: number }
  /** An address that accepts a stream and never answers the handshake (absent: no streams to hold). */
  silentAddr?(): Promise<Endpoint>
  /**
   * Stops b's reader on every stream it accepted. `pushesBack`: the stream then holds the sender back (false for
   * udx, which acknowledges bytes its reader has not read); `unread`: bytes waiting at b's reader.
   */
  stallB?(): { resume(): void; unread(): number; pushesBack: boolean }
}

export type LinkProviderFactory = (t: TestContext) => Promise<LinkProviderPair>

/** The transport tests' poll, with a longer default bound: relay and UDX rigs are slower under load. */
export const waitFor = (cond: () => boolean, what: string, ms = 20_000): Promise<void> => pollUntil(cond, what, ms)

const codeOf = (e: unknown): string => String((e as { code?: unknown }).code ?? (e as Error).name)

/** `streams: false` for an implementation without streams (no handshake to time out, no reader to stall). */
export function linkProviderSuite(name: string, make: LinkProviderFactory, opts: { streams?: boolean } = {}): void {
  const noStreams = opts.streams === false && 'no streams: nothing to hold a handshake open'
  const it = (what: string, fn: (t: TestContext) => Promise<void>, skip?: string | false): void => {
    test(`LinkProvider (${name}): ${what}`, { timeout: 120_000, ...(skip ? { skip } : {}) }, async (t) => {
      // in-memory transports deliver through unref'd timers: keep the loop alive while the test waits on them
      const keepAlive = setInterval(() => {}, 1000)
      t.after(() => clearInterval(keepAlive))
      await fn(t)
    })
  }

  it('dial, onLink, get, request/reply, remote errors, close', async (t) => {
    const { a, b, bRouter, bAddr, bId } = await make(t)
    bRouter.handle(MessageType.DHT_FIND_NODE, (m) => { m.reply?.(MessageType.DHT_FIND_NODE_RESP, m.body) })
    bRouter.handle(MessageType.DHT_STORE, () => { throw new InvalidInputError('bad_request', 'refused on purpose') })
    bRouter.handle(MessageType.DHT_FIND_VALUE, () => { throw new Error('a bug at /srv/zeone/src/x.ts:12') })
    const seen: string[] = []
    b.onLink((l) => seen.push(l.peer.nodeIdB64))
    const link = await a.dial(bAddr, { expectNodeId: bId.publicKey })
    assert.equal(link.peer.nodeIdB64, bId.nodeIdB64)
    assert.equal(a.get(bId.publicKey), link)
    assert.equal(a.get(bId.nodeIdB64), link)
    assert.deepEqual(a.links(), [link])
    const r = await link.request(MessageType.DHT_FIND_NODE, new Uint8Array([9, 8, 7]))
    assert.equal(r.type, MessageType.DHT_FIND_NODE_RESP)
    assert.deepEqual([...r.body], [9, 8, 7])
    await assert.rejects(link.request(MessageType.DHT_STORE, new Uint8Array(0)), /remote error \(bad_request\): refused on purpose/)
    // anything but a typed error with a registered code reaches the peer as `internal`, without its text
    await assert.rejects(link.request(MessageType.DHT_FIND_VALUE, new Uint8Array(0)), (e: Error & { code?: string }) => e.code === 'internal' && !e.message.includes('/srv'))
    await waitFor(() => seen.length === 1, 'onLink on the accepting side')
    const closed = new Promise<string>((res) => link.onClose(res))
    link.close('done')
    assert.equal(link.closed, true)
    assert.ok((await closed).length > 0)
    await assert.rejects(link.request(MessageType.DHT_FIND_NODE, new Uint8Array(0)))
    await waitFor(() => a.links().length === 0 && b.links().length === 0, 'link removed on both sides')
  })

  it('a dial whose signal is already aborted fails and opens nothing', async (t) => {
    const { a, b, bAddr, open } = await make(t)
    const ac = new AbortController()
    ac.abort()
    await assert.rejects(a.dial(bAddr, { signal: ac.signal }), (e) => codeOf(e) === 'aborted' || (e as Error).name === 'AbortedError')
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(a.links().length, 0)
    assert.equal(b.links().length, 0)
    if (open) assert.deepEqual(open(), { a: 0, b: 0 })
  })

  it('a dial to a peer that never answers the handshake times out and leaves nothing open', async (t) => {
    const p = await make(t)
    const at = await p.silentAddr!()
    await assert.rejects(p.a.dial(at), (e) => /timeout|timed out/.test(`${codeOf(e)} ${(e as Error).message}`))
    assert.equal(p.a.links().length, 0)
    if (p.open) await waitFor(() => p.open!().a === 0, 'the silent connection closed')
  }, noStreams)

  it('a dial expecting another identity fails, and no link to the real peer is kept', async (t) => {
    const { a, bAddr, bId } = await make(t)
    await assert.rejects(a.dial(bAddr, { expectNodeId: randomBytes(32) }), (e) => codeOf(e) === 'identity_mismatch')
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(a.get(bId.publicKey), undefined)
    assert.equal(a.links().length, 0)
  })

  it('bulk data with a stalled reader: the stall shows, nothing is lost, the link resumes', async (t) => {
    const p = await make(t)
    const h = createHash('sha256')
    let got = 0
    p.bRouter.handle(MessageType.VPN_DATA, (m) => { h.update(m.body); got += m.body.length })
    const link = await p.a.dial(p.bAddr)
    await waitFor(() => p.b.links().length === 1, 'b has the link')
    const stall = p.stallB?.()
    const total = 8 * 1024 * 1024
    const sent = createHash('sha256')
    let n = 0
    let held = 0
    let waiting = false
    let sawWait = false
    const sending = (async () => {
      for (let i = 0; n < total; i++) {
        const m = new Uint8Array(i % 3 === 2 ? 700 : 48 * 1024).fill((i * 37 + 11) & 0xff)
        sent.update(m)
        n += m.length
        if (!link.send(MessageType.VPN_DATA, m)) {
          held++
          waiting = true
          await link.whenWritable()
          waiting = false
        }
      }
    })()
    let done = false
    void sending.then(() => { done = true })
    if (stall) {
      // the sender is held back (the stream pushes back) or the bytes pile up unread at the reader (udx acknowledges
      // what its reader has not read yet): either way the reader really stopped
      await waitFor(() => waiting || stall.unread() >= 2 * 1024 * 1024 || done, 'the stall to show', 100_000)
      if (stall.pushesBack) {
        // with the reader stalled the sender must end up blocked for good (a sample of `waiting` at one instant races
        // the moments a drain lets it send a little more); without backpressure it would finish instead
        await waitFor(() => waiting || done, 'the sender to block or finish', 100_000)
        sawWait = waiting
        assert.ok(sawWait && !done, 'a stalled reader holds the sender back')
      }
      const gotWhileStalled = got
      assert.ok(gotWhileStalled < total, `the reader stalled before the end (got ${gotWhileStalled})`)
      stall.resume()
    }
    await sending
    await waitFor(() => got >= n, `all ${n} bytes (got ${got})`, 100_000)
    assert.equal(got, n)
    assert.equal(h.digest('hex'), sent.digest('hex'), 'bytes arrived whole and in order')
    if (stall) assert.ok(held > 0, 'the sender met backpressure')
    assert.equal(link.closed, false)
  })

  it('dedupe: concurrent dials and dials from both sides end with one link per side', async (t) => {
    const { a, b, aAddr, bAddr, aId, bId, open } = await make(t)
    const links = await Promise.all([a.dial(bAddr), a.dial(bAddr), a.dial(bAddr, { expectNodeId: bId.publicKey })])
    assert.ok(links.every((l) => l === links[0]), 'every concurrent dial resolves with the same link')
    await waitFor(() => b.links().length === 1, 'b has the link')
    assert.equal(await b.dial(aAddr), b.get(aId.publicKey), "b's dial back reuses its link")
    links[0]!.close('again')
    await waitFor(() => a.links().length === 0 && b.links().length === 0, 'closed')
    const [la, lb] = await Promise.all([a.dial(bAddr), b.dial(aAddr)])
    await waitFor(() => a.links().length === 1 && b.links().length === 1, 'one link per side after a simultaneous dial')
    // both connections finish their handshakes, then the tie-break retires one (the links stay)
    if (open) await waitFor(() => open().a === 1 && open().b === 1, 'one connection per side after the tie-break')
    assert.equal(la.closed, false)
    assert.equal(lb.closed, false)
    assert.equal(a.get(bId.publicKey), la)
    assert.equal(b.get(aId.publicKey), lb)
    assert.notEqual(la.peer.outbound, lb.peer.outbound, 'both sides kept the same connection')
  })

  it('stop closes every link and every stream, on both sides', async (t) => {
    const p = await make(t)
    const link = await p.a.dial(p.bAddr)
    await waitFor(() => p.b.links().length === 1, 'b has the link')
    const back = p.b.links()[0]!
    const closedA = new Promise<string>((r) => link.onClose(r))
    const closedB = new Promise<string>((r) => back.onClose(r))
    await p.stopA()
    await closedA
    await closedB
    assert.equal(p.a.links().length, 0)
    await waitFor(() => p.b.links().length === 0, "b's link removed")
    if (p.open) await waitFor(() => p.open!().a === 0 && p.open!().b === 0, 'no stream left open')
  })

  it('unsubscribe: an onLink or onClose listener removed is not called', async (t) => {
    const { a, b, bAddr } = await make(t)
    let onLinkCalls = 0
    let closeCalls = 0
    const offLink = b.onLink(() => onLinkCalls++)
    offLink()
    const kept: Link[] = []
    b.onLink((l) => kept.push(l))
    const link = await a.dial(bAddr)
    await waitFor(() => kept.length === 1, 'the kept listener ran')
    const offClose = link.onClose(() => closeCalls++)
    offClose()
    const closed = new Promise((r) => link.onClose(r))
    link.close('bye')
    await closed
    await new Promise((r) => setTimeout(r, 50))
    assert.equal(onLinkCalls, 0)
    assert.equal(closeCalls, 0)
  })
}
