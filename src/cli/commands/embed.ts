/** `zeone embed add|query|spaces|migrate`: the running node's vector store, through the owner-only control API. */
import { readFileSync } from 'node:fs'
import type { CliIO, Command, ParsedArgs } from '../command.js'
import { flagString } from '../args.js'
import { controlCall } from '../control-client.js'
import { dataDirOf } from '../data-dir.js'
import { ZeoneError } from '../../util/errors.js'

const COMMON = '[--space ID] [--data-dir DIR] [--json]'

const int = (args: ParsedArgs, name: string): number | undefined => {
  const v = flagString(args, name)
  if (v === undefined) return undefined
  if (!/^\d+$/.test(v)) throw new ZeoneError('bad_flag', `--${name} expects a non-negative integer, got '${v}'`)
  return Number(v)
}
const print = (args: ParsedArgs, io: CliIO, r: unknown, text: () => string): number => {
  io.stdout.write(args.flags.json === true ? `${JSON.stringify(r)}\n` : `${text()}\n`)
  return 0
}

const add: Command = {
  name: 'embed add',
  summary: 'embed texts and store them in the node\'s vector store (one text per argument, or one per line of --file)',
  usage: `embed add TEXT... [--key K] [--file FILE] ${COMMON}`,
  async run(args, io) {
    const file = flagString(args, 'file')
    const texts = file ? readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()) : args.positionals
    if (!texts.length) { io.stderr.write(`usage: zeone ${this.usage}\n`); return 2 }
    const key = flagString(args, 'key')
    if (key !== undefined && texts.length !== 1) throw new ZeoneError('bad_flag', '--key names one document: give one TEXT')
    const items = texts.map((text) => ({ text, ...(key !== undefined ? { key } : {}) }))
    const r = await controlCall(await dataDirOf(args), 'POST', '/v1/embed/add', { body: { items, space: int(args, 'space') }, timeoutMs: 300_000 }) as { space: number; keys: string[]; tokens: number }
    return print(args, io, r, () => `added ${r.keys.length} document${r.keys.length === 1 ? '' : 's'} to space ${r.space} (${r.tokens} tokens)\n${r.keys.join('\n')}`)
  },
}

const query: Command = {
  name: 'embed query',
  summary: 'the stored documents nearest in meaning to TEXT',
  usage: `embed query TEXT [--k N] ${COMMON}`,
  async run(args, io) {
    const text = args.positionals.join(' ')
    if (!text) { io.stderr.write(`usage: zeone ${this.usage}\n`); return 2 }
    type R = { space: number; reembedded: number; hits: { key: string; distance: number; text?: string }[] }
    const r = await controlCall(await dataDirOf(args), 'POST', '/v1/embed/query', { body: { text, k: int(args, 'k') ?? 10, space: int(args, 'space') }, timeoutMs: 120_000 }) as R
    return print(args, io, r, () => [`space ${r.space}${r.reembedded ? ` (${r.reembedded} re-embedded from the old space)` : ''}`,
      ...r.hits.map((h) => `${(1 - h.distance).toFixed(4)}\t${h.key}\t${(h.text ?? '').slice(0, 80)}`)].join('\n'))
  },
}

const spaces: Command = {
  name: 'embed spaces',
  summary: 'list the vector spaces (model id, version, weights root, dimension, metric), their sizes and any migration',
  usage: 'embed spaces [--data-dir DIR] [--json]',
  async run(args, io) {
    type S = { id: number; modelId: string; modelVersion: string; weightsRoot: string; dim: number; metric: string; status: string; count: number }
    type M = { from: number; to: number; done: number; total: number; running: boolean }
    const r = await controlCall(await dataDirOf(args), 'GET', '/v1/embed/spaces') as { default?: number; documents: number; spaces: S[]; migration: M | null }
    return print(args, io, r, () => [
      ...r.spaces.map((s) => `${s.id === r.default ? '*' : ' '} ${s.id}\t${s.modelId}@${s.modelVersion}\t${s.weightsRoot.slice(0, 16)}\t${s.dim}\t${s.metric}\t${s.status}\t${s.count} vectors`),
      `${r.documents} documents`,
      r.migration ? `migration ${r.migration.from} -> ${r.migration.to}: ${r.migration.done}/${r.migration.total}${r.migration.running ? ' (running)' : ' (paused)'}` : 'no migration',
    ].join('\n'))
  },
}

const migrate: Command = {
  name: 'embed migrate',
  summary: 're-embed every document into the default space in the background (resumes a recorded migration; --from/--to starts one; --wait blocks until done; --stop pauses)',
  usage: 'embed migrate [--from ID --to ID] [--wait] [--stop] [--data-dir DIR] [--json]',
  async run(args, io) {
    const body = { from: int(args, 'from'), to: int(args, 'to'), wait: args.flags.wait === true, action: args.flags.stop === true ? 'stop' : 'run' }
    type M = { from: number; to: number; done: number; total: number; running: boolean }
    const r = await controlCall(await dataDirOf(args), 'POST', '/v1/embed/migrate', { body, timeoutMs: body.wait ? 24 * 3600_000 : 30_000 }) as { migration: M | null; default?: number }
    return print(args, io, r, () => (r.migration ? `migration ${r.migration.from} -> ${r.migration.to}: ${r.migration.done}/${r.migration.total}${r.migration.running ? ' (running)' : ''}` : `no migration pending (default space ${r.default ?? '-'})`))
  },
}

export const commands: Command[] = [add, query, spaces, migrate]
