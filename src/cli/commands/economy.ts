/** `zeone balance [PEER]`, `zeone trust [PEER]`, `zeone iou list`: the running node's ledger via the control API. */
import type { CliIO, Command, ParsedArgs } from '../command.js'
import { controlCall } from '../control-client.js'
import { dataDirOf } from '../data-dir.js'

const COMMON = '[--config FILE] [--data-dir DIR] [--json]'

function print(args: ParsedArgs, io: CliIO, result: unknown, text: () => string): number {
  io.stdout.write(args.flags.json === true ? `${JSON.stringify(result)}\n` : `${text()}\n`)
  return 0
}

const peerQuery = (args: ParsedArgs): string => {
  const p = args.positionals[0]
  return p ? `?${new URLSearchParams({ peer: p })}` : ''
}

type Row = Record<string, string>
function table(rows: Row[], cols: string[]): string {
  if (rows.length === 0) return '(none)'
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => (r[c] ?? '').length)))
  const line = (r: Row): string => cols.map((c, i) => (r[c] ?? '').padEnd(w[i]!)).join('  ').trimEnd()
  return [line(Object.fromEntries(cols.map((c) => [c, c]))), ...rows.map(line)].join('\n')
}

// what each column means, under the table (stdout; --json carries only the data)
const BALANCE_LEGEND = [
  'amounts in micro-credits (1 credit = 1,000,000):',
  '  balance   what the peer owes us (negative: what we owe it) = served + charged - consumed - billed - paidIn + paidOut',
  '  served    traffic we delivered to the peer (metered)    consumed  traffic the peer delivered to us',
  '  charged   service charges we billed the peer            billed    service charges the peer billed us',
  '  paidIn    cheques the peer gave us       paidOut cheques we gave the peer',
  '  debt limit: the most a peer may owe us before we stop serving it',
].join('\n')
const TRUST_LEGEND = [
  '  behavior   0..1: moving average of how the peer behaved (1 = every interaction good, 0 = blacklisted)',
  '  effective  behavior x sqrt(stake / base stake): NOT capped at 1; 1.0 = perfect behavior at exactly the base stake',
  '             (economy.trust.baseStake), 4x the base stake doubles it, no stake makes it 0. Serving without',
  '             collateral needs effective >= min (economy.trust.min, or governed min_trust_score)',
  '  stakeWei   the peer\'s stake as read from chain or config (wei)    serving: would we serve it, and if not why',
  '  events     interactions counted                                   reason: last event that changed the score',
].join('\n')

const balance: Command = {
  name: 'balance',
  summary: 'credit balances with peers (micro-credits; positive = the peer owes us)',
  usage: `balance [PEER] ${COMMON}`,
  async run(args, io) {
    const r = await controlCall(await dataDirOf(args), 'GET', `/v1/economy/balance${peerQuery(args)}`) as { debtLimit: string; total?: string; peers: Row[] }
    return print(args, io, r, () => `${table(r.peers, ['peer', 'balance', 'served', 'consumed', 'charged', 'billed', 'paidIn', 'paidOut'])}\n` +
      `${r.total !== undefined ? `total ${r.total}  ` : ''}debt limit ${r.debtLimit} (micro-credits)\n${BALANCE_LEGEND}`)
  },
}

const trust: Command = {
  name: 'trust',
  summary: 'trust scores: behaviour (EMA), stake-weighted effective score, blacklist',
  usage: `trust [PEER] ${COMMON}`,
  async run(args, io) {
    const r = await controlCall(await dataDirOf(args), 'GET', `/v1/economy/trust${peerQuery(args)}`) as { minTrust?: number; peers: Array<Record<string, unknown>> }
    const rows = r.peers.map((p) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v === undefined ? '' : String(v)])))
    return print(args, io, r, () => `${table(rows, ['peer', 'behavior', 'effective', 'stakeWei', 'serving', 'events', 'reason'])}\n` +
      `${r.minTrust !== undefined ? `min ${r.minTrust} (effective trust needed to be served without collateral)\n` : ''}${TRUST_LEGEND}`)
  },
}

const iouList: Command = {
  name: 'iou list',
  summary: 'latest cumulative cheques given and held, with redemption/default status',
  usage: `iou list ${COMMON}`,
  async run(args, io) {
    const r = await controlCall(await dataDirOf(args), 'GET', '/v1/economy/iou') as { cheques: Array<Record<string, unknown>> }
    const rows = r.cheques.map((c) => Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v === undefined ? '' : String(v)])))
    return print(args, io, r, () => table(rows, ['direction', 'debtor', 'creditor', 'amount', 'serial', 'expires', 'status']))
  },
}

export const commands: Command[] = [balance, trust, iouList]
