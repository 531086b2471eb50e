/**
 * Model card evaluations (issue 21 item 3): the eval runner's metric against an independent computation (full
 * stateless forward per position, no KV cache), hostile evaluation sets, and the CLI end to end on real nodes over
 * TCP: `model eval` reproduces (or refutes) a card's claim, `model attest` signs the reproduction and publishes it
 * as the running node's DHT provider record, `model verify --attestations` lists what other nodes attested.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { StageEngine } from '../../src/cortex/stage.js'
import { Tokenizer } from '../../src/cortex/tokenizer.js'
import { parseEvalSet, runEval } from '../../src/cortex/cards/eval.js'
import { writeTinyModel } from '../../src/cortex/testing/tiny-model.js'
import type { ZeoneNode } from '../../src/node.js'
import { startDhtNode } from '../dht/start-node.js'
import { commands } from '../../src/cli/commands/model-card.js'
import { tempDir } from './helpers.js'

const tmp = tempDir('zeone-model-eval-')
const dir = join(tmp.dir, 'model'), other = join(tmp.dir, 'other')
const texts = ['the quick brown fox jumps over the lazy dog', 'a peer to peer network of nodes', 'hello world, hello again']
const ppl = join(tmp.dir, 'ppl.jsonl'), mc = join(tmp.dir, 'mc.jsonl')
before(() => {
  writeTinyModel(dir, { family: 'gpt2', layers: 2, hidden: 32, heads: 4, seed: 41 })
  writeTinyModel(other, { family: 'gpt2', layers: 2, hidden: 32, heads: 4, seed: 42 })
  writeFileSync(ppl, texts.map((text) => JSON.stringify({ text })).join('\n') + '\n')
  writeFileSync(mc, [
    { prompt: 'the quick brown', choices: [' fox', ' dog jumps'], answer: 0 },
    { prompt: 'hello', choices: [' world', ' again and again'], answer: 1 },
  ].map((x) => JSON.stringify(x)).join('\n'))
})
after(() => tmp.cleanup())

/** log p(seq[j] | seq[..j]) from a stateless forward of each prefix: no KV cache, no shared code with runEval. */
async function oraclePerplexity(e: StageEngine, seqs: number[][]): Promise<number> {
  let sum = 0, n = 0
  for (const seq of seqs) {
    for (let j = 1; j < seq.length; j++) {
      const [out] = await e.forwardBatch([{ sid: 'oracle', ids: seq.slice(0, j), T: j, stateless: true }])
      const l = Array.from(out!.data)
      const max = Math.max(...l)
      sum += l[seq[j]!]! - max - Math.log(l.reduce((a, v) => a + Math.exp(v - max), 0))
      n++
    }
  }
  return Math.exp(-sum / n)
}

test('eval runner: perplexity equals an independent stateless computation; accuracy; hostile sets refused', async () => {
  const e = await StageEngine.load(dir, { start: 0, end: 2 })
  const tok = Tokenizer.fromFile(join(dir, 'tokenizer.json'))
  try {
    const set = parseEvalSet(new Uint8Array(Buffer.from(texts.map((text) => JSON.stringify({ text })).join('\n'))))
    const r = await runEval(e, tok, set)
    const want = await oraclePerplexity(e, texts.map((t) => tok.encode(t)))
    assert.equal(r.metric, 'perplexity')
    assert.ok(Math.abs(r.value - want) <= 1e-5 * want, `${r.value} vs ${want}`)
    assert.equal(r.tokens, texts.reduce((a, t) => a + tok.encode(t).length - 1, 0))
    const acc = await runEval(e, tok, parseEvalSet(new Uint8Array(Buffer.from('{"prompt":"a","choices":["b","c"],"answer":0}\n{"prompt":"a","choices":["b","c"],"answer":1}'))))
    assert.equal(acc.value, 0.5, 'the same item with either answer: exactly one is right')
  } finally { await e.close() }
  const refuse = (s: string, re: RegExp): void => assert.throws(() => parseEvalSet(new Uint8Array(Buffer.from(s))), re)
  refuse('', /no items/)
  refuse('{"text": "a"}\nnot json', /line 2 is not JSON/)
  refuse('{"text": "a"}\n{"prompt":"p","choices":["a","b"],"answer":0}', /one kind/)
  refuse('{"prompt":"p","choices":["a","b"],"answer":2}', /answer must index/)
  refuse('{"prompt":"p","choices":["a"],"answer":0}', /neither/)
  refuse('[1]', /not an object/)
  assert.throws(() => parseEvalSet(new Uint8Array(16 * 1024 * 1024 + 1)), /over/)
  assert.throws(() => parseEvalSet(new Uint8Array([0xff, 0xfe])), /./)
})

