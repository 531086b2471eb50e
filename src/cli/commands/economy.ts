/** `zeone balance [PEER]`, `zeone trust [PEER]`, `zeone iou list`: the running node's ledger via the control API. */
import { resolve } from 'node:path'
import type { CliIO, Command, ParsedArgs } from '../command.js'
import { controlCall } from '../control-client.js'
import { configFromArgs } from './node.js'

const COMMON = '[--config FILE] [--data-dir DIR] [--json]'
const dataDirOf = (args: ParsedArgs): string => resolve(configFromArgs(args).config.dataDir)

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

const balance: Command = {
  name: 'balance',
  summary: 'credit balances with peers (micro-credits; positive = the peer owes us)',
  usage: `balance [PEER] ${COMMON}`,
  async run(args, io) {
    const r = await controlCall(dataDirOf(args), 'GET', `/v1/economy/balance${peerQuery(args)}`) as { debtLimit: string; total?: string; peers: Row[] }
    return print(args, io, r, () => `${table(r.peers, ['peer', 'balance', 'served', 'consumed', 'charged', 'billed', 'paidIn', 'paidOut'])}\n` +
      `${r.total !== undefined ? `total ${r.total}  ` : ''}debt limit ${r.debtLimit} (micro-credits)`)
  },
}

const trust: Command = {
  name: 'trust',
  summary: 'trust scores: behaviour (EMA), stake-weighted effective score, blacklist',
  usage: `trust [PEER] ${COMMON}`,
  async run(args, io) {
    const r = await controlCall(dataDirOf(args), 'GET', `/v1/economy/trust${peerQuery(args)}`) as { peers: Array<Record<string, unknown>> }
    const rows = r.peers.map((p) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, v === undefined ? '' : String(v)])))
    return print(args, io, r, () => table(rows, ['peer', 'behavior', 'effective', 'stakeWei', 'blacklisted', 'events', 'reason']))
  },
}

const iouList: Command = {
  name: 'iou list',
  summary: 'latest cumulative cheques given and held, with redemption/default status',
  usage: `iou list ${COMMON}`,
  async run(args, io) {
    const r = await controlCall(dataDirOf(args), 'GET', '/v1/economy/iou') as { cheques: Array<Record<string, unknown>> }
    const rows = r.cheques.map((c) => Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v === undefined ? '' : String(v)])))
    return print(args, io, r, () => table(rows, ['direction', 'debtor', 'creditor', 'amount', 'serial', 'expires', 'status']))
  },
}

export const commands: Command[] = [balance, trust, iouList]
