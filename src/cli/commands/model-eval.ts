/**
 * `zeone model eval` (reproduce a card's evaluation over a local set) and `zeone model attest` (sign that
 * reproduction with this node's identity and publish it through the running node as a DHT provider record).
 * Both first check the model directory against the card, so the value is about the weights the card binds.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { CliIO, Command, ParsedArgs } from '../command.js'
import { flagString } from '../args.js'
import { ZeoneError } from '../../util/errors.js'
import { toHex as hex } from '../../util/bytes.js'

const COMMON = '--model DIR --set FILE [--name NAME] [--json]'

interface Reproduced {
  card: Uint8Array; name: string; metric: string; value: number; items: number; tokens: number; evalSet: Uint8Array
  claimed?: number; reproduced?: boolean
}

async function reproduce(args: ParsedArgs, io: CliIO, usage: string): Promise<Reproduced | number> {
  const cardPath = args.positionals[0], model = flagString(args, 'model'), setPath = flagString(args, 'set')
  if (!cardPath || !model || !setPath) { io.stderr.write(`usage: zeone ${usage}\n`); return 2 }
  const { decodeCard, cardId, MAX_CARD_BYTES } = await import('../../cortex/cards/card.js')
  const { verifyCard } = await import('../../cortex/cards/recompute.js')
  const { parseEvalSet, runEval, reproduces, MAX_EVAL_SET_BYTES } = await import('../../cortex/cards/eval.js')
  if (statSync(resolve(cardPath)).size > MAX_CARD_BYTES) throw new ZeoneError('bad_card', `${cardPath} is over ${MAX_CARD_BYTES} bytes`)
  if (statSync(resolve(setPath)).size > MAX_EVAL_SET_BYTES) throw new ZeoneError('bad_eval_set', `${setPath} is over ${MAX_EVAL_SET_BYTES} bytes`)
  const card = decodeCard(new Uint8Array(readFileSync(resolve(cardPath))))
  const dir = resolve(model)
  const check = await verifyCard(card, dir)
  if (!check.ok) throw new ZeoneError('card_mismatch', `${dir} does not match the card (${(['signature', 'weights', 'config', 'tokenizer', 'architecture'] as const).filter((k) => !check[k]).join(', ')})`)
  const set = parseEvalSet(new Uint8Array(readFileSync(resolve(setPath))))
  // the card's entry for this set (by hash, and by name when given)
  const name = flagString(args, 'name')
  const claim = card.evals.find((e) => Buffer.compare(e.evalSetHash, set.hash) === 0 && (!name || e.name === name))
  if (claim && claim.metric !== set.metric) throw new ZeoneError('bad_eval_set', `the card scores this set by '${claim.metric}', the set's items are scored by '${set.metric}'`)
  const { StageEngine } = await import('../../cortex/stage.js')
  const { Tokenizer } = await import('../../cortex/tokenizer.js')
  const tok = Tokenizer.fromFile(join(dir, 'tokenizer.json'))
  const engine = await StageEngine.load(dir, { start: 0, end: card.architecture.layers, maxSessions: 1 })
  try {
    const r = await runEval(engine, tok, set)
    return {
      card: cardId(card), name: claim?.name ?? name ?? 'eval', metric: r.metric, value: r.value, items: r.items, tokens: r.tokens, evalSet: set.hash,
      ...(claim ? { claimed: claim.value, reproduced: reproduces(claim.value, r.value) } : {}),
    }
  } finally { await engine.close() }
}

function show(args: ParsedArgs, io: CliIO, r: Reproduced, extra: Record<string, unknown> = {}): void {
  const o = { card: hex(r.card), name: r.name, metric: r.metric, value: r.value, items: r.items, tokens: r.tokens, evalSet: hex(r.evalSet), ...(r.claimed !== undefined ? { claimed: r.claimed, reproduced: r.reproduced } : {}), ...extra }
  if (args.flags.json === true) io.stdout.write(`${JSON.stringify(o)}\n`)
  else for (const [k, v] of Object.entries(o)) io.stdout.write(`${k}: ${String(v)}\n`)
}

const evalCmd: Command = {
  name: 'model eval',
  summary: 'compute a card\'s evaluation metric over a local evaluation set (JSON Lines) and compare with the card\'s claim',
  usage: `model eval CARD ${COMMON}`,
  async run(args, io) {
    const r = await reproduce(args, io, this.usage)
    if (typeof r === 'number') return r
    show(args, io, r)
    return r.reproduced === false ? 1 : 0
  },
}

const attest: Command = {
  name: 'model attest',
  summary: 'reproduce a card\'s evaluation, sign an attestation with this node\'s identity and publish it as a DHT provider record of the running node',
  usage: `model attest CARD ${COMMON} [--out FILE] [--no-publish] [--config FILE] [--data-dir DIR]`,
  async run(args, io) {
    const r = await reproduce(args, io, this.usage)
    if (typeof r === 'number') return r
    if (r.claimed === undefined) throw new ZeoneError('no_claim', 'the card has no evaluation over this set: there is nothing to attest')
    if (!r.reproduced) { show(args, io, r, { attested: false }); io.stderr.write(`not attested: ${r.value} does not reproduce the card's ${r.claimed}\n`); return 1 }
    const { configFromArgs } = await import('../config-args.js')
    const { loadOrCreateIdentity } = await import('../../crypto/identity.js')
    const { signAttestation, encodeAttestation, attestationKey } = await import('../../cortex/cards/attestation.js')
    // --set here names the evaluation set, not a config override (key.path=value) as elsewhere
    const { set: _set, ...flags } = args.flags
    const { config } = configFromArgs({ ...args, flags })
    const dataDir = resolve(config.dataDir)
    const { identity } = loadOrCreateIdentity(dataDir, { puzzleBits: config.dht.staticPuzzleBits })
    const a = signAttestation(identity, { cardId: r.card, name: r.name, metric: r.metric, value: r.value, evalSetHash: r.evalSet })
    const bytes = encodeAttestation(a)
    const out = flagString(args, 'out')
    if (out) writeFileSync(resolve(out), bytes)
    let storedOn: number | undefined
    if (args.flags['no-publish'] !== true) {
      const { controlCall } = await import('../control-client.js')
      const res = await controlCall(dataDir, 'POST', '/v1/dht/provide', { body: { key: `0x${hex(attestationKey(r.card))}`, data: Buffer.from(bytes).toString('base64'), encoding: 'base64' }, timeoutMs: 60_000 }) as { storedOn: number }
      storedOn = res.storedOn
    }
    show(args, io, r, { attested: true, attester: identity.nodeIdB64, bytes: bytes.byteLength, ...(storedOn !== undefined ? { storedOn } : {}) })
    return 0
  },
}

export const evalCommands: Command[] = [evalCmd, attest]