const run = async (name: string, positionals: string[], flags: Record<string, string | boolean | string[]>): Promise<{ rc: number; out: string; err: string }> => {
  const stdout = new PassThrough(), stderr = new PassThrough()
  let out = '', err = ''
  stdout.on('data', (d) => { out += d }); stderr.on('data', (d) => { err += d })
  const rc = await commands.find((c) => c.name === name)!.run({ positionals, flags }, { stdout, stderr })
  return { rc, out, err }
}

test('zeone model eval / attest / verify --attestations on four nodes over TCP', async (t) => {
  const dirs = Array.from({ length: 4 }, () => mkdtempSync(join(tmpdir(), 'zeone-model-eval-node-')))
  const nodes: ZeoneNode[] = []
  t.after(async () => { for (const n of nodes) await n.stop(); for (const d of dirs) rmSync(d, { recursive: true, force: true }) })
  nodes.push(await startDhtNode(dirs[0]!, []))
  for (let i = 1; i < 4; i++) nodes.push(await startDhtNode(dirs[i]!, [`127.0.0.1:${nodes[0]!.listenAddress!.port}`]))
  for (let i = 0; i < 400 && nodes.some((n) => (n.services.get('dht')?.table.size ?? 0) < 2); i++) await new Promise((r) => setTimeout(r, 25))

  // the publisher's card without a claim: eval reports the value, nothing to compare
  const bare = join(tmp.dir, 'bare.card')
  assert.equal((await run('model card', [dir], { id: 'tiny', license: 'mit', out: bare, 'data-dir': join(tmp.dir, 'pub') })).rc, 0)
  const first = await run('model eval', [bare], { model: dir, set: ppl, json: true })
  assert.equal(first.rc, 0, first.err)
  const v = JSON.parse(first.out) as { value: number; metric: string; claimed?: number; evalSet: string }
  assert.equal(v.metric, 'perplexity')
  assert.equal(v.claimed, undefined)
  await assert.rejects(run('model attest', [bare], { model: dir, set: ppl, 'data-dir': dirs[1]! }), { code: 'no_claim' })

  // the card claims that value: reproduced (exit 0); a card claiming another value is refuted (exit 1) and not attested
  const card = join(tmp.dir, 'claim.card'), wrong = join(tmp.dir, 'wrong.card')
  assert.equal((await run('model card', [dir], { id: 'tiny', license: 'mit', eval: [`ppl:perplexity:${v.value}:${ppl}`, `mc:accuracy:0.5:${mc}`], out: card, 'data-dir': join(tmp.dir, 'pub') })).rc, 0)
  assert.equal((await run('model card', [dir], { id: 'tiny', license: 'mit', eval: `ppl:perplexity:${v.value * 1.1}:${ppl}`, out: wrong, 'data-dir': join(tmp.dir, 'pub') })).rc, 0)
  const ok = await run('model eval', [card], { model: dir, set: ppl, json: true })
  assert.equal(ok.rc, 0)
  assert.equal((JSON.parse(ok.out) as { reproduced: boolean; name: string }).reproduced, true)
  assert.equal((await run('model eval', [wrong], { model: dir, set: ppl, json: true })).rc, 1)
  assert.equal((await run('model attest', [wrong], { model: dir, set: ppl, json: true, 'data-dir': dirs[1]! })).rc, 1)
  // another model directory does not match the card: refused before any evaluation
  await assert.rejects(run('model eval', [card], { model: other, set: ppl }), { code: 'card_mismatch' })

  // two nodes attest the reproduction; a third lists both from the DHT
  for (const i of [1, 2]) {
    const a = await run('model attest', [card], { model: dir, set: ppl, json: true, 'data-dir': dirs[i]! })
    assert.equal(a.rc, 0, a.err)
    const j = JSON.parse(a.out) as { attested: boolean; attester: string; storedOn: number }
    assert.equal(j.attested, true)
    assert.equal(j.attester, nodes[i]!.identity!.nodeIdB64)
    assert.ok(j.storedOn >= 1)
  }
  const ver = await run('model verify', [dir], { card, attestations: true, json: true, 'data-dir': dirs[3]! })
  assert.equal(ver.rc, 0, ver.err)
  const atts = (JSON.parse(ver.out) as { attestations: { attester: string; name: string; value: number; agreesWithCard: boolean }[] }).attestations
  assert.deepEqual(atts.map((a) => a.attester).sort(), [nodes[1]!.identity!.nodeIdB64, nodes[2]!.identity!.nodeIdB64].sort())
  assert.ok(atts.every((a) => a.name === 'ppl' && a.agreesWithCard && a.value === v.value))
})
