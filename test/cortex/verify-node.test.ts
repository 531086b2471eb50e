/**
 * The verifier service on real nodes over TCP (cortex.verifier): a node serving a stage with the service on
 * announces `service:verify` through the DHT; another node finds it there, hires it for a block of a third node's
 * committed stage (cortex.commitActivations), gets a passing signed verdict, and both ledgers record the check.
 */
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { PipelineSession, RemoteStageClient } from '../../src/cortex/pipeline.js'
import { generateAll } from '../../src/cortex/generate.js'
import { decodeSignedCommitment, type SignedCommitment } from '../../src/cortex/verify/attest.js'
import { findVerifiers, hiredChecker } from '../../src/cortex/verify/check-client.js'
import type { StepInput } from '../../src/cortex/verify/trace.js'
import { tinyModel } from './helpers.js'
import Database from 'better-sqlite3'
import { LEDGER_FILE } from '../../src/economy/attach.js'
import { VERIFY_SERVICE } from '../../src/cortex/verify/check-wire.js'

const m = tinyModel({ family: 'llama', layers: 2, kvHeads: 2, seed: 78 })
const dirs: string[] = []
const nodes: ZeoneNode[] = []
after(async () => {
  for (const n of nodes) await n.stop()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
  m.cleanup()
})

function start(cortex: object, bootstrap: string[] = []): Promise<ZeoneNode> {
  const dataDir = mkdtempSync(join(tmpdir(), 'zeone-verify-node-'))
  dirs.push(dataDir)
  const n = createNode(validateConfig({ dataDir, node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap }, ops: { httpPort: -1, logLevel: 'silent' }, cortex }))
  nodes.push(n)
  return n.start().then(() => n)
}

test('a node with cortex.verifier is found through the DHT and hired for a check of another node\'s committed stage', async () => {
  const verifier = await start({ serve: [{ path: m.dir, modelId: 'tiny-v' }], verifier: true })
  const boot = [`127.0.0.1:${verifier.listenAddress!.port}`]
  const provider = await start({ serve: [{ path: m.dir, modelId: 'tiny-v' }], commitActivations: true }, boot)
  const asker = await start({}, boot)
  const providers = asker.services.get('providers')!
  let found = await findVerifiers(providers, 'tiny-v')
  for (let i = 0; i < 300 && found.length < 1; i++) { await new Promise((r) => setTimeout(r, 100)); found = await findVerifiers(providers, 'tiny-v') }
  assert.equal(found.length, 1)
  assert.deepEqual([found[0]!.start, found[0]!.end, found[0]!.layers], [0, 2, 2])
  assert.equal(Buffer.compare(found[0]!.nodeId, verifier.identity.publicKey), 0)

  // a generation on the provider's stage, recording the inputs and the signed commitments
  const eng = verifier.services.get('cortex')!.init.stages[0]!.server.engine
  const link = await asker.transport!.dial({ host: '127.0.0.1', port: provider.listenAddress!.port })
  const steps: StepInput[] = [], commits: SignedCommitment[] = []
  const s = new PipelineSession({ model: 'tiny-v', layers: 2, hidden: eng.cfg.hidden, vocab: eng.cfg.vocabSize,
    chain: [new RemoteStageClient(link, 'tiny-v', 0, 2, 2, eng.cfg.hidden, eng.cfg.vocabSize)],
    audit: { observe(_i, _st, _pos, input, out) {
      steps.push({ T: input.T, ...(input.ids ? { ids: input.ids.slice() } : {}) })
      if (out.commit) commits.push(decodeSignedCommitment(out.commit))
    } } })
  await generateAll(s, [3, 4, 5], { temperature: 0.5, seed: 1 }, { maxTokens: 40 })
  assert.equal(commits.length, 1)
  assert.equal(Buffer.compare(commits[0]!.signer, provider.identity.publicKey), 0)

  const eco = asker.services.get('economy')!, vEco = verifier.services.get('economy')!
  const hired = hiredChecker(await asker.transport!.dial(found[0]!.addrs[0]!, { expectNodeId: found[0]!.nodeId }),
    { signer: asker.identity, model: 'tiny-v', price: found[0]!.price, usage: eco })
  const out = await hired.check(steps.slice(0, 32), commits[0]!)
  assert.equal(out.ok, true)
  assert.equal(out.verdict, undefined)
  // one check in both nodes' ledgers (SQLite), at the announced price
  const ledger = (n: ZeoneNode, e: typeof eco, peer: Uint8Array, kind: string): [number, number] => {
    e.flush()
    const db = new Database(join(n.dataDir, LEDGER_FILE), { readonly: true })
    try {
      const r = db.prepare('SELECT COALESCE(SUM(units), 0) AS u, COALESCE(SUM(amount), 0) AS a FROM txlog WHERE kind = ? AND service = ? AND peer = ?').get(kind, VERIFY_SERVICE, Buffer.from(peer)) as { u: number; a: number }
      return [Number(r.u), Number(r.a)]
    } finally { db.close() }
  }
  assert.deepEqual(ledger(verifier, vEco, asker.identity.publicKey, 'charged'), [1, Number(found[0]!.price)])
  assert.deepEqual(ledger(asker, eco, verifier.identity.publicKey, 'billed'), [1, Number(found[0]!.price)])
})
