/** Content commands: publish a file or directory, fetch content by id (progress bar on a terminal), list. */
import { resolve } from 'node:path'
import type { CliIO, Command } from '../command.js'
import { flagList, flagString } from '../args.js'
import { controlCall } from '../control-client.js'
import { dataDirOf } from '../data-dir.js'
import { formatBytes, renderProgress, type Progress } from '../../content/progress.js'
import { ZeoneError } from '../../util/errors.js'

const COMMON = '[--config FILE] [--data-dir DIR] [--json]'
const POLL_MS = 250

interface PubInfo { id: string; contentId: string; files: { path: string; size: number }[]; announced?: boolean }
interface JobInfo {
  job: string; state: 'running' | 'done' | 'failed'; progress?: Progress
  error?: { code: string; message: string }
  result?: { files: string[]; chunksFetched: number; chunksResumed: number; badProviders: string[] }
}


const publish: Command = {
  name: 'publish',
  summary: 'publish a file or directory: sign its manifest, serve it and announce it in the DHT; prints the content id',
  usage: `publish PATH [--chunk-size BYTES] [--content-id NAME] [--version N] ${COMMON}`,
  async run(args, io) {
    const path = args.positionals[0]
    if (!path) { io.stderr.write(`usage: zeone ${this.usage}\n`); return 2 }
    const body: Record<string, unknown> = { path: resolve(path) }
    const cs = flagString(args, 'chunk-size')
    if (cs !== undefined) {
      if (!/^\d+$/.test(cs)) throw new ZeoneError('bad_flag', `--chunk-size expects bytes, got '${cs}'`)
      body.chunkSize = Number(cs)
    }
    const name = flagString(args, 'content-id')
    if (name !== undefined) body.contentId = name
    const ver = flagString(args, 'version')
    if (ver !== undefined) {
      if (!/^\d{1,15}$/.test(ver)) throw new ZeoneError('bad_flag', `--version expects a whole number like 2, got '${ver.slice(0, 40)}'`)
      body.version = Number(ver)
    }
    const r = await controlCall(await dataDirOf(args), 'POST', '/v1/content/publish', { body, timeoutMs: 3_600_000 }) as PubInfo
    if (args.flags.json === true) { io.stdout.write(`${JSON.stringify(r)}\n`); return 0 }
    const total = r.files.reduce((a, f) => a + f.size, 0)
    io.stdout.write(`${r.id}\n`)
    io.stderr.write(`published '${r.contentId}': ${r.files.length} file${r.files.length === 1 ? '' : 's'}, ${formatBytes(total)}${r.announced ? ', announced in the DHT' : ' (no DHT attached: fetch with --from)'}\n`)
    return 0
  },
}

const fetchCmd: Command = {
  name: 'fetch',
  summary: 'download content by id from its providers (found in the DHT, or --from host:port), verifying every chunk',
  usage: `fetch ID --out DIR [--from host:port]... ${COMMON}`,
  async run(args, io: CliIO) {
    const id = args.positionals[0]
    const out = flagString(args, 'out')
    if (!id || !out) { io.stderr.write(`usage: zeone ${this.usage}\n`); return 2 }
    const dataDir = await dataDirOf(args)
    const started = await controlCall(dataDir, 'POST', '/v1/content/fetch', { body: { id: id.toLowerCase(), outDir: resolve(out), from: flagList(args, 'from') }, timeoutMs: 120_000 }) as JobInfo
    const tty = io.stderr === process.stderr && process.stderr.isTTY === true && args.flags.json !== true
    let info = started
    while (info.state === 'running') {
      await new Promise((r) => setTimeout(r, POLL_MS))
      info = await controlCall(dataDir, 'GET', `/v1/content/jobs?job=${encodeURIComponent(started.job)}`) as JobInfo
      if (tty && info.progress) io.stderr.write(`\r${renderProgress(info.progress, process.stderr.columns ?? 80)}`)
    }
    if (tty) io.stderr.write('\n')
    if (args.flags.json === true) io.stdout.write(`${JSON.stringify(info)}\n`)
    if (info.state === 'failed') {
      if (args.flags.json !== true) io.stderr.write(`fetch failed (${info.error?.code}): ${info.error?.message}\n`)
      return 1
    }
    if (args.flags.json !== true && info.result) {
      for (const f of info.result.files) io.stdout.write(`${f}\n`)
      io.stderr.write(`verified ${info.result.chunksFetched} chunks fetched, ${info.result.chunksResumed} resumed${info.result.badProviders.length ? `; bad providers: ${info.result.badProviders.join(', ')}` : ''}\n`)
    }
    return 0
  },
}

const list: Command = {
  name: 'content list',
  summary: 'list the content this node publishes',
  usage: `content list ${COMMON}`,
  async run(args, io) {
    const r = await controlCall(await dataDirOf(args), 'GET', '/v1/content/published') as PubInfo[]
    if (args.flags.json === true) { io.stdout.write(`${JSON.stringify(r)}\n`); return 0 }
    if (r.length === 0) { io.stdout.write('nothing published\n'); return 0 }
    for (const p of r) io.stdout.write(`${p.id}  ${p.contentId}  ${p.files.length} files  ${formatBytes(p.files.reduce((a, f) => a + f.size, 0))}\n`)
    return 0
  },
}

export const commands: Command[] = [publish, fetchCmd, list]
