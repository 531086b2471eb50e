/**
 * DHT simulator benchmark (docs/dht-sim.md): the real DHT code on N simulated nodes in virtual time, with connection
 * setup charged (2 RTTs per new link, 256 links per node, 90 s idle close), 25% dead table entries at the start,
 * 30% churn during the reads (leaves without notice, joins through the node's own join), and adversaries of each
 * kind at several fractions, d = 1 (plain Kademlia lookup, the baseline) next to d = 4 in the same run.
 *
 *   npm run bench -- dht-sim [--nodes 10000] [--records 50] [--reads 300] [--churn 0.3] [--dead 0.25] [--window-s 120]
 *     [--kinds mix,drop,collude,forge,own,rollback,eclipse] [--fractions 0.1,0.2,0.3] [--kind-fraction 0.3]
 *     [--paths 1,4] [--connect-rtts 2] [--max-conn 256] [--idle-s 90] [--grind 262144] [--seed 7] [--only KIND:FRACTION]
 *     [--real-joins 1] (share of the joins that run the node's own join; the rest: SimWorld.bulkJoin)
 *     [--alpha N] [--soft-ms N] [--quorum N] [--put-copies N] (DHT config overrides for experiments; default: the config defaults)
 *   env: DHT_SIM_NODES, DHT_SIM_READS, DHT_SIM_RECORDS override the defaults (the flags win).
 *
 * Rows: no adversaries; 'mix' (the six kinds in turn) at every fraction; each kind alone at --kind-fraction.
 */
import { IdentityPool, type GrindResult } from '../src/dht/sim/identities.js'
import { runScenario, type ScenarioResult } from '../src/dht/sim/scenario.js'
import type { Behaviour } from '../src/dht/sim/adversary.js'

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def
}
const env = (name: string, def: string): string => process.env[name] ?? def

const nodes = Number(arg('nodes', env('DHT_SIM_NODES', '10000')))
const reads = Number(arg('reads', env('DHT_SIM_READS', '300')))
const records = Number(arg('records', env('DHT_SIM_RECORDS', '50')))
const churn = Number(arg('churn', '0.3'))
const dead = Number(arg('dead', '0.25'))
const windowMs = Number(arg('window-s', '120')) * 1000
const kinds = arg('kinds', 'mix,drop,collude,forge,own,rollback,eclipse').split(',').filter(Boolean)
const fractions = arg('fractions', '0.1,0.2,0.3').split(',').map(Number)
const kindFraction = Number(arg('kind-fraction', '0.3'))
const paths = arg('paths', '1,4').split(',').map(Number)
const links = { connectRtts: Number(arg('connect-rtts', '2')), maxConnections: Number(arg('max-conn', '256')), idleMs: Number(arg('idle-s', '90')) * 1000 }
const grindBudget = Number(arg('grind', String(2 ** 18)))
const seed = Number(arg('seed', '7'))
const only = arg('only', '')
const realJoins = Number(arg('real-joins', '1'))
const config: Record<string, number> = {}
for (const [flag, key] of [['alpha', 'alpha'], ['soft-ms', 'softTimeoutMs'], ['quorum', 'getQuorum'], ['put-copies', 'putCopies']] as const) {
  const v = arg(flag, '')
  if (v) config[key] = Number(v)
}

const rows: { kind: Behaviour | 'mix' | 'none'; fraction: number }[] = [{ kind: 'none', fraction: 0 }]
if (kinds.includes('mix')) for (const f of fractions) rows.push({ kind: 'mix', fraction: f })
for (const k of kinds) if (k !== 'mix') rows.push({ kind: k as Behaviour, fraction: kindFraction })
const plan = only ? only.split(',').map((s) => { const [k, f] = s.split(':'); return { kind: k as Behaviour | 'mix' | 'none', fraction: Number(f ?? 0) } }) : rows

const pool = new IdentityPool(2, 8)
const grindCache = new Map<string, GrindResult>()
const results: ScenarioResult[] = []
const t0 = Date.now()
for (const row of plan) {
  for (const d of paths) {
    const r = await runScenario({
      nodes, paths: d, records, reads, churn, deadEntries: dead, windowMs, seed, links, pool, grindBudget, grindCache, realJoins, config,
      ...(row.kind === 'none' ? {} : { adversary: { kind: row.kind, fraction: row.fraction } }),
    })
    results.push(r)
    const q = r.reads
    process.stderr.write(`${row.kind} ${row.fraction} d=${d}: success ${r.successRate} correct ${r.correctRate} wrong ${r.wrongRate} rollback ${r.rollbackAccepted}` +
      ` | q1 correct ${q.first.correctRate} wrong ${q.first.wrongRate} | open correct ${q.open.correctRate} wrong ${q.open.wrongRate}` +
      ` | p50 ${r.lookupLatencyMs.p50} p95 ${r.lookupLatencyMs.p95} ms | joins ${r.churnDone.joins}+${r.churnDone.bulkJoins} bulk table ${r.churnDone.tableAfterJoin.p50} | wall ${r.wallMs} ms\n`)
  }
}
console.log(JSON.stringify({
  bench: 'dht-sim',
  machine: `${process.platform} ${process.arch}, node ${process.version}`,
  model: {
    rttMs: [20, 150], links, churn, deadEntries: dead, windowS: windowMs / 1000, k: 20, alpha: config.alpha ?? 3, getQuorum: config.getQuorum ?? 8, softTimeoutMs: config.softTimeoutMs ?? 400, rpcTimeoutMs: 5000,
    puzzles: { staticBits: 2, dynamicBits: 8 }, grindBudget, realJoins,
  },
  baseline: 'd = 1 (plain Kademlia lookup) in the same run',
  results,
  wallMs: Date.now() - t0,
}, null, 2))
