/**
 * `zeone devnet`: a whole local network in one process (chain with the contracts, N staked and bound nodes, a tiny
 * model split across two of them, one VPN exit). Only the name and help live here; ./devnet-run.ts loads when it runs.
 */
import type { Command } from '../command.js'

const devnet: Command = {
  name: 'devnet',
  summary: 'run a local network on loopback: EVM chain with the contracts, N staked and bound nodes, a tiny model, one exit; Ctrl-C stops it',
  usage: 'devnet [--nodes 3] [--dir DIR] [--no-model] [--no-exit]',
  async run(args, io) {
    const { runDevnet } = await import('./devnet-run.js')
    return runDevnet(args, io)
  },
}

export const commands: Command[] = [devnet]
