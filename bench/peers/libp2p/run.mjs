// Peer benchmark for js-libp2p 2.x: TCP + Noise + yamux, one stream, loopback.
//   node run.mjs server                         -> prints {"port": N, "addr": multiaddr}
//   node run.mjs client PORT ADDR BIGTOTAL SMALLCOUNT -> prints {"mbps64k", "msgps1k"}
// some libp2p 2.x dependencies call Promise.withResolvers (Node 22+); provide it on Node 20
if (!Promise.withResolvers) {
  Promise.withResolvers = function () { let resolve, reject; const promise = new Promise((a, b) => { resolve = a; reject = b }); return { promise, resolve, reject } }
}
const { createLibp2p } = await import('libp2p')
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { multiaddr } from '@multiformats/multiaddr'

const PROTO = '/zeone-bench/1.0.0'
const BIG = 64 * 1024
const SMALL = 1024
const [role, , addr, bigTotalS, smallCountS] = process.argv.slice(2)

const node = await createLibp2p({
  addresses: { listen: role === 'server' ? ['/ip4/127.0.0.1/tcp/0'] : [] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
})

if (role === 'server') {
  await node.handle(PROTO, async ({ stream }) => {
    const acks = []
    // each phase: 4-byte header (KiB to expect), then data; answer one byte per phase
    let expect = -1
    let got = 0
    const out = (async function * () { while (true) { const b = await new Promise((r) => acks.push(r)); if (!b) return; yield b } })()
    stream.sink(out).catch(() => {})
    for await (const chunk of stream.source) {
      let buf = chunk.subarray()
      if (expect < 0) { expect = Buffer.from(buf.subarray(0, 4)).readUInt32BE(0) * 1024; buf = buf.subarray(4) }
      got += buf.length
      if (got >= expect) { got = 0; expect = -1; acks.shift()?.(new Uint8Array([1])) }
    }
  }, { maxInboundStreams: 4 })
  const ma = node.getMultiaddrs()[0]
  console.log(JSON.stringify({ port: Number(ma.toOptions().port), addr: ma.toString() }))
  process.on('SIGTERM', () => { node.stop().then(() => process.exit(0)) })
} else {
  const stream = await node.dialProtocol(multiaddr(addr), PROTO)
  const acks = []
  ;(async () => { for await (const _ of stream.source) acks.shift()?.() })().catch(() => {})
  let pushNext
  const queue = []
  const source = (async function * () {
    while (true) {
      if (queue.length === 0) await new Promise((r) => { pushNext = r })
      const b = queue.shift()
      if (b === null) return
      yield b
    }
  })()
  stream.sink(source).catch((e) => { console.error(e); process.exit(1) })
  const send = (b) => { queue.push(b); const p = pushNext; pushNext = undefined; p?.() }
  const phase = async (size, count) => {
    const buf = new Uint8Array(size).fill(9)
    const head = new Uint8Array(4 + size)
    new DataView(head.buffer).setUint32(0, (size * count) / 1024)
    head.set(buf, 4)
    const done = new Promise((r) => acks.push(r))
    const t0 = process.hrtime.bigint()
    send(head)
    for (let i = 1; i < count; i++) {
      send(buf)
      if (queue.length > 64) await new Promise((r) => setImmediate(r))
    }
    await done
    return Number(process.hrtime.bigint() - t0) / 1e9
  }
  await phase(BIG, 256)
  await phase(SMALL, 5000)
  const bigTotal = Number(bigTotalS)
  const smallCount = Number(smallCountS)
  const s64 = await phase(BIG, bigTotal / BIG)
  const s1 = await phase(SMALL, smallCount)
  console.log(JSON.stringify({ mbps64k: bigTotal / s64 / 1e6, msgps1k: smallCount / s1 }))
  send(null)
  await node.stop()
  process.exit(0)
}
