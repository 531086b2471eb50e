/**
 * Chain commands: chain devnet|deploy|bind|status|advance, deposit, stake, settle, gov propose|vote|queue|execute|state.
 * Only names and help live here; ./chain-run.ts (viem, the EVM) loads when a chain command runs.
 */
import type { Command } from '../command.js'

const COMMON = '[--config FILE] [--data-dir DIR] [--rpc URL] [--key-file F | --dev-account N]'

const lazy = (name: string, summary: string, usage: string): Command => ({
  name, summary, usage,
  async run(args, io) {
    const { runs } = await import('./chain-run.js')
    return runs[name]!(args, io)
  },
})

const gov = {
  vote: 'vote for|against|abstain on a proposal', queue: 'queue a succeeded proposal in the timelock',
  execute: 'execute a queued proposal after the timelock delay', state: "show a proposal's state and actions",
}

export const commands: Command[] = [
  lazy('chain devnet', 'run a local EVM JSON-RPC on loopback with every contract deployed, until SIGINT',
    'chain devnet [--host 127.0.0.1] [--port 8545] [--accounts N] [--data-dir DIR]'),
  lazy('chain deploy', 'deploy and wire every contract on a JSON-RPC endpoint (governance defaults: 7-day delay/period, 2-day timelock; '
    + 'no --reporter: stake-only votes until 3 reporters exist)',
  `chain deploy --rpc URL [--reporter ADDR]... [--trust-min-reports N] [--guardian ADDR] ${COMMON}`),
  lazy('chain bind', "bind this node's Ed25519 identity to its EVM key (needed before cheques can be cashed against it)", `chain bind ${COMMON}`),
  lazy('chain status', 'addresses, balances, stake and governed parameters', `chain status ${COMMON}`),
  lazy('chain advance', "devnet only: move the chain's clock forward (governance deadlines, unbonding) and mine a block",
    `chain advance DURATION (90, 90s, 15m, 2h, 7d) ${COMMON}`),
  lazy('stake', 'stake ZEO, or: stake status | unstake AMOUNT | withdraw | provider exit|cdn|inference|storage MBPS',
    `stake AMOUNT | stake status | stake unstake AMOUNT | stake withdraw | stake provider KIND MBPS ${COMMON}`),
  lazy('deposit', 'deposit ZEO in the settlement escrow (what creditors cash our cheques from), or: deposit status | withdraw-request | withdraw AMOUNT',
    `deposit AMOUNT | deposit status | deposit withdraw-request | deposit withdraw AMOUNT ${COMMON}`),
  lazy('settle', "cash the latest on-chain cheques held in the node's ledger (or given with --cheque HEX); prints each cheque's outcome; "
    + 'exit 0 when at least one was paid or none needed paying, 1 when cheques were due and none could be cashed',
  `settle [--ledger FILE] [--cheque HEX]... ${COMMON}`),
  lazy('gov propose', 'propose parameter changes (deposit 1000 ZEO): --param fee_vpn=1200 --model HASH[:off] --description TEXT',
    `gov propose --param NAME=VALUE... [--model 0xHASH[:off]]... --description TEXT ${COMMON}`),
  lazy('gov list', 'every proposal with its short id and state', `gov list ${COMMON}`),
  ...(['vote', 'queue', 'execute', 'state'] as const).map((n) => lazy(`gov ${n}`, gov[n], `gov ${n} ID${n === 'vote' ? ' for|against|abstain' : ''} ${COMMON}  (ID: the decimal id, its short form 0x1234abcd, or last)`)),
]
