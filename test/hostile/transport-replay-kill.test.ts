/**
 * Hostile issue 14 part 9 (replay): after a kill -9, a HELLO captured from the wire and replayed within its 30 s
 * window must not get a HELLO_ACK. The node runs in a child process that is SIGKILLed right after it answered
 * the original HELLO (long before its periodic filter save).
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, connect, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import { randomBytes } from '../../src/crypto/sign.js'
import { listen } from '../../src/util/listen.js'
import { rawExchange, startNode, tempDir } from '../transport/helpers.js'

const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js'
const fixture = fileURLToPath(new URL(`./fixtures/transport-node${ext}`, import.meta.url))

function startChild(dir: string, seedHex: string): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, fixture, dir, seedHex], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stderr!.on('data', (d) => { err += String(d) })
    child.stdout!.on('data', (d) => {
      out += String(d)
      const m = /port (\d+)/.exec(out)
      if (m) resolve({ child, port: Number(m[1]) })
    })
    child.on('exit', (code) => reject(new Error(`node exited (code ${code}): ${err.slice(0, 2000)}`)))
  })
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => { child.once('exit', () => resolve()); child.kill('SIGKILL') })
}

/** A TCP relay that records what the client sends: the honest dialer's HELLO is captured from the wire. */
async function recordingRelay(t: { after(fn: () => void): void }, port: number): Promise<{ port: number; sent: Buffer[] }> {
  const sent: Buffer[] = []
  const socks: Socket[] = []
  const server = createServer((c) => {
    const up = connect(port, '127.0.0.1')
    socks.push(c, up)
    c.on('data', (d) => { sent.push(Buffer.from(d)); up.write(d) })
    up.on('data', (d) => c.write(d))
    c.on('error', () => up.destroy()); up.on('error', () => c.destroy())
    c.on('close', () => up.destroy()); up.on('close', () => c.destroy())
  })
  await listen(server, 0, '127.0.0.1')
  t.after(() => { socks.forEach((s) => s.destroy()); server.close() })
  return { port: (server.address() as { port: number }).port, sent }
}

test('a HELLO replayed after kill -9 of the node gets no HELLO_ACK', { timeout: 60_000 }, async (t) => {
  const dir = tempDir(t)
  const seed = Buffer.from(randomBytes(32)).toString('hex')
  let node = await startChild(dir, seed)
  t.after(() => { node.child.kill('SIGKILL') })

  const relay = await recordingRelay(t, node.port)
  const honest = await startNode(t)
  const link = await honest.cm.dial({ host: '127.0.0.1', port: relay.port })
  assert.ok(!link.closed)
  const wire = Buffer.concat(relay.sent)
  const hello = wire.subarray(0, 8 + wire.readUInt32BE(4))
  assert.equal(hello[0], 0x5a)
  assert.equal(hello[2], 0, 'a handshake frame')

  await kill9(node.child)
  node = await startChild(dir, seed)
  const replay = await rawExchange(node.port, [hello], { timeoutMs: 2000 })
  assert.equal(replay.received.length, 0, 'no HELLO_ACK for the replayed HELLO')
  assert.equal(replay.closed, true)

  // the restarted node still answers a fresh HELLO
  const again = await honest.cm.dial({ host: '127.0.0.1', port: node.port })
  assert.ok(!again.closed)
})
