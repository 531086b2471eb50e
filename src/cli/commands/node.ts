/** Node commands: start, id, ping, peers. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { CliIO, Command, ParsedArgs } from '../command.js'
import { flagBool, flagList, flagString } from '../args.js'
import { controlCall } from '../control-client.js'
import { configFromAssignments, loadConfig, mergeConfig, type PlainObject } from '../../ops/config.js'
import type { ZeoneConfig } from '../../ops/config-schema.js'
import { createNode, parseHostPort } from '../../node.js'
import { loadOrCreateIdentity } from '../../crypto/identity.js'
import type { PeerInfo } from '../../ops/node-control.js'
import { pingPeer } from '../ping.js'
import { ZeoneError } from '../../util/errors.js'

const num = (args: ParsedArgs, name: string): number | undefined => {
  const v = flagString(args, name)
  if (v === undefined) return undefined
  if (!/^-?\d+$/.test(v)) throw new ZeoneError('bad_flag', `--${name} expects an integer, got '${v}'`)
  return Number(v)
}

/** Turns the common flags into a partial config (the highest-precedence source). */
export function flagsToConfig(args: ParsedArgs): PlainObject {
  const node: PlainObject = {}
  const ops: PlainObject = {}
  const out: PlainObject = {}
  const port = num(args, 'port')
  if (port !== undefined) node.port = port
  const host = flagString(args, 'host')
  if (host !== undefined) node.host = host
  const boot = flagList(args, 'bootstrap')
  if (boot.length > 0) {
    node.bootstrap = boot.filter((b) => !b.startsWith('legacy://'))
    const legacy = boot.filter((b) => b.startsWith('legacy://')).map((b) => b.slice('legacy://'.length))
    if (legacy.length > 0) out.legacy = { bootstrap: legacy }
  }
  const legacyOn = flagBool(args, 'legacy')
  if (legacyOn !== undefined) node.legacy = legacyOn
  const dataDir = flagString(args, 'data-dir')
  if (dataDir !== undefined) out.dataDir = dataDir
  const httpPort = num(args, 'http-port')
  if (httpPort !== undefined) ops.httpPort = httpPort
  const level = flagString(args, 'log-level')
  if (level !== undefined) ops.logLevel = level
  if (Object.keys(node).length > 0) out.node = node
  if (Object.keys(ops).length > 0) out.ops = ops
  return mergeConfig(out, configFromAssignments(flagList(args, 'set')))
}

export function configFromArgs(args: ParsedArgs, env: NodeJS.ProcessEnv = process.env): { config: ZeoneConfig; file: string | undefined } {
  const file = flagString(args, 'config') ?? env.ZEONE_CONFIG
  return { config: loadConfig({ ...(file ? { file } : {}), env, flags: flagsToConfig(args) }), file }
}

/** The P2P default is every interface: the banner says so, so an operator is never surprised by who can reach the node. */
function allInterfacesNote(l: { host: string; port: number } | undefined): string {
  if (!l || (l.host !== '0.0.0.0' && l.host !== '::')) return ''
  return `note: P2P port ${l.port} listens on all interfaces (${l.host}); --host 127.0.0.1 keeps it on this machine\n`
}

const COMMON = '[--config FILE] [--data-dir DIR] [--set key.path=value]...'

const start: Command = {
  name: 'start',
  summary: 'run a node until SIGINT/SIGTERM (port 8468 by default)',
  usage: `start [--port N] [--host ADDR] [--bootstrap host:port|legacy://host:port]... [--no-legacy] [--http-port N] [--log-level L] ${COMMON}`,
  async run(args, io) {
    const { config, file } = configFromArgs(args)
    const node = createNode(config, file ? { configSources: { file, env: process.env, flags: flagsToConfig(args) } } : {})
    let onSignal: (sig: string) => void = () => {}
    const stopped = new Promise<void>((res) => {
      onSignal = (sig: string): void => {
        io.stderr.write(`zeone: ${sig} received, stopping\n`)
        node.stop().then(res, res)
      }
      node.signal.addEventListener('abort', () => { node.stop().then(res, res) })
    })
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    try {
      await node.start()
    } catch (err) {
      process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal)
      throw err
    }
    const l = node.listenAddress
    const h = node.httpAddress
    io.stdout.write(`node id: ${node.identity.nodeIdB64}\ndht id: ${node.identity.dhtIdHex}\n`)
    io.stdout.write(`listening: ${l ? `${l.host}:${l.port}` : '-'}\nhttp: ${h ? `${h.host}:${h.port}` : '-'}\ncontrol: ${node.control?.path ?? '-'}\nlegacy: ${config.node.legacy ? 'on' : 'off'}\n${allInterfacesNote(l)}`)
    await stopped
    process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal)
    return 0
  },
}

const id: Command = {
  name: 'id',
  summary: 'print this node\'s id (base64 public key) and DHT id, creating the identity if missing',
  usage: `id [--json] ${COMMON}`,
  async run(args, io) {
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
    const { config } = configFromArgs(args)
    const list = await controlCall(resolve(config.dataDir), 'GET', '/v1/peers') as PeerInfo[]
    if (args.flags.json === true) { io.stdout.write(`${JSON.stringify(list)}\n`); return 0 }
    if (list.length === 0) { io.stdout.write('no peers\n'); return 0 }
    for (const p of list) {
      io.stdout.write(`${p.nodeId}  v${p.version}  ${p.outbound ? 'out' : 'in '}  remote ${p.remote}  listen ${p.listen ?? '-'}  ${p.capabilities.join(',')}\n`)
    }
    return 0
  },
}

export const commands: Command[] = [start, id, ping, peers]
