/**
 * Hostile issue 14 part 4: N attacker sessions (fresh identities, real handshakes, from 4 loopback IPs) each send
 * a 16 MiB frame minus its last byte to a node in a child process. Prints the node's RSS before and at the peak,
 * its own count of bytes held in unfinished frames, and how many attackers it closed.
 *   npm run bench -- frame-memory [--sessions 64]
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Identity } from '../src/crypto/identity.js'
import { randomBytes } from '../src/crypto/sign.js'
import { systemClock } from '../src/interfaces/clock.js'
import { transportConfigSchema } from '../src/transport/config.js'
import { Connection } from '../src/transport/connection.js'
import { ConnectionManager } from '../src/transport/connection-manager.js'
import { Router } from '../src/transport/router.js'

const MiB = 1024 * 1024
const SELF = fileURLToPath(import.meta.url)
const si = process.argv.indexOf('--sessions')
const SESSIONS = si > 0 ? Number(process.argv[si + 1]) : 64

async function child(dir: string): Promise<void> {
  const cm = new ConnectionManager({
    identity: Identity.fromSeed(randomBytes(32)), dataDir: dir, router: new Router(),
    config: transportConfigSchema.parse({ port: 0, host: '127.0.0.1', legacy: false, discover: false }),
  })
  await cm.start()
  console.log(JSON.stringify({ port: cm.listenAddress!.port }))
  setInterval(() => console.log(JSON.stringify({ buffered: cm.bufferedFrameBytes, connections: cm.connectionCount })), 100)
}

function attack(port: number, localAddress: string): Promise<Connection | undefined> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port, localAddress })
    sock.on('error', () => resolve(undefined))
    const conn: Connection = new Connection(sock, { outbound: true, remoteAddr: { host: '127.0.0.1', port } }, {
      identity: Identity.fromSeed(randomBytes(32)), clock: systemClock, handshakeTimeoutMs: 10_000, highWaterMark: 4 * MiB, isReplay: () => false,
      handshake: { versions: [2], preferredVersion: 2, capabilities: [], suites: ['chacha20-poly1305'], listenPort: 0, maxFrame: 16 * MiB, maxSkewMs: 30_000 },
    }, { established: () => resolve(conn), frame: () => {}, refused: () => resolve(undefined), closed: () => resolve(undefined) })
    sock.once('connect', () => conn.start())
  })
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'zeone-bench-fm-'))
  const node = spawn(process.execPath, [SELF, 'child', dir], { stdio: ['ignore', 'pipe', 'inherit'] })
  let last = { buffered: 0, connections: 0 }
  let peakBuffered = 0
  const port = await new Promise<number>((resolve) => {
    let out = ''
    node.stdout!.on('data', (d) => {
      out += String(d)
      const lines = out.split('\n')
      out = lines.pop()!
      for (const l of lines) {
        const m = JSON.parse(l) as { port?: number; buffered?: number; connections?: number }
        if (m.port) resolve(m.port)
        if (m.buffered !== undefined) { last = m as typeof last; peakBuffered = Math.max(peakBuffered, m.buffered) }
      }
    })
  })
  const rss = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${node.pid}/status`, 'utf8'))![1]) / 1024
  const idle = rss()
  const hdr = Buffer.alloc(16)
  hdr[0] = 0x5a; hdr[1] = 0x45; hdr[2] = 2; hdr[3] = 0x20
  hdr.writeUInt32BE(16 * MiB, 4)
  const junk = Buffer.alloc(MiB, 0xab)
  const conns: Connection[] = []
  for (let i = 0; i < SESSIONS; i++) {
    const c = await attack(port, `127.0.8.${1 + (i % 4)}`)
    if (!c) continue
    conns.push(c)
    c.stream.write(hdr)
    for (let k = 0; k < 16; k++) c.stream.write(k === 15 ? junk.subarray(0, MiB - 1) : junk)
  }
  let peak = 0
  for (let t = 0; t < 300; t++) {
    peak = Math.max(peak, rss())
    await new Promise((r) => setTimeout(r, 100))
    if (conns.every((c) => c.closed || c.stream.writableLength === 0)) break
  }
  await new Promise((r) => setTimeout(r, 1000))
  peak = Math.max(peak, rss())
  console.log(JSON.stringify({
    bench: 'frame-memory', sessions: conns.length, frameBytes: 16 * MiB - 1, rssIdleMiB: Math.round(idle), rssPeakMiB: Math.round(peak),
    nodeBufferedPeakMiB: Math.round(peakBuffered / MiB), nodeBufferedNowMiB: Math.round(last.buffered / MiB),
    closedByNode: conns.filter((c) => c.closed).length,
  }))
  for (const c of conns) c.destroy('done')
  node.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
}

if (process.argv[2] === 'child') await child(process.argv[3]!)
else await main()
