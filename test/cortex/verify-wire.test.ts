/**
 * Verified inference over the wire: a stage served with a prover returns a signed activation commitment on every
 * 32nd CORTEX_FORWARD reply; a client that recorded what it sent verifies a sample on its own copy of the model.
 * A restarted session (pos 0) gets a fresh nonce, so the honest stage never equivocates.
 */
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryNetwork, type MemoryNode } from '../../src/transport/memory.js'
import { StageEngine } from '../../src/cortex/stage.js'
import { StageServer } from '../../src/cortex/server.js'
import { CortexType, decodeForwardResp, encodeForwardReq } from '../../src/cortex/messages.js'
import { decodeSignedCommitment, isEquivocation, type SignedCommitment } from '../../src/cortex/verify/attest.js'
import { BLOCK } from '../../src/cortex/verify/commit.js'
import type { StepInput } from '../../src/cortex/verify/trace.js'
import { verifyTrace } from '../../src/cortex/verify/verifier.js'
import type { Link } from '../../src/interfaces/link.js'
import { Prng } from '../../src/cortex/sampling.js'
import { identity, refClock, tinyModel } from './helpers.js'

const m = tinyModel({ family: 'llama', layers: 2, hidden: 64, heads: 4, seed: 8 })
const net = new MemoryNetwork({ clock: refClock })
let stageNode: MemoryNode, client: MemoryNode, server: StageServer, verifier: StageEngine, link: Link

before(async () => {
  stageNode = net.createNode(identity(94), { host: '10.0.9.1', port: 1 })
  client = net.createNode(identity(95), { host: '10.0.9.1', port: 2 })
  server = new StageServer({ modelId: 'm', engine: await StageEngine.load(m.dir, { start: 0, end: 2 }), router: stageNode.router, prover: { signer: stageNode.identity } })
  server.start()
  verifier = await StageEngine.load(m.dir, { start: 0, end: 2 })
  link = await client.dial({ host: '10.0.9.1', port: 1 })
})
after(async () => { server.stop(); await server.engine.close(); await verifier.close(); stageNode.stop(); client.stop(); m.cleanup() })

async function session(sidByte: number, steps: StepInput[]): Promise<SignedCommitment[]> {
  const sid = new Uint8Array(16).fill(sidByte)
  const out: SignedCommitment[] = []
  let pos = 0
  for (const s of steps) {
    const r = decodeForwardResp((await link.request(CortexType.CORTEX_FORWARD, encodeForwardReq({ sid, model: 'm', pos, ids: s.ids! }))).body)
    pos = r.pos
    if (r.commit) out.push(decodeSignedCommitment(r.commit))
  }
  return out
}

test('a stage returns a signed commitment every 32 steps and the client verifies a sample of them', async () => {
  const rng = new Prng(3)
  const steps: StepInput[] = [{ ids: [5, 6, 7], T: 3 }, ...Array.from({ length: 2 * BLOCK - 1 }, () => ({ ids: [Math.floor(rng.next() * 300)], T: 1 }))]
  const commits = await session(1, steps)
  assert.deepEqual(commits.map((c) => c.index), [0, 1])
  assert.equal(commits[0]!.commitment.byteLength, 258)
  const v = await verifyTrace({ engine: verifier, random: () => rng.next(), samples: 2 }, stageNode.identity.publicKey, steps, commits)
  assert.deepEqual(v, { ok: true, checked: [0, 1] })
  // the same session id restarted from position 0: a new nonce, so its block 0 is no equivocation of the first
  const again = await session(1, steps.slice(0, BLOCK).map((s, i) => (i === 5 ? { ids: [1], T: 1 } : s)))
  assert.equal(again.length, 1)
  assert.equal(isEquivocation(commits[0]!, again[0]!), false)
  assert.notDeepEqual(again[0]!.ref.nonce, commits[0]!.ref.nonce)
})
