/** `zeone vpn status|exits|use EXIT`: the running node's VPN client and exit (src/services/vpn). */
import type { CliIO, Command, ParsedArgs } from '../command.js'
import { controlCall } from '../control-client.js'
import { dataDirOf } from '../data-dir.js'

const COMMON = '[--config FILE] [--data-dir DIR] [--json]'

function out(args: ParsedArgs, io: CliIO, result: unknown, text: () => string): number {
  io.stdout.write(args.flags.json === true ? `${JSON.stringify(result)}\n` : `${text()}\n`)
  return 0
}

interface Status {
  socks: { host: string; port: number } | null; auth: boolean; pinned: string | null; openStreams: number
  exit: { enabled: boolean; streams?: number; opened?: number; refused?: Record<string, number>; policyDigest?: string; pricePerMiB?: string; policy?: string[] }
}

interface ExitRow {
  nodeId: string; addrs: Array<{ host: string; port: number }>; source: string; rttMs: number | null; pricePerMiB: string | null
  capacityMbps: number | null; region: string | null; score: number | null; excluded: string | null; dead: boolean; lastError: string | null; carriedBytes: string
}

const status: Command = {
  name: 'vpn status',
  summary: 'show the SOCKS5 port, the pinned exit, open streams, and (on an exit) its streams, refusals and policy',
  usage: `vpn status ${COMMON}`,
  async run(args, io) {
    const r = await controlCall(await dataDirOf(args), 'GET', '/v1/vpn/status') as Status
    return out(args, io, r, () => [
      `socks:   ${r.socks ? `${r.socks.host}:${r.socks.port}${r.auth ? ' (username/password)' : ''}` : 'off (set vpn.socks.port)'}`,
      `exit:    ${r.pinned ? `pinned ${r.pinned}` : 'automatic (best ranked)'}; ${r.openStreams} streams open`,
      r.exit.enabled
        ? `serving: ${r.exit.streams} streams, ${r.exit.opened} opened, refused ${JSON.stringify(r.exit.refused)}, ${r.exit.pricePerMiB} micro-credits/MiB, policy ${r.exit.policyDigest?.slice(0, 16)}\n` +
          (r.exit.policy ?? []).map((l) => `         ${l}`).join('\n')
        : 'serving: not an exit (set vpn.exit.enabled)',
    ].join('\n'))
  },
}

const exits: Command = {
  name: 'vpn exits',
  summary: 'list known VPN exits ranked by RTT, price and trust (--refresh looks them up in the DHT and measures RTT)',
  usage: `vpn exits [--refresh] ${COMMON}`,
  async run(args, io) {
    const q = args.flags.refresh === true ? '?refresh=1' : ''
    const r = await controlCall(await dataDirOf(args), 'GET', `/v1/vpn/exits${q}`, { timeoutMs: 60_000 }) as ExitRow[]
    return out(args, io, r, () => r.length === 0 ? 'no exits known (configure vpn.socks.exits or run with --refresh)' : r.map((e) => [
      `${e.nodeId} ${e.addrs.map((a) => `${a.host}:${a.port}`).join(',')} [${e.source}]`,
      `  rtt ${e.rttMs ?? '?'} ms, ${e.pricePerMiB ?? '?'} micro-credits/MiB, ${e.capacityMbps ?? '?'} Mbps, region '${e.region ?? ''}', carried ${e.carriedBytes} B`,
      `  ${e.excluded ? `excluded: ${e.excluded}` : `score ${e.score?.toFixed(2)}`}${e.dead ? ` (dead: ${e.lastError})` : ''}`,
    ].join('\n')).join('\n'))
  },
}

const use: Command = {
  name: 'vpn use',
  summary: "send new streams to EXIT (NODE_ID_B64 or NODE_ID_B64@host:port); 'auto' goes back to the best ranked",
  usage: `vpn use EXIT|auto ${COMMON}`,
  async run(args, io) {
    const exit = args.positionals[0]
    if (!exit) { io.stderr.write(`usage: zeone ${this.usage}\n`); return 2 }
    const r = await controlCall(await dataDirOf(args), 'POST', '/v1/vpn/use', { body: { exit } }) as { pinned: string | null }
    return out(args, io, r, () => (r.pinned ? `new streams go to ${r.pinned}` : 'exit chosen automatically'))
  },
}

export const commands: Command[] = [status, exits, use]
