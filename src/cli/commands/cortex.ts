/** Cortex commands: model info, model serve, infer. */
import { existsSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import type { Command, ParsedArgs } from '../command.js'
import { flagString } from '../args.js'
import { ZeoneError } from '../../util/errors.js'
import { runningHttpUrl } from '../ports-file.js'

// the model reader, the node and the config schema load with the command that uses them (fast `zeone help`)
const configArgs = () => import('../config-args.js')

const num = (args: ParsedArgs, name: string, d?: number): number | undefined => {
  const v = flagString(args, name)
  if (v === undefined) return d
  const n = Number(v)
  if (!Number.isFinite(n)) throw new ZeoneError('bad_flag', `--${name} expects a number, got '${v}'`)
  return n
}

const info: Command = {
  name: 'model info',
  summary: 'describe a Hugging Face model directory (config, tensors, dtypes, tokenizer)',
  usage: 'model info PATH [--json]',
  async run(args, io) {
    const path = args.positionals[0]
    if (!path) { io.stderr.write('usage: zeone model info PATH\n'); return 2 }
    const { ModelDir } = await import('../../cortex/model.js')
    const { Tokenizer } = await import('../../cortex/tokenizer.js')
    const dir = new ModelDir(resolve(path))
    try {
      const tokPath = join(dir.dir, 'tokenizer.json')
      const tok = existsSync(tokPath) ? Tokenizer.fromFile(tokPath) : undefined
      const out = { id: basename(dir.dir), ...dir.config, tensors: dir.tensorNames().length, bytesByDtype: dir.dtypes(), tokenizer: tok ? { mode: tok.mode, vocab: tok.vocabSize } : null }
      if (args.flags.json === true) io.stdout.write(`${JSON.stringify(out)}\n`)
      else for (const [k, v] of Object.entries(out)) io.stdout.write(`${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}\n`)
      return 0
    } finally { dir.close() }
  },
}

const serve: Command = {
  name: 'model serve',
  summary: 'run a node that serves layers A:B of a model as a pipeline stage',
  usage: 'model serve PATH [--layers A:B] [--id MODEL_ID] [--quant none|q8|q4] [--threads N] [--peer host:port]... [node start flags]',
  async run(args, io) {
    const path = args.positionals[0]
    if (!path) { io.stderr.write('usage: zeone model serve PATH --layers A:B\n'); return 2 }
    const quant = flagString(args, 'quant') ?? 'none'
    if (!['none', 'q8', 'q4'].includes(quant)) throw new ZeoneError('bad_flag', '--quant must be none, q8 or q4')
    const layers = flagString(args, 'layers') ?? ''
    if (!/^(\d+:\d+)?$/.test(layers)) throw new ZeoneError('bad_flag', '--layers must look like A:B')
    const peers = args.flags.peer === undefined ? [] : ([] as string[]).concat(args.flags.peer as string | string[])
    const { runNode } = await import('../run-node.js')
    return runNode(args, io, {
      heading: `serving ${flagString(args, 'id') ?? basename(resolve(path))} layers ${layers || 'all'} (${quant})\n`,
      adjust: (config) => {
        config.cortex.serve = [{ path: resolve(path), modelId: flagString(args, 'id'), layers, quant: quant as 'none', int8Kernel: 'qgemm', maxSessions: num(args, 'max-sessions', 32)!, threads: num(args, 'threads', 1)! }]
        config.cortex.peers = [...config.cortex.peers, ...peers]
      },
    })
  },
}

const tiny: Command = {
  name: 'model tiny',
  summary: 'write a tiny random-weight model directory (Llama layout, 2 layers) to try model serve and infer without a download',
  usage: 'model tiny DIR [--layers N] [--seed S]',
  async run(args, io) {
    const dir = args.positionals[0]
    if (!dir) { io.stderr.write('usage: zeone model tiny DIR\n'); return 2 }
    if (existsSync(join(dir, 'config.json'))) throw new ZeoneError('exists', `${dir} already holds a model (config.json); pick another DIR`)
    const layers = num(args, 'layers', 2)!
    if (layers < 1 || layers > 8) throw new ZeoneError('bad_flag', '--layers expects 1..8')
    const { writeTinyModel } = await import('../../cortex/testing/tiny-model.js')
    writeTinyModel(dir, { family: 'llama', layers, kvHeads: 2, seed: num(args, 'seed', 1)! })
    io.stdout.write(`wrote a ${layers}-layer random-weight model to ${resolve(dir)} (its output is gibberish; for real text use a Hugging Face model dir)\n`)
    return 0
  },
}

const infer: Command = {
  name: 'infer',
  summary: 'generate text through the local node (streams tokens to the terminal)',
  usage: 'infer --model ID "prompt" [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] [--url http://127.0.0.1:9468] [--token T]',
  async run(args, io) {
    const model = flagString(args, 'model')
    const prompt = args.positionals.join(' ')
    if (!model || !prompt) { io.stderr.write('usage: zeone infer --model ID "prompt"\n'); return 2 }
    let url = flagString(args, 'url')
    // the chat API spends credits: it needs the node's token (<dataDir>/api.token, readable by the owner only)
    let token = flagString(args, 'token')
    if (!url || !token) {
      const { config } = (await configArgs()).configFromArgs(args)
      url ??= runningHttpUrl(config.dataDir) ?? `http://${config.ops.httpHost}:${config.ops.httpPort}`
      token ??= (await import('../../ops/api-token.js')).readApiToken(config.dataDir)
    }
    const body = { model, prompt, stream: true, max_tokens: num(args, 'max-tokens', 128), temperature: num(args, 'temperature', 0), top_k: num(args, 'top-k'), top_p: num(args, 'top-p'), seed: num(args, 'seed') }
    let r: Response
    try {
      r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) })
    } catch (err) {
      // fetch says only 'fetch failed': name the address and how to get a node there
      throw new ZeoneError('not_running', `no node answers at ${url} (${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}); `
        + "start one with 'zeone start' (or 'zeone model serve PATH'), or point --url / --data-dir at a running node", { cause: err })
    }
    if (!r.ok || !r.body) { io.stderr.write(`zeone: ${r.status} ${await r.text()}\n`); return 1 }
    const dec = new TextDecoder()
    let buf = ''
    for await (const part of r.body as unknown as AsyncIterable<Uint8Array>) {
      buf += dec.decode(part, { stream: true })
      let i: number
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const ev = buf.slice(0, i).replace(/^data: /, '')
        buf = buf.slice(i + 2)
        if (ev === '[DONE]') { io.stdout.write('\n'); return 0 }
        const c = JSON.parse(ev) as { choices?: { delta?: { content?: string } }[] }
        const t = c.choices?.[0]?.delta?.content
        if (t) io.stdout.write(t)
      }
    }
    io.stdout.write('\n')
    return 0
  },
}

export const commands: Command[] = [info, serve, tiny, infer]
