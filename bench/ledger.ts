/**
 * Metered micro-payments into the ledger per second: group commit (the product path, Economy.observeFrame ->
 * LedgerStore with batched commits) against one commit per payment, measured in the same run on the same machine.
 * Prints JSON. Usage: npm run bench -- ledger [payments]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir, cpus } from 'node:os'
import { join } from 'node:path'
import { Identity } from '../src/crypto/identity.js'
import { economyConfigSchema } from '../src/economy/config.js'
import { Economy } from '../src/economy/economy.js'
import { LedgerStore } from '../src/economy/ledger-store.js'
import type { RemotePeer } from '../src/interfaces/link.js'
import { systemClock } from '../src/interfaces/clock.js'
import { MessageType } from '../src/wire/message-types.js'

const N = Number(process.argv[2] ?? 1_000_000)
const BASELINE_N = Math.max(1000, Math.floor(N / 50))
const PEERS = 256

const peers: RemotePeer[] = Array.from({ length: PEERS }, (_, i) => {
  const seed = new Uint8Array(32); seed[0] = i; seed[1] = 1
  const id = Identity.fromSeed(seed)
  return { nodeId: id.publicKey, nodeIdB64: id.nodeIdB64, dhtId: id.dhtId, remoteAddr: { host: 'x', port: 1 }, version: 2, capabilities: new Set(), outbound: true }
})

function run(n: number, maxBatch: number, perPaymentCommit: boolean): { payments: number; seconds: number; perSecond: number } {
  const dir = mkdtempSync(join(tmpdir(), 'zeone-bench-ledger-'))
  try {
    const store = LedgerStore.open(join(dir, 'ledger.sqlite'))
    const eco = new Economy({ identity: Identity.fromSeed(new Uint8Array(32).fill(7)), store, clock: systemClock, config: economyConfigSchema.parse({ maxBatch }) })
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < n; i++) {
      eco.observeFrame({ peer: peers[i % PEERS]!, direction: (i & 1) ? 'in' : 'out', type: MessageType.VPN_DATA, bytes: 64 + (i & 1023) })
      if (perPaymentCommit) store.flush()
    }
    store.flush()
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9
    store.close()
    return { payments: n, seconds: +seconds.toFixed(3), perSecond: Math.round(n / seconds) }
  } finally { rmSync(dir, { recursive: true, force: true }) }
}

run(20_000, 8192, false) // warm-up
const baseline = run(BASELINE_N, 1, true)
const batched = run(N, 8192, false)
console.log(JSON.stringify({
  bench: 'ledger',
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
  peers: PEERS,
  batched: { ...batched, maxBatch: 8192 },
  baseline: { ...baseline, mode: 'one commit per payment (WAL, synchronous=NORMAL)' },
  speedup: +(batched.perSecond / baseline.perSecond).toFixed(1),
  target: 200_000,
  meetsTarget: batched.perSecond >= 200_000,
}, null, 2))
