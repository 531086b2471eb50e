/** `zeone nat` (NAT type and public address) and `zeone connect NODE_ID` (reach a peer, show the path chosen). */
import type { CliIO, Command, ParsedArgs } from '../command.js'
import { flagString } from '../args.js'
import { controlCall } from '../control-client.js'
import { dataDirOf } from '../data-dir.js'

const COMMON = '[--config FILE] [--data-dir DIR] [--json]'

function out(args: ParsedArgs, io: CliIO, result: unknown, text: () => string): number {
  io.stdout.write(args.flags.json === true ? `${JSON.stringify(result)}\n` : `${text()}\n`)
  return 0
}

interface NatInfo {
  mapping: string; filtering: string; publicAddr: { host: string; port: number }; localPort: number
  stunServers: string[]; relay: { enabled: boolean; useRelays: boolean; maxCircuits: number; circuits: number }
}

const nat: Command = {
  name: 'nat',
  summary: 'show the NAT mapping/filtering behaviour (RFC 5780) and the public address of the running node',
  usage: `nat [--refresh] ${COMMON}`,
  async run(args, io) {
    const q = args.flags.refresh === true ? '?refresh=1' : ''
    const r = await controlCall(await dataDirOf(args), 'GET', `/v1/nat${q}`, { timeoutMs: 30_000 }) as NatInfo
    return out(args, io, r, () => [
      `mapping:   ${r.mapping}`,
      `filtering: ${r.filtering}`,
      `public:    ${r.publicAddr.port > 0 ? `${r.publicAddr.host}:${r.publicAddr.port}` : 'unknown (no STUN server configured)'}`,
      `udp port:  ${r.localPort}`,
      `relay:     ${r.relay.enabled ? `serving (${r.relay.circuits}/${r.relay.maxCircuits} circuits)` : 'not serving'}; ${r.relay.useRelays ? 'falls back to relays' : 'no relay fallback'}`,
    ].join('\n'))
  },
}

const connect: Command = {
  name: 'connect',
  summary: 'reach NODE_ID through NAT traversal (signalled via a rendezvous) and show the path chosen',
  usage: `connect NODE_ID_B64 [--via RENDEZVOUS_NODE_ID_B64] [--relay] ${COMMON}`,
  async run(args, io) {
    const nodeId = args.positionals[0]
    if (!nodeId) { io.stderr.write(`usage: zeone ${this.usage}\n`); return 2 }
    const via = flagString(args, 'via')
    const body = { nodeId, ...(via ? { via } : {}), relay: args.flags.relay === true }
    const r = await controlCall(await dataDirOf(args), 'POST', '/v1/nat/connect', { body, timeoutMs: 60_000 }) as {
      nodeId: string; path: string; ms: number; rttMs: number; remote: { host: string; port: number }; natPair: string; wireVersion: number
    }
    const how: Record<string, string> = {
      direct: 'direct UDP (hole punched)', birthday: 'direct UDP (birthday punch through a symmetric NAT)',
      relay: 'relayed (end-to-end encrypted through a relay node)', existing: 'already connected',
      tcp: 'direct TCP (simultaneous open)', turn: 'relayed through a TURN server (end-to-end encrypted)',
    }
    return out(args, io, r, () => [
      `connected to ${r.nodeId}`,
      `path:      ${how[r.path] ?? r.path} via ${r.remote.host}:${r.remote.port}`,
      `nat pair:  ${r.natPair}`,
      `setup:     ${r.ms} ms, rtt ${r.rttMs} ms, wire v${r.wireVersion}`,
    ].join('\n'))
  },
}

export const commands: Command[] = [nat, connect]
