/**
 * DHT simulator benchmark: the real DHT code (routing, disjoint lookups, signed records, message codecs) on N
 * simulated nodes with a 20-150 ms per-pair RTT, 10% churn and adversary fractions 0/10/20/30%, comparing d = 1
 * (plain Kademlia lookup) with d = 4 disjoint paths in the same run.
 *
 *   npm run bench -- dht-sim [--nodes 10000] [--lookups 300] [--records 60] [--fractions 0,0.1,0.2,0.3] [--paths 1,4]
 *                            [--churn 0.1] [--connect-rtts 0] [--eclipse 20:13]   (connect-rtts 2 = every first contact pays TCP + handshake)
 */
import type { Identity } from '../src/crypto/identity.js'
import { runScenario, type ScenarioResult } from '../src/dht/sim/scenario.js'

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def
}

const nodes = Number(arg('nodes', '10000'))
const lookups = Number(arg('lookups', '300'))
const records = Number(arg('records', '60'))
const churn = Number(arg('churn', '0.1'))
const fractions = arg('fractions', '0,0.1,0.2,0.3').split(',').map(Number)
const paths = arg('paths', '1,4').split(',').map(Number)
const connectRtts = Number(arg('connect-rtts', '0'))
// eclipse attempt: ATTACKERS:BITS colluders ground to share BITS leading bits with one record's key (0 = skip)
const [eclAttackers, eclBits] = arg('eclipse', '20:13').split(':').map(Number) as [number, number]

const identities: Identity[] = []
const results: ScenarioResult[] = []
const t0 = Date.now()
for (const f of fractions) {
  for (const d of paths) {
    const r = await runScenario({ nodes, adversaryFraction: f, paths: d, lookups, records, churn, connectRtts, seed: 7, identities })
    results.push(r)
    process.stderr.write(`f=${f} d=${d} success=${r.successRate} p50=${r.lookupLatencyMs.p50} p95=${r.lookupLatencyMs.p95} wall=${r.wallMs}ms\n`)
  }
}
const eclipse: ScenarioResult[] = []
if (eclAttackers > 0) {
  for (const d of paths) {
    const r = await runScenario({ nodes, adversaryFraction: 0, paths: d, lookups, records, churn, connectRtts, seed: 7, identities, eclipse: { attackers: eclAttackers, prefixBits: eclBits } })
    eclipse.push(r)
    process.stderr.write(`eclipse ${eclAttackers}x${eclBits} bits d=${d} success=${r.successRate} p50=${r.lookupLatencyMs.p50} p95=${r.lookupLatencyMs.p95} wall=${r.wallMs}ms\n`)
  }
}
console.log(JSON.stringify({
  bench: 'dht-sim',
  machine: `${process.platform} ${process.arch}, node ${process.version}`,
  model: { rttMs: [20, 150], churn, connectRtts, k: 20, alpha: 3, softTimeoutMs: 400, rpcTimeoutMs: 5000, adversaries: 'round-robin drop / collude (return closest colluders) / wrong (forged records + colluders)' },
  baseline: 'd = 1 (plain Kademlia lookup) in the same run',
  results,
  eclipse,
  wallMs: Date.now() - t0,
}, null, 2))
