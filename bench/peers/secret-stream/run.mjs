// Peer benchmark for @hyperswarm/secret-stream over TCP loopback (Noise XX handshake, libsodium secretstream).
//   node run.mjs server                       -> prints {"port": N}, receives, acks each phase
//   node run.mjs client PORT _ BIGTOTAL SMALLCOUNT -> prints {"mbps64k", "msgps1k"}
import net from 'node:net'
import SecretStream from '@hyperswarm/secret-stream'

const BIG = 64 * 1024
const SMALL = 1024
const [role, port, , bigTotalS, smallCountS] = process.argv.slice(2)

if (role === 'server') {
  const server = net.createServer((sock) => {
    sock.setNoDelay(true)
    const s = new SecretStream(false, sock)
    let expect = -1
    let got = 0
    s.on('data', (d) => {
      if (expect < 0) { expect = d.readUInt32BE(0) * 1024; return }
      got += d.length
      if (got >= expect) { got = 0; expect = -1; s.write(Buffer.from([1])) }
    })
    s.on('error', () => {})
  })
  server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })))
  process.on('SIGTERM', () => process.exit(0))
} else {
  const sock = net.connect({ host: '127.0.0.1', port: Number(port), noDelay: true })
  const s = new SecretStream(true, sock)
  s.on('error', (e) => { console.error(e); process.exit(1) })
  await new Promise((r) => s.once('connect', r))
  const acks = []
  s.on('data', () => acks.shift()?.())
  const phase = async (size, count) => {
    const buf = Buffer.alloc(size, 9)
    const head = Buffer.alloc(4)
    head.writeUInt32BE((size * count) / 1024)
    const done = new Promise((r) => acks.push(r))
    const t0 = process.hrtime.bigint()
    s.write(head)
    for (let i = 0; i < count; i++) {
      if (!s.write(buf)) await new Promise((r) => s.once('drain', r))
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
  s.destroy()
  process.exit(0)
}
