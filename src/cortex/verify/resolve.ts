/**
 * Resolving a sampled check (audit.ts) when its checkers disagree, and attributing the lie. A panel of checkers
 * (replicas this node re-executes on, hired `service:verify` verifiers, or both: cortex.audit.verifiers) answers;
 * while the answers do not decide, further checkers from the same sources are asked (at most `maxResolvers`):
 *  - all pass: pass;  a lone fail: ask more (never a slash on one word), and with nobody left to ask it counts;
 *  - otherwise the majority decides; a tie nobody breaks is `disputed` (no evidence, no blame: one dishonest
 *    checker must not frame an honest stage, nor can we tell which side lied).
 * Once decided, every checker on the losing side lied (a pass over a failing commitment: it covered for a swapped
 * model; a fail over an honest one: it framed the stage): a trust event against it, its check unpaid, and its
 * signed answer kept as evidence in the node's LiarBook, which also disowns the EVM key of a false fail verdict so
 * that this node never counts it toward a slash (fraud.ts, slash.ts).
 */
import type { Verdict } from '../../economy/chain/verdicts.js'
import type { SignedCommitment } from './attest.js'
import type { CheckOutcome, Checker } from './checker.js'

export type Stage = { start: number; end: number }
/** One more checker of a stage's layers, none of `exclude` (node ids); undefined when there is none. */
export type CheckerSource = (stage: Stage, exclude: Uint8Array[]) => Promise<Checker | undefined>
/** `count` checkers from `find` on every sampled block. */
export interface PanelEntry { find: CheckerSource; count: number }
export interface Answer { checker: Checker; out: CheckOutcome }
export type Decision = 'pass' | 'fail' | 'disputed'

export interface VerifierLie {
  /** The checker's node (absent for a checker without one, e.g. a local engine). */
  verifier?: Uint8Array
  checker: string
  /** What it claimed: 'pass' over a commitment the majority failed, 'fail' over one the majority passed. */
  claimed: 'pass' | 'fail'
  provider: Uint8Array
  stage: Stage
  index: number
  commitment: SignedCommitment
  /** Its signed answer (hired verifiers: CORTEX_CHECK_RESP as received), the proof of what it claimed. */
  signed?: Uint8Array
  /** A false fail's EIP-712 InferenceVerdict (a staked verifier framing an honest stage): disowned, never counted. */
  verdict?: Verdict
  /** The checkers whose answers outvoted it. */
  outvotedBy: string[]
}

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/** The checkers this node caught lying, shared by its auditors and its fraud-proof path. Bounded (oldest dropped). */
export class LiarBook {
  readonly lies: VerifierLie[] = []
  #nodes = new Map<string, Uint8Array>()
  #evm = new Set<string>()
  constructor(readonly max = 1024) {}
  add(l: VerifierLie): void {
    this.lies.push(l)
    if (this.lies.length > this.max) this.lies.shift()
    if (l.verifier) this.#nodes.set(hexOf(l.verifier), l.verifier)
    if (l.verdict) this.#evm.add(l.verdict.verifier.toLowerCase())
  }
  isLiar(nodeId: Uint8Array): boolean { return this.#nodes.has(hexOf(nodeId)) }
  /** Node ids never asked again. */
  get nodes(): Uint8Array[] { return [...this.#nodes.values()] }
  /** An EVM key that signed a false fail verdict: none of its verdicts is counted toward a slash by this node. */
  disowned(address: string): boolean { return this.#evm.has(address.toLowerCase()) }
}

/** What the answers so far say; `lone_fail` and `tie` want another checker. */
export function decide(answers: boolean[]): 'pass' | 'fail' | 'lone_fail' | 'tie' {
  const pass = answers.filter((a) => a).length, fail = answers.length - pass
  if (fail === 0) return 'pass'
  if (pass === 0) return fail >= 2 ? 'fail' : 'lone_fail'
  return pass > fail ? 'pass' : fail > pass ? 'fail' : 'tie'
}

/**
 * Asks the panel, then more checkers (each source in order) while undecided. `ask` runs one check (undefined when
 * the checker did not answer: silent, refused, malformed); `exclude` grows with every checker asked.
 */
export async function gather(panel: PanelEntry[], stage: Stage, exclude: Uint8Array[], ask: (c: Checker) => Promise<CheckOutcome | undefined>, maxResolvers = 2): Promise<{ answers: Answer[]; decision: Decision | 'none'; resolvers: number }> {
  const answers: Answer[] = [], used = new Set<string>()
  const next = async (find: CheckerSource): Promise<Checker | undefined> => {
    const c = await find(stage, exclude).catch(() => undefined)
    // a checker without a node (a local engine) can only be told apart by its id
    if (!c || used.has(c.id)) return undefined
    used.add(c.id)
    if (c.nodeId) exclude.push(c.nodeId)
    return c
  }
  const run = async (cs: Checker[]): Promise<void> => {
    const outs = await Promise.all(cs.map((c) => ask(c).catch(() => undefined)))
    cs.forEach((checker, i) => { const out = outs[i]; if (out) answers.push({ checker, out }) })
  }
  const first: Checker[] = []
  for (const p of panel) for (let i = 0; i < p.count; i++) { const c = await next(p.find); if (!c) break; first.push(c) }
  await run(first)
  if (!answers.length) return { answers, decision: 'none', resolvers: 0 }
  let d = decide(answers.map((a) => a.out.ok)), resolvers = 0
  while ((d === 'lone_fail' || d === 'tie') && resolvers < maxResolvers) {
    let c: Checker | undefined
    for (const p of panel) if ((c = await next(p.find))) break
    if (!c) break
    resolvers++
    await run([c])
    d = decide(answers.map((a) => a.out.ok))
  }
  // a lone fail nobody else could re-check stands (the client trusts its only check); a tie nobody broke does not
  return { answers, decision: d === 'lone_fail' ? 'fail' : d === 'tie' ? 'disputed' : d, resolvers }
}

/** The checkers on the losing side of a decided check. */
export function liars(answers: Answer[], decision: 'pass' | 'fail'): Answer[] {
  return answers.filter((a) => a.out.ok !== (decision === 'pass'))
}
