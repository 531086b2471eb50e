/** Model card commands: `model card` (sign a card for a model directory), `model verify` (recompute and report, and
 *  list the attestations of reproduced evaluations found in the DHT), and model-eval.ts's `model eval|attest`. */
import { readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Command } from '../command.js'
import { flagString } from '../args.js'
import { ZeoneError } from '../../util/errors.js'
import { toHex as hex } from '../../util/bytes.js'
import { evalCommands } from './model-eval.js'

const configArgs = () => import('../config-args.js')

const card: Command = {
  name: 'model card',
  summary: 'sign a model card for a model directory with this node\'s identity',
  usage: 'model card PATH --id MODEL_ID --license SPDX [--eval NAME:METRIC:VALUE:EVAL_SET_FILE]... --out FILE [--data-dir DIR]',
  async run(args, io) {
    const path = args.positionals[0]
    const id = flagString(args, 'id'), license = flagString(args, 'license'), out = flagString(args, 'out')
    if (!path || !id || !license || !out) { io.stderr.write(`usage: zeone ${this.usage}\n`); return 2 }
    const { configFromArgs } = await configArgs()
    const { loadOrCreateIdentity } = await import('../../crypto/identity.js')
    const { sha256 } = await import('../../crypto/hash.js')
    const { recompute } = await import('../../cortex/cards/recompute.js')
    const { signCard, encodeCard, cardId } = await import('../../cortex/cards/card.js')
    const { config } = configFromArgs(args)
    const { identity } = loadOrCreateIdentity(resolve(config.dataDir), { puzzleBits: config.dht.staticPuzzleBits })
    const evals = ([] as string[]).concat((args.flags.eval as string | string[] | undefined) ?? []).map((e) => {
      const m = /^([^:]+):([^:]+):([^:]+):(.+)$/.exec(e)
      const value = Number(m?.[3])
      if (!m || !Number.isFinite(value)) throw new ZeoneError('bad_flag', `--eval expects NAME:METRIC:VALUE:EVAL_SET_FILE, got '${e}'`)
      return { name: m[1]!, metric: m[2]!, value, evalSetHash: sha256(readFileSync(resolve(m[4]!))) }
    })
    const r = await recompute(resolve(path))
    const c = signCard(identity, { model: id, ...r, license, evals, created: Math.floor(Date.now() / 1000) })
    writeFileSync(resolve(out), encodeCard(c))
    io.stdout.write(`card ${hex(cardId(c))}\nweights root ${hex(c.weightsRoot)}\nwritten to ${resolve(out)}\n`)
    return 0
  },
}

const verify: Command = {
  name: 'model verify',
  summary: 'recompute what a model card binds (weights root, config, tokenizer, architecture, signature) and report; --attestations lists the signed reproductions found in the DHT',
  usage: 'model verify PATH --card FILE [--attestations] [--config FILE] [--data-dir DIR] [--json]',
  async run(args, io) {
    const path = args.positionals[0], cardPath = flagString(args, 'card')
    if (!path || !cardPath) { io.stderr.write(`usage: zeone ${this.usage}\n`); return 2 }
    const { decodeCard, cardId, MAX_CARD_BYTES } = await import('../../cortex/cards/card.js')
    const { verifyCard } = await import('../../cortex/cards/recompute.js')
    const bytes = readFileSync(resolve(cardPath))
    if (bytes.byteLength > MAX_CARD_BYTES) throw new ZeoneError('bad_card', `${cardPath} is over ${MAX_CARD_BYTES} bytes`)
    const c = decodeCard(new Uint8Array(bytes))
    const r = await verifyCard(c, resolve(path))
    const report = {
      ok: r.ok, card: hex(cardId(c)), model: c.model, publisher: Buffer.from(c.publisher).toString('base64'), license: c.license,
      signature: r.signature, weights: r.weights, config: r.config, tokenizer: r.tokenizer, architecture: r.architecture,
      weightsRoot: { card: hex(c.weightsRoot), recomputed: hex(r.recomputed.weightsRoot) },
      evals: c.evals.map((e) => ({ name: e.name, metric: e.metric, value: e.value, evalSet: hex(e.evalSetHash) })),
      ...(args.flags.attestations === true ? { attestations: await dhtAttestations(args, cardId(c), c.evals) } : {}),
    }
    if (args.flags.json === true) io.stdout.write(`${JSON.stringify(report)}\n`)
    else for (const [k, v] of Object.entries(report)) io.stdout.write(`${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}\n`)
    return r.ok ? 0 : 1
  },
}

/** The valid attestations of a card among the running node's DHT provider records for it. */
async function dhtAttestations(args: Parameters<Command['run']>[0], id: Uint8Array, evals: { name: string; value: number; evalSetHash: Uint8Array }[]): Promise<Record<string, unknown>[]> {
  const { configFromArgs } = await configArgs()
  const { controlCall } = await import('../control-client.js')
  const { attestationKey, validAttestations } = await import('../../cortex/cards/attestation.js')
  const { reproduces } = await import('../../cortex/cards/eval.js')
  const { config } = configFromArgs(args)
  const q = new URLSearchParams({ key: `0x${hex(attestationKey(id))}`, limit: '64' })
  const r = await controlCall(resolve(config.dataDir), 'GET', `/v1/dht/providers?${q}`, { timeoutMs: 60_000 }) as { providers: { nodeId: string; data?: { base64: string } }[] }
  const recs = r.providers.map((p) => ({ nodeId: new Uint8Array(Buffer.from(p.nodeId, 'base64')), ...(p.data ? { data: new Uint8Array(Buffer.from(p.data.base64, 'base64')) } : {}) }))
  return validAttestations(recs, id).map((a) => {
    const claim = evals.find((e) => Buffer.compare(e.evalSetHash, a.evalSetHash) === 0 && e.name === a.name)
    return { attester: Buffer.from(a.attester).toString('base64'), name: a.name, metric: a.metric, value: a.value, evalSet: hex(a.evalSetHash), agreesWithCard: claim ? reproduces(claim.value, a.value) : false }
  })
}

export const commands: Command[] = [card, verify, ...evalCommands]
