/** Node commands: start, id, ping, peers. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { CliIO, Command } from '../command.js'
import { ZeoneError } from '../../util/errors.js'
import { controlCall } from '../control-client.js'
import { dataDirOf } from '../data-dir.js'
import type { PeerInfo } from '../../ops/node-control.js'

// The node, the config schema and the transport are loaded by the command that needs them (fast `zeone help`).
const configArgs = () => import('../config-args.js')

const COMMON = '[--config FILE] [--data-dir DIR] [--set key.path=value]...'

const start: Command = {
  name: 'start',
  summary: 'run a node until SIGINT/SIGTERM (port 8468 by default)',
  usage: `start [--port N] [--host ADDR] [--bootstrap host:port|legacy://host:port]... [--no-legacy] [--http-port N] [--log-level L] ${COMMON}`,
  async run(args, io) {
    const { runNode } = await import('../run-node.js')
    return runNode(args, io)
  },
}

const id: Command = {
  name: 'id',
  summary: 'print this node\'s id (base64 public key) and DHT id, creating the identity if missing',
  usage: `id [--json] ${COMMON}`,
  async run(args, io) {
    const { configFromArgs } = await configArgs()
    const { loadOrCreateIdentity } = await import('../../crypto/identity.js')
    const { config } = configFromArgs(args)
    const { identity, created } = loadOrCreateIdentity(resolve(config.dataDir), { puzzleBits: config.dht.staticPuzzleBits })
    if (args.flags.json === true) io.stdout.write(`${JSON.stringify({ nodeId: identity.nodeIdB64, dhtId: identity.dhtIdHex, created })}\n`)
    else io.stdout.write(`node id: ${identity.nodeIdB64}\ndht id: ${identity.dhtIdHex}\n${created ? `(new identity created in ${resolve(config.dataDir)})\n` : ''}`)
    return 0
  },
}

const ping: Command = {
  name: 'ping',
  summary: 'connect to a node, print the handshake time and a PING round-trip time (legacy://host:port for v0 nodes)',
  usage: 'ping host:port|legacy://host:port [--count N] [--timeout MS] [--json]',
  async run(args, io) {
    const target = args.positionals[0]
    if (!target) { io.stderr.write(`usage: zeone ${this.usage}\n`); return 2 }
    const { intFlag } = await configArgs()
    const { parseHostPort } = await import('../../node.js')
    const { pingPeer } = await import('../ping.js')
    const num = intFlag
    const legacy = target.startsWith('legacy://')
    const addr = parseHostPort(legacy ? target.slice('legacy://'.length) : target)
    const tmp = mkdtempSync(join(tmpdir(), 'zeone-ping-'))
    try {
      const r = await pingPeer(addr, { legacy, count: num(args, 'count') ?? 1, timeoutMs: num(args, 'timeout') ?? 10_000, dataDir: tmp })
      if (args.flags.json === true) io.stdout.write(`${JSON.stringify(r)}\n`)
      else {
        io.stdout.write(`connected to ${r.nodeId} (v${r.version}) at ${addr.host}:${addr.port}\n`)
        io.stdout.write(`handshake: ${r.handshakeMs.toFixed(3)} ms\n`)
        for (const rtt of r.rttMs) io.stdout.write(`rtt: ${rtt.toFixed(3)} ms\n`)
      }
      return 0
    } finally {
      rmSync(tmp, { recursive: true, force: true })
    }
  },
}

const peers: Command = {
  name: 'peers',
  summary: 'list the running node\'s peers (asks it over its owner-only control socket)',
  usage: `peers [--json] ${COMMON}`,
  async run(args, io: CliIO) {
    const list = await controlCall(await dataDirOf(args), 'GET', '/v1/peers') as PeerInfo[]
    if (args.flags.json === true) { io.stdout.write(`${JSON.stringify(list)}\n`); return 0 }
    if (list.length === 0) { io.stdout.write('no peers\n'); return 0 }
    for (const p of list) {
      io.stdout.write(`${p.nodeId}  v${p.version}  ${p.outbound ? 'out' : 'in '}  remote ${p.remote}${p.via ? ` (${p.via})` : ''}  listen ${p.listen ?? '-'}  ${p.capabilities.join(',')}\n`)
    }
    return 0
  },
}

const addr: Command = {
  name: 'addr',
  summary: "the running node's addresses (from <dataDir>/ports.json): P2P host:port to dial, HTTP API URL, dashboard URL",
  usage: 'addr [--p2p | --http | --dashboard] [--data-dir DIR]   (one of them: just that value, for $(zeone addr --p2p))',
  async run(args, io) {
    const dir = await dataDirOf(args)
    const { runningHttpUrl, runningP2pAddr } = await import('../ports-file.js')
    const p2p = runningP2pAddr(dir), http = runningHttpUrl(dir)
    if (p2p === undefined && http === undefined) {
      throw new ZeoneError('not_running', `no running node has ${dir} as its data dir (no live ${join(dir, 'ports.json')}); start one with 'zeone start --data-dir ${dir}'`)
    }
    const dashboard = async (): Promise<string | undefined> => {
      if (http === undefined) return undefined
      const { readApiToken } = await import('../../ops/api-token.js')
      const token = readApiToken(dir)
      return `${http}/dashboard${token ? `#token=${token}` : ''}`
    }
    const only = args.flags.p2p === true ? p2p : args.flags.http === true ? http : args.flags.dashboard === true ? await dashboard() : null
    if (only !== null) {
      if (only === undefined) throw new ZeoneError('not_listening', 'the node has no such listener (disabled in its config)')
      io.stdout.write(`${only}\n`)
      return 0
    }
    io.stdout.write(`p2p: ${p2p ?? '-'}\nhttp: ${http ?? '-'}\ndashboard: ${(await dashboard()) ?? '-'}\n`)
    return 0
  },
}

export const commands: Command[] = [start, id, ping, peers, addr]
