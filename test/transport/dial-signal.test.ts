/**
 * Issue 23 item 6: a dial's signal is combined with the manager's shutdown signal and detached when the dial ends:
 * a long-lived caller signal used for many dials carries no listener afterwards (no setMaxListeners needed), and a
 * signal aborted mid-handshake ends that dial only.
 */
import assert from 'node:assert/strict'
import { getEventListeners } from 'node:events'
import { test } from 'node:test'
import { MemoryStreamNetwork } from '../../src/transport/memory-streams.js'
import { startNode, waitFor } from './helpers.js'

test('a long-lived signal passed to many dials and adopts keeps no listener', { timeout: 120_000 }, async (t) => {
  const net = new MemoryStreamNetwork()
  // 200 connects from one address: lift the per-IP connect rate, this test is about signals
  const over = { limits: { connectsPerSecPerIp: 1e6, connectBurstPerIp: 1e6 } }
  const a = await startNode(t, over, { transport: net.transport({ host: '10.5.0.1', port: 0 }) })
  const b = await startNode(t, over, { transport: net.transport({ host: '10.5.0.2', port: 0 }) })
  const long = new AbortController().signal
  for (let i = 0; i < 200; i++) {
    const link = await a.cm.dial(b.cm.listenAddress!, { signal: long })
    link.close('round')
    await waitFor(() => a.cm.connectionCount === 0 && b.cm.connectionCount === 0, `round ${i} closed`)
  }
  assert.equal(getEventListeners(long, 'abort').length, 0, 'no listener left on the caller signal')
})

test('aborting a dial during the handshake rejects it and leaves no connection', { timeout: 60_000 }, async (t) => {
  const net = new MemoryStreamNetwork()
  const a = await startNode(t, { handshakeTimeoutMs: 30_000 }, { transport: net.transport({ host: '10.6.0.1', port: 0 }) })
  // a listener that never answers: the handshake waits until the abort
  const silent = net.transport({ host: '10.6.0.9', port: 0 })
  const held: Array<{ destroy(): void }> = []
  const at = (await silent.listen((s) => { held.push(s) }))!
  t.after(() => { for (const s of held) s.destroy() })
  const ac = new AbortController()
  const dialing = a.cm.dial(at, { signal: ac.signal })
  await waitFor(() => a.cm.connectionCount === 1, 'the handshake started')
  ac.abort()
  await assert.rejects(dialing, (e: Error) => e.name === 'AbortedError')
  assert.equal(getEventListeners(ac.signal, 'abort').length, 0)
})
