/**
 * `<dataDir>/ports.json`: the addresses a started node actually bound (a port of 0 means "any free one"), so the
 * CLI finds that node's HTTP API without being told the port. Written by `zeone start` after binding.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export const PORTS_FILE = 'ports.json'
const MAX_BYTES = 4096

interface Addr { host: string; port: number }

export function writePortsFile(dataDir: string, ports: { p2p?: Addr | undefined; http?: Addr | undefined }): void {
  const file = join(dataDir, PORTS_FILE)
  writeFileSync(`${file}.tmp`, `${JSON.stringify({ ...ports, pid: process.pid })}\n`, { mode: 0o600 })
  renameSync(`${file}.tmp`, file)
}

const hostOf = (h: string): string => h === '0.0.0.0' ? '127.0.0.1' : h === '::' ? '[::1]' : h.includes(':') ? `[${h}]` : h
const validAddr = (a: Addr | undefined): a is Addr =>
  !!a && typeof a.host === 'string' && a.host.length <= 255 && Number.isInteger(a.port) && a.port >= 1 && a.port <= 65535

/** The running node's P2P address as host:port to dial from this machine (0.0.0.0 -> 127.0.0.1), or undefined. */
export function runningP2pAddr(dataDir: string): string | undefined {
  const v = livePorts(dataDir)
  return v && validAddr(v.p2p) ? `${hostOf(v.p2p.host)}:${v.p2p.port}` : undefined
}

/** The running node's HTTP API as a URL, or undefined (no file, a malformed one, or a node that has exited). */
export function runningHttpUrl(dataDir: string): string | undefined {
  const v = livePorts(dataDir)
  return v && validAddr(v.http) ? `http://${hostOf(v.http.host)}:${v.http.port}` : undefined
}

function livePorts(dataDir: string): { p2p?: Addr; http?: Addr } | undefined {
  let v: { p2p?: Addr; http?: Addr; pid?: number }
  try {
    const text = readFileSync(join(dataDir, PORTS_FILE), 'utf8')
    if (text.length > MAX_BYTES) return undefined
    v = JSON.parse(text) as typeof v
  } catch { return undefined }
  if (v === null || typeof v !== 'object') return undefined
  if (typeof v.pid !== 'number' || !Number.isInteger(v.pid) || v.pid <= 0) return undefined
  try { process.kill(v.pid, 0) } catch (err) { if ((err as NodeJS.ErrnoException).code === 'ESRCH') return undefined }
  return v
}
