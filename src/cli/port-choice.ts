/**
 * Which ports `zeone start` asks the node for, so that several nodes run on one machine with only `--data-dir`
 * apart. A port the operator set (flag, --set, ZEONE_* env or config file) is used as is: a clash is an error that
 * names the listener and the flag (util/listen.ts). A port left at its default is only a preference:
 * - a node started with `--data-dir DIR` (how a second node on a machine is run) never takes the defaults from the
 *   main node: P2P and HTTP use the ports DIR had last time (ports.json) when free, else ports derived from DIR's
 *   path (P2P 18469-28468, HTTP that + 10000: stable across restarts, so a firewall rule can name them), else free
 *   ones;
 * - otherwise (the default ./.zeone, or a data dir from a config file or ZEONE_DATA_DIR as in the systemd unit and
 *   the Dockerfile) the defaults 8468 / 9468, each replaced by a free port when taken.
 * The banner and <dataDir>/ports.json (which `zeone infer` and `zeone api` read) show what was bound.
 */
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { configFromEnv, mergeConfig, readConfigFile, type PlainObject } from '../ops/config.js'
import type { ZeoneConfig } from '../ops/config-schema.js'
import { PORTS_FILE } from './ports-file.js'

export interface PortChoice {
  /** Overrides for node.port / ops.httpPort (empty when the configured ports stand). */
  flags: PlainObject
  /** One line per port that moved off its default, for the banner. */
  notes: string[]
  /** Which ports may still be moved if the listener loses a race for them at bind time. */
  movable: { p2p: boolean; http: boolean }
}

export interface Explicit { p2p: boolean; http: boolean; dataDirFlag: boolean }

const get = (o: PlainObject, path: string[]): unknown =>
  path.reduce<unknown>((cur, k) => (cur !== null && typeof cur === 'object' ? (cur as PlainObject)[k] : undefined), o)

/** What the operator wrote: node.port / ops.httpPort set anywhere; the data dir given on the command line. */
export function explicitPorts(file: string | undefined, env: NodeJS.ProcessEnv, flags: PlainObject): Explicit {
  const raw = mergeConfig(file ? readConfigFile(file) : undefined, configFromEnv(env), flags)
  return { p2p: get(raw, ['node', 'port']) !== undefined, http: get(raw, ['ops', 'httpPort']) !== undefined, dataDirFlag: get(flags, ['dataDir']) !== undefined }
}

/** Whether host:port can be bound now (a probe; the real bind can still lose a race, see `movable`). */
export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer()
    s.once('error', () => res(false))
    s.listen({ port, host, exclusive: true }, () => s.close(() => res(true)))
  })
}

function previousPorts(dataDir: string): { p2p?: number; http?: number } {
  const ok = (p: unknown): number | undefined => typeof p === 'number' && Number.isInteger(p) && p > 0 && p < 65536 ? p : undefined
  try {
    const text = readFileSync(join(dataDir, PORTS_FILE), 'utf8')
    if (text.length > 4096) return {}
    const v = JSON.parse(text) as { p2p?: { port?: unknown }; http?: { port?: unknown } }
    const p2p = ok(v.p2p?.port), http = ok(v.http?.port)
    return { ...(p2p ? { p2p } : {}), ...(http ? { http } : {}) }
  } catch { return {} }
}

/** The P2P port `--data-dir DIR` prefers: 18469 + (SHA-256 of DIR's absolute path mod 10000); HTTP: that + 10000. */
export function derivedPorts(dataDir: string): { p2p: number; http: number } {
  const p2p = 18_469 + createHash('sha256').update(resolve(dataDir)).digest().readUInt32BE(0) % 10_000
  return { p2p, http: p2p + 10_000 }
}

async function pick(host: string, candidates: Array<[number | undefined, string]>): Promise<[number, string]> {
  for (const [port, why] of candidates) if (port !== undefined && await portFree(host, port)) return [port, why]
  return [0, 'the preferred ports are taken: a free one']
}

export async function choosePorts(config: ZeoneConfig, explicit: Explicit): Promise<PortChoice> {
  const flags: PlainObject = {}
  const notes: string[] = []
  const dataDir = resolve(config.dataDir)
  const movable = { p2p: !explicit.p2p && config.node.port > 0, http: !explicit.http && config.ops.httpPort > 0 }
  const prev = previousPorts(dataDir)
  const derived = derivedPorts(dataDir)
  const own = explicit.dataDirFlag
  const plan = (want: number, p: number | undefined, d: number): Array<[number | undefined, string]> => own
    ? [[p, 'the one this data dir used last time'], [d, 'derived from the --data-dir path']]
    : [[want, 'the default']]
  if (movable.p2p) {
    const want = config.node.port
    const [port, why] = await pick(config.node.host, plan(want, prev.p2p, derived.p2p))
    if (port !== want) {
      flags.node = { port }
      notes.push(`P2P port ${port === 0 ? 'above' : port} instead of ${want}: ${own ? '--data-dir names a second node; ' : `${want} is taken; `}${why} (fix one with --port N)`)
    }
  }
  if (movable.http) {
    const want = config.ops.httpPort
    const [port, why] = await pick(config.ops.httpHost, plan(want, prev.http, derived.http))
    if (port !== want) {
      flags.ops = { httpPort: port }
      notes.push(`HTTP API port ${port === 0 ? 'above' : port} instead of ${want}: ${own ? '--data-dir names a second node; ' : `${want} is taken; `}${why}, recorded in ${join(dataDir, PORTS_FILE)} (fix one with --http-port N)`)
    }
  }
  return { flags, notes, movable }
}
