/** Cortex commands: model info, model serve, infer. */
import { existsSync } from 'node:fs'
import { basename, join, resolve } from 'node:path'
import type { Command, ParsedArgs } from '../command.js'
import { flagString } from '../args.js'
import { configFromArgs, flagsToConfig } from './node.js'
import { createNode } from '../../node.js'
import { ModelDir } from '../../cortex/model.js'
import { Tokenizer } from '../../cortex/tokenizer.js'
import { ZeoneError } from '../../util/errors.js'
import { readApiToken } from '../../ops/api-token.js'

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
    const { config, file } = configFromArgs(args)
    const quant = flagString(args, 'quant') ?? 'none'
    if (!['none', 'q8', 'q4'].includes(quant)) throw new ZeoneError('bad_flag', '--quant must be none, q8 or q4')
    const layers = flagString(args, 'layers') ?? ''
    if (!/^(\d+:\d+)?$/.test(layers)) throw new ZeoneError('bad_flag', '--layers must look like A:B')
    const peers = args.flags.peer === undefined ? [] : ([] as string[]).concat(args.flags.peer as string | string[])
    config.cortex.serve = [{ path: resolve(path), modelId: flagString(args, 'id'), layers, quant: quant as 'none', maxSessions: num(args, 'max-sessions', 32)!, threads: num(args, 'threads', 1)! }]
    config.cortex.peers = [...config.cortex.peers, ...peers]
    const node = createNode(config, file ? { configSources: { file, env: process.env, flags: flagsToConfig(args) } } : {})
    const stopped = new Promise<void>((res) => {
      const onSignal = (): void => { node.stop().then(res, res) }
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      node.signal.addEventListener('abort', onSignal)
    })
    await node.start()
    const l = node.listenAddress, h = node.httpAddress
    io.stdout.write(`serving ${flagString(args, 'id') ?? basename(resolve(path))} layers ${layers || 'all'} (${quant})\nlistening: ${l ? `${l.host}:${l.port}` : '-'}\nhttp: ${h ? `${h.host}:${h.port}` : '-'}\n`)
    await stopped
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
      const { config } = configFromArgs(args)
      url ??= `http://${config.ops.httpHost}:${config.ops.httpPort}`
      token ??= readApiToken(config.dataDir)
    }
    const body = { model, prompt, stream: true, max_tokens: num(args, 'max-tokens', 128), temperature: num(args, 'temperature', 0), top_k: num(args, 'top-k'), top_p: num(args, 'top-p'), seed: num(args, 'seed') }
    const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) })
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

export const commands: Command[] = [info, serve, infer]
