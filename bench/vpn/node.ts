/**
 * Child of the vpn bench: one node (services + economy + vpn) as a VPN exit or client. Prints one JSON line with its
 * addresses; on stdin `stats` prints its carried-byte and ledger figures, on `stop` stops and exits.
 * Args: exit SOURCE_PORT | client EXIT_REF
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { attach as attachServices } from '../../src/services/attach.js'
import { attach as attachEconomy } from '../../src/economy/attach.js'
import { attach as attachVpn } from '../../src/services/vpn/attach.js'
import { fromB64 } from '../../src/util/bytes.js'

const [role, arg] = process.argv.slice(2)
const dir = mkdtempSync(join(tmpdir(), `zeone-vpn-bench-${role}-`))
// VPN_BENCH_WINDOW=BASE,MAX: flow-control windows of both sides (bytes), to try other sizes
const [win, maxWin] = (process.env.VPN_BENCH_WINDOW ?? '').split(',').map(Number)
const w = win ? { window: win, maxWindow: maxWin ?? win } : {}
// VPN_BENCH_SUITES=a,b: the v2 cipher suites both nodes offer, in order (to compare them)
const suites = process.env.VPN_BENCH_SUITES ? { cipherSuites: process.env.VPN_BENCH_SUITES.split(',') } : {}
const vpn = role === 'exit'
  ? { exit: { enabled: true, policy: [`accept 127.0.0.1:${arg}`], maxStreamsPerClient: 1024, ...w } }
  : { socks: { port: 0, exits: [arg!], maxPricePerMiB: '1000000000000', ...w } }
const config = validateConfig({
  dataDir: dir, node: { port: 0, host: '127.0.0.1', legacy: false, privateAddresses: 'allow', ...suites },
  ops: { httpPort: -1, logLevel: 'silent' }, dht: { staticPuzzleBits: 0 }, economy: { debtLimit: '1000000000000000000' }, vpn,
})
const node = createNode(config, { layers: [['services', attachServices], ['economy', attachEconomy], ['vpn', attachVpn]] })
await node.start()
console.log(JSON.stringify({
  nodeId: node.identity.nodeIdB64, port: node.listenAddress!.port,
  socks: node.services.get('vpnSocks')?.address?.port ?? null,
}))
createInterface({ input: process.stdin }).on('line', (line) => {
  const [c, peer] = line.trim().split(' ')
  if (c === 'stats' && peer) {
    const id = fromB64(peer)
    const econ = node.services.get('economy')!
    econ.flush()
    const bal = econ.balance(id)
    const carried = role === 'exit' ? node.services.get('vpnExit')!.carriedFor(id) : node.services.get('vpnClient')!.carriedVia(id)
    console.log(JSON.stringify({ carried: `${carried}`, charged: `${bal.charged}`, billed: `${bal.billed}`, served: `${bal.served}`, consumed: `${bal.consumed}` }))
  } else if (c === 'cpu') {
    // CPU time so far (user + system, ms): on a shared machine a steadier cost figure than wall time; with the
    // system part and the minor page faults (fresh memory: what node:crypto's output buffers cost, see bench/aead.ts)
    const r = process.resourceUsage()
    console.log(JSON.stringify({ cpuMs: Math.round((r.userCPUTime + r.systemCPUTime) / 1000), sysMs: Math.round(r.systemCPUTime / 1000), faults: r.minorPageFault }))
  } else if (c === 'stop') {
    void node.stop().then(() => { rmSync(dir, { recursive: true, force: true }); process.exit(0) })
  }
})
