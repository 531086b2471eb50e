/**
 * Fallback loopback TCP link for the benchmark when the node transport is unavailable: RpcLink over a plain socket
 * with `[type u8][length u32 BE][plaintext]` frames (no encryption; loopback only).
 */
import { createServer, connect, type Server, type Socket } from 'node:net'
import { RpcLink } from '../../src/transport/rpc-link.js'
import { Router } from '../../src/transport/router.js'
import type { RemotePeer } from '../../src/interfaces/link.js'

const MAX_FRAME = 256 * 1024 * 1024

function peer(outbound: boolean): RemotePeer {
  const id = new Uint8Array(32).fill(outbound ? 2 : 1)
  return { nodeId: id, nodeIdB64: Buffer.from(id).toString('base64'), dhtId: id.subarray(0, 20), remoteAddr: { host: '127.0.0.1', port: 0 }, version: 2, capabilities: new Set(), outbound }
}

export function wrapSocket(sock: Socket, router: Router, outbound: boolean): RpcLink {
  sock.setNoDelay(true)
  let link!: RpcLink
  let buf: Buffer = Buffer.alloc(0)
  sock.on('data', (d: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d
    while (buf.length >= 5) {
      const len = buf.readUInt32BE(1)
      if (len > MAX_FRAME) { sock.destroy(); return }
      if (buf.length < 5 + len) break
      const type = buf[0]!
      const body = new Uint8Array(buf.subarray(5, 5 + len))
      buf = buf.subarray(5 + len)
      link.receiveFrame(type, body)
    }
  })
  link = new RpcLink(peer(outbound), {
    sendFrame(type, pt) {
      const h = Buffer.alloc(5)
      h[0] = type
      h.writeUInt32BE(pt.byteLength, 1)
      sock.write(h)
      return sock.write(pt)
    },
    whenWritable: () => Promise.resolve(),
    close: () => sock.destroy(),
  }, router.dispatch, { defaultTimeoutMs: 120_000 })
  sock.on('close', () => link.handleClosed('socket closed'))
  return link
}

export function listenRaw(router: Router): Promise<Server> {
  const server = createServer((s) => { wrapSocket(s, router, false) })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

export function dialRaw(port: number): Promise<RpcLink> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(wrapSocket(s, new Router(), true)))
    s.once('error', reject)
  })
}
