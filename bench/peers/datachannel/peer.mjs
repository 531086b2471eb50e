// Benchmark-only WebRTC peer (node-datachannel). JSON lines on stdin/stdout, driven by bench/nat.ts:
//   in:  {op:'start', role:'offer'|'answer', stun:'host:port'} {op:'desc', sdp, type} {op:'cand', cand, mid}
//        {op:'send', bytes} {op:'recv', bytes}
//   out: {ev:'desc'|'cand'|'open'|'sent'|'done', ...}
import { createInterface } from 'node:readline'
import nodeDataChannel from 'node-datachannel'

const out = (m) => process.stdout.write(JSON.stringify(m) + '\n')
nodeDataChannel.initLogger('Error', () => {})
let pc
let dc
let expect = 0
let got = 0
let t0 = 0

function wire(channel) {
  dc = channel
  dc.onOpen(() => out({ ev: 'open' }))
  dc.onMessage((m) => {
    const n = typeof m === 'string' ? Buffer.byteLength(m) : m.byteLength
    if (t0 === 0) t0 = performance.now()
    got += n
    if (expect > 0 && got >= expect) { out({ ev: 'done', ms: performance.now() - t0, bytes: got }); expect = 0 }
  })
  if (dc.isOpen()) out({ ev: 'open' })
}

async function send(total) {
  const chunk = Buffer.alloc(16 * 1024, 0x61)
  const high = 4 * 1024 * 1024
  dc.setBufferedAmountLowThreshold(1024 * 1024)
  for (let sent = 0; sent < total; sent += chunk.length) {
    if (dc.bufferedAmount() > high) await new Promise((r) => dc.onBufferedAmountLow(() => r()))
    dc.sendMessageBinary(chunk)
  }
  out({ ev: 'sent' })
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const c = JSON.parse(line)
  if (c.op === 'start') {
    pc = new nodeDataChannel.PeerConnection(c.role, { iceServers: [`stun:${c.stun}`] })
    pc.onLocalDescription((sdp, type) => out({ ev: 'desc', sdp, type }))
    pc.onLocalCandidate((cand, mid) => out({ ev: 'cand', cand, mid }))
    if (c.role === 'offer') wire(pc.createDataChannel('bench'))
    else pc.onDataChannel((ch) => wire(ch))
  } else if (c.op === 'desc') pc.setRemoteDescription(c.sdp, c.type)
  else if (c.op === 'cand') pc.addRemoteCandidate(c.cand, c.mid)
  else if (c.op === 'send') void send(c.bytes)
  else if (c.op === 'recv') { expect = c.bytes; t0 = 0; got = 0 }
}).on('close', () => { try { dc?.close(); pc?.close(); nodeDataChannel.cleanup() } catch {} process.exit(0) })
