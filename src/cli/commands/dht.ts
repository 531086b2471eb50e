/** `zeone dht put|get|provide|providers|table`: talk to the running node's DHT through the control API. */
import type { CliIO, Command, ParsedArgs } from '../command.js'
import { flagString } from '../args.js'
import { controlCall } from '../control-client.js'
import { dataDirOf } from '../data-dir.js'

const COMMON = '[--config FILE] [--data-dir DIR] [--json]'
const KEYS = 'KEY is text (hashed with SHA-1) or 0x + 40 hex digits'


function out(args: ParsedArgs, io: CliIO, result: unknown, text: () => string): number {
  io.stdout.write(args.flags.json === true ? `${JSON.stringify(result)}\n` : `${text()}\n`)
  return 0
}

interface Shown { utf8?: string; base64: string }
const showValue = (v: Shown): string => v.utf8 ?? `base64:${v.base64}`

const put: Command = {
  name: 'dht put',
  summary: 'sign VALUE and store it under KEY on the closest nodes (republished while the node runs)',
  usage: `dht put KEY VALUE [--encoding utf8|hex|base64] ${COMMON}  (${KEYS})`,
  async run(args, io) {
    const [key, value] = args.positionals
    if (key === undefined || value === undefined) { io.stderr.write(`usage: zeone ${this.usage}\n`); return 2 }
    const r = await controlCall(await dataDirOf(args), 'POST', '/v1/dht/put', { body: { key, value, encoding: flagString(args, 'encoding') ?? 'utf8' }, timeoutMs: 60_000 }) as { key: string; seq: number; storedOn: number }
    return out(args, io, r, () => `stored ${r.key} (seq ${r.seq}) on ${r.storedOn} node${r.storedOn === 1 ? '' : 's'}`)
  },
}

const get: Command = {
  name: 'dht get',
  summary: 'read the newest signed value under KEY from one publisher (this node unless --publisher); --publisher any lists every publisher',
  usage: `dht get KEY [--publisher self|any|NODE_ID_B64] ${COMMON}  (${KEYS})`,
  async run(args, io) {
    const key = args.positionals[0]
    if (key === undefined) { io.stderr.write(`usage: zeone ${this.usage}\n`); return 2 }
    const pub = flagString(args, 'publisher') ?? 'self'
    const q = new URLSearchParams({ key, publisher: pub })
    type One = { found: boolean; signed?: boolean; publisher?: string; seq?: number; value?: Shown; values?: (Omit<One, 'values'>)[] }
    const r = await controlCall(await dataDirOf(args), 'GET', `/v1/dht/get?${q}`, { timeoutMs: 60_000 }) as One
    if (!r.found) { if (args.flags.json === true) io.stdout.write(`${JSON.stringify(r)}\n`); else io.stderr.write(pub === 'self' ? 'not found (this node has no value under KEY; --publisher names another)\n' : 'not found\n'); return 1 }
    if (r.values) {
      // open key: a set, one line per publisher, never a single winner
      return out(args, io, r, () => r.values!.map((v) => `${v.signed ? `${v.publisher} seq ${v.seq}` : 'unsigned-v0'}\t${showValue(v.value!)}`).join('\n'))
    }
    if (args.flags.json !== true) io.stderr.write(`signed by ${r.publisher}${pub === 'self' ? ' (this node)' : ''}, seq ${r.seq}\n`)
    return out(args, io, r, () => showValue(r.value!))
  },
}

const provide: Command = {
  name: 'dht provide',
  summary: 'announce that this node provides KEY (signed provider record, re-announced while the node runs)',
  usage: `dht provide KEY [--data TEXT] ${COMMON}  (${KEYS})`,
  async run(args, io) {
    const key = args.positionals[0]
    if (key === undefined) { io.stderr.write(`usage: zeone ${this.usage}\n`); return 2 }
    const data = flagString(args, 'data')
    const r = await controlCall(await dataDirOf(args), 'POST', '/v1/dht/provide', { body: { key, ...(data !== undefined ? { data } : {}) }, timeoutMs: 60_000 }) as { key: string; storedOn: number }
    return out(args, io, r, () => `providing ${r.key} (announced on ${r.storedOn} node${r.storedOn === 1 ? '' : 's'})`)
  },
}

const providers: Command = {
  name: 'dht providers',
  summary: 'list the nodes that provide KEY',
  usage: `dht providers KEY [--limit N] ${COMMON}  (${KEYS})`,
  async run(args, io) {
    const key = args.positionals[0]
    if (key === undefined) { io.stderr.write(`usage: zeone ${this.usage}\n`); return 2 }
    const q = new URLSearchParams({ key, limit: flagString(args, 'limit') ?? '20' })
    const r = await controlCall(await dataDirOf(args), 'GET', `/v1/dht/providers?${q}`, { timeoutMs: 60_000 }) as { providers: { nodeId: string; addrs: { host: string; port: number }[]; expires: number; data?: Shown }[] }
    return out(args, io, r, () => r.providers.length === 0 ? 'no providers found' : r.providers.map((p) =>
      `${p.nodeId}  ${p.addrs.map((a) => `${a.host}:${a.port}`).join(',') || '-'}  expires ${new Date(p.expires).toISOString()}${p.data ? `  ${showValue(p.data)}` : ''}`).join('\n'))
  },
}

const table: Command = {
  name: 'dht table',
  summary: 'routing table summary: entries per bucket, stored records',
  usage: `dht table ${COMMON}`,
  async run(args, io) {
    const r = await controlCall(await dataDirOf(args), 'GET', '/v1/dht/table') as { dhtId: string; size: number; buckets: { bucket: number; size: number; replacements: number }[]; storedKeys: number; storedBytes: number; legacyPeers: number }
    return out(args, io, r, () => [
      `dht id ${r.dhtId}: ${r.size} contacts, ${r.storedKeys} stored keys (${r.storedBytes} bytes), ${r.legacyPeers} v0 peers`,
      'bucket  size  replacements  fill',
      ...r.buckets.map((b) => `${String(b.bucket).padStart(6)}  ${String(b.size).padStart(4)}  ${String(b.replacements).padStart(12)}  ${'#'.repeat(b.size)}`),
    ].join('\n'))
  },
}

export const commands: Command[] = [put, get, provide, providers, table]
