/**
 * Live verified inference on the coordinator (issue 21 item 4): the pipeline session shows the auditor every stage
 * step (what it sent, what came back). Per stage the auditor keeps the trace of step inputs and the input hash
 * chain; each signed commitment that comes back is checked at once for its signature, signer, block index, range
 * and input binding, and with probability `rate` (an unpredictable draw the provider cannot see) its block is
 * checked in the background by a panel (cortex.audit.verifiers): another provider of the same layers this node
 * re-executes on (a Replayer: a normal stage session there, metered and paid like any other cortex usage), hired
 * `service:verify` verifiers (paid per check), or both. Disagreements are resolved by further checkers and the
 * outvoted side is blamed (resolve.ts); a lone failure is re-checked where anyone else can, and only a failure
 * there too (or with nobody else to ask) counts. A failure is a trust event against the provider and Evidence: its signed commitment, its DataAttestation (when it signed one with its bound
 * EVM key) and this node's InferenceVerdict over it: what Staking.slashByVerdict accepts (onchain.ts).
 * Generation never waits on a check; `settled()` waits for the ones in flight.
 */
import type { Hex } from 'viem'
import type { TrustSink } from '../../interfaces/trust.js'
import type { StageClient, StepAuditor, StepOutput } from '../pipeline.js'
import { chainInput, decodeSignedCommitment, INPUT_GENESIS, verifyCommitment, type SignedCommitment } from './attest.js'
import { BLOCK, checkBlock, DEFAULT_TOLERANCE, type CheckResult, type Tolerance } from './commit.js'
import type { ChainDomain, Verdict } from './onchain.js'
import type { SignedAttestation } from '../../economy/chain/attestation.js'
import type { StepInput } from './trace.js'
import type { Replayer } from './replay.js'
import { replayChecker, type Checker } from './checker.js'
import { gather, liars, type Answer, type CheckerSource, type LiarBook, type PanelEntry, type VerifierLie } from './resolve.js'
import type { VerdictSigner } from '../../economy/chain/verdicts.js'

export type AuditFailure = 'bad_commitment' | 'bad_signature' | 'wrong_signer' | 'wrong_index' | 'wrong_range' | 'wrong_inputs' | 'failed_check'

export interface Evidence {
  provider: Uint8Array
  stage: { start: number; end: number }
  reason: AuditFailure
  index: number
  commitment?: SignedCommitment
  result?: CheckResult
  /** Who re-executed the block (the checkers' ids). */
  replayer?: string
  /** The stage's step inputs up to the block's end: what another verifier needs to confirm it (confirmEvidence). */
  steps?: StepInput[]
  /** The provider's DataAttestation (from its bound EVM key) and this node's verdict over it. */
  attestation?: SignedAttestation
  verdict?: Verdict
  /** Every InferenceVerdict gathered for the failed check: this node's and those of hired staked verifiers. */
  verdicts?: Verdict[]
  /** The hired verifiers whose failing verdicts are in `verdicts`: the fraud path does not hire (and pay) them again. */
  judges?: Uint8Array[]
}

export interface AuditInit {
  /** Uniform draws in [0, 1): which blocks are re-executed (crypto-random in production). */
  random: () => number
  /** Fraction of committed blocks re-executed. @default 0.1 */
  rate?: number
  /** Another provider of the stage's layers, none of `exclude`; undefined when none is reachable (the check is skipped). */
  replayerFor?(stage: { start: number; end: number }, exclude: Uint8Array[]): Promise<Replayer | undefined>
  /** Who checks instead of this node re-executing through a replayer: e.g. hired verifiers (check-client.ts). */
  checkerFor?(stage: { start: number; end: number }, exclude: Uint8Array[]): Promise<Checker | undefined>
  tolerance?: Tolerance
  trust?: TrustSink
  /** Signs an InferenceVerdict for a failed check with this node's bound EVM key. */
  verdict?: { privateKey: Hex; domain: ChainDomain }
  /** The same from a signer that holds the key (the chain handle's `verdicts`: the node's bound EVM key). */
  verdictSigner?: VerdictSigner
  /** Called with each piece of evidence; a promise it returns (the fraud-proof path) is waited for by settled(). */
  onEvidence?: (e: Evidence) => void | Promise<unknown>
  /** Steps recorded per stage trace (beyond it the stage is no longer audited). @default 8192 */
  maxSteps?: number
  /** This node: its own (local) stages are not audited or recorded. */
  self?: Uint8Array
  /** Who answers each sampled block (resolve.ts; cortex.audit.verifiers): replaces checkerFor / replayerFor. */
  panel?: PanelEntry[]
  /** Further checkers asked when the panel's answers disagree (or a lone one fails). @default 2 */
  maxResolvers?: number
  /** The node's record of lying checkers: they are not asked again, their verdicts never count (resolve.ts). */
  liars?: LiarBook
  onLie?: (l: VerifierLie) => void
}

/** `disputed`: the checkers split evenly and nobody else could break the tie (resolve.ts): no evidence against the
 *  provider (one dishonest checker must not frame an honest stage), nobody blamed. */
export interface AuditStats { commitments: number; scheduled: number; checked: number; passed: number; skipped: number; failed: number; disputed: number }

interface Trace { provider: Uint8Array; start: number; end: number; steps: StepInput[]; chain: Uint8Array; blocks: number; dead: boolean }

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0

export class LiveAuditor implements StepAuditor {
  readonly stats: AuditStats = { commitments: 0, scheduled: 0, checked: 0, passed: 0, skipped: 0, failed: 0, disputed: 0 }
  readonly evidence: Evidence[] = []
  /** Checkers outvoted on a decided check (resolve.ts): each a trust event, unpaid, its signed answer kept. */
  readonly lies: VerifierLie[] = []
  #traces = new Map<number, Trace>()
  #pending = new Set<Promise<void>>()

  constructor(readonly init: AuditInit) {}

  observe(i: number, stage: StageClient, pos: number, input: StepInput, out: StepOutput): void {
    if (this.init.self && same(stage.nodeId, this.init.self)) return
    let t = this.#traces.get(i)
    if (!t || pos === 0 || !same(t.provider, stage.nodeId) || t.start !== stage.start) {
      t = { provider: stage.nodeId, start: stage.start, end: stage.end, steps: [], chain: INPUT_GENESIS, blocks: 0, dead: false }
      this.#traces.set(i, t)
    }
    if (t.dead) return
    if (t.steps.length >= (this.init.maxSteps ?? 8192)) { t.dead = true; return }
    // a copy: the coordinator may reuse the buffers it passed
    const step: StepInput = { T: input.T, ...(input.ids ? { ids: input.ids.slice() } : {}), ...(input.hidden ? { hidden: input.hidden.slice() } : {}) }
    t.steps.push(step)
    t.chain = chainInput(t.chain, step)
    if (out.commit) this.#onCommit(t, out.commit)
  }

  #onCommit(t: Trace, bytes: Uint8Array): void {
    this.stats.commitments++
    let c: SignedCommitment
    try { c = decodeSignedCommitment(bytes) } catch { return this.#fail(t, 'bad_commitment', t.blocks) }
    const index = c.index
    // the stage answers for itself: a commitment signed by anyone else, or not at the step that closes a block
    if (!same(c.signer, t.provider)) return this.#fail(t, 'wrong_signer', index, c)
    if (!verifyCommitment(c)) return this.#fail(t, 'bad_signature', index, c)
    if (t.steps.length !== (index + 1) * BLOCK || index < t.blocks) return this.#fail(t, 'wrong_index', index, c)
    if (c.ref.start !== t.start || c.ref.end !== t.end) return this.#fail(t, 'wrong_range', index, c)
    if (!same(c.inputHash, t.chain)) return this.#fail(t, 'wrong_inputs', index, c)
    t.blocks = index + 1
    if (this.init.random() >= (this.init.rate ?? 0.1)) return
    this.stats.scheduled++
    const steps = t.steps.slice(0, (index + 1) * BLOCK)
    const p = this.#check(t, steps, c).catch(() => { this.stats.skipped++ }).finally(() => { this.#pending.delete(p) })
    this.#pending.add(p)
  }

  /** Who answers each sampled block: `panel`, else one checker from checkerFor or replayerFor. */
  #panel(): PanelEntry[] {
    if (this.init.panel) return this.init.panel
    const find: CheckerSource = async (stage, exclude) => {
      if (this.init.checkerFor) return this.init.checkerFor(stage, exclude)
      const r = await this.init.replayerFor?.(stage, exclude)
      return r && replayChecker(r, this.init.tolerance ?? DEFAULT_TOLERANCE)
    }
    return [{ find, count: 1 }]
  }

  async #check(t: Trace, steps: StepInput[], c: SignedCommitment): Promise<void> {
    const stage = { start: t.start, end: t.end }
    const book = this.init.liars
    const { answers, decision } = await gather(this.#panel(), stage, [t.provider, ...(book?.nodes ?? [])], (r) => r.check(steps, c), this.init.maxResolvers ?? 2)
    if (decision === 'none') { this.stats.skipped++; return }
    this.stats.checked++
    if (decision === 'disputed') {
      // nobody can tell who lied: every answer is paid, nobody is blamed
      this.stats.disputed++
      for (const a of answers) a.out.pay?.()
      return
    }
    const lying = liars(answers, decision)
    for (const a of answers) if (!lying.includes(a)) a.out.pay?.()
    for (const a of lying) this.#lie(t, c, a, answers.filter((x) => !lying.includes(x)).map((x) => x.checker.id))
    if (decision === 'pass') { this.stats.passed++; return }
    const honest = answers.filter((a) => !lying.includes(a))
    const hired = honest.flatMap((a) => (a.out.verdict && !book?.disowned(a.out.verdict.verifier) ? [a.out.verdict] : []))
    const judges = honest.flatMap((a) => (a.checker.hired && a.checker.nodeId ? [a.checker.nodeId] : []))
    // this node signs a verdict of its own only when it judged a re-execution itself (a replica, not a hired verdict)
    const judged = honest.some((a) => a.checker.hired !== true)
    await this.#failAsync(t, 'failed_check', c.index, c, honest[0]!.out.result, honest.map((a) => a.checker.id).join('+'), steps, hired, judged, judges)
  }

  /** A checker outvoted on a decided check: a trust event against it, no payment, its signed answer kept. */
  #lie(t: Trace, c: SignedCommitment, a: Answer, by: string[]): void {
    const claimed = a.out.ok ? 'pass' : 'fail'
    const lie: VerifierLie = { checker: a.checker.id, claimed, provider: t.provider, stage: { start: t.start, end: t.end }, index: c.index, commitment: c, outvotedBy: by,
      ...(a.checker.nodeId ? { verifier: a.checker.nodeId } : {}), ...(a.out.signed ? { signed: a.out.signed } : {}), ...(a.out.verdict ? { verdict: a.out.verdict } : {}) }
    this.lies.push(lie)
    this.init.liars?.add(lie)
    if (a.checker.nodeId) this.init.trust?.report(a.checker.nodeId, 'invalid_inference', `checker ${claimed === 'pass' ? 'passed' : 'failed'} block ${c.index} of layers ${t.start}:${t.end} against ${by.length} other checks`)
    this.init.onLie?.(lie)
  }

  #fail(t: Trace, reason: AuditFailure, index: number, c?: SignedCommitment): void {
    // after a broken commitment the trace cannot be trusted to bind later blocks: stop auditing this stage
    t.dead = true
    const p = this.#failAsync(t, reason, index, c).finally(() => { this.#pending.delete(p) })
    this.#pending.add(p)
  }

  async #failAsync(t: Trace, reason: AuditFailure, index: number, c?: SignedCommitment, result?: CheckResult, replayer?: string, steps?: StepInput[], hired: Verdict[] = [], judged = true, judges: Uint8Array[] = []): Promise<void> {
    this.stats.failed++
    const e: Evidence = { provider: t.provider, stage: { start: t.start, end: t.end }, reason, index, ...(c ? { commitment: c } : {}), ...(result ? { result } : {}), ...(replayer ? { replayer } : {}), ...(steps ? { steps } : {}), ...(judges.length ? { judges } : {}) }
    this.init.trust?.report(t.provider, reason === 'bad_commitment' || reason === 'bad_signature' ? 'invalid_message' : 'invalid_inference', `${reason} at block ${index} of layers ${t.start}:${t.end}`)
    // the EIP-712 side (viem) loads only when there is evidence to sign: a node that audits nothing never pays for it
    const onchain = c && reason === 'failed_check' ? await import('./onchain.js') : undefined
    const att = c && onchain ? onchain.commitmentAttestation(c) : undefined
    if (att && onchain) {
      e.attestation = att
      if (judged && this.init.verdictSigner) e.verdict = this.init.verdictSigner.sign(att)
      else if (judged && this.init.verdict) e.verdict = await onchain.signVerdict(this.init.verdict.privateKey, this.init.verdict.domain, att)
      const all = [...(e.verdict ? [e.verdict] : []), ...hired]
      if (all.length) e.verdicts = all
    }
    this.evidence.push(e)
    await Promise.resolve(this.init.onEvidence?.(e)).catch(() => {})
  }

  /** Resolves when every check in flight has finished. */
  async settled(): Promise<void> { while (this.#pending.size) await Promise.allSettled([...this.#pending]) }
}

/**
 * Another verifier's independent confirmation of a failed check (what a staked verifier does before it adds its
 * verdict to a slashing quorum): the commitment must be validly signed, bind exactly the given step inputs, and
 * fail the check when this verifier re-executes the block on its own provider. Returns its verdict, or undefined
 * when the evidence does not hold up.
 */
export async function confirmEvidence(e: Pick<Evidence, 'commitment' | 'steps'>, replayer: Replayer, key: { privateKey: Hex; domain: ChainDomain }, tol: Tolerance = DEFAULT_TOLERANCE): Promise<Verdict | undefined> {
  const c = e.commitment, steps = e.steps
  if (!c || !steps || !verifyCommitment(c) || steps.length !== (c.index + 1) * BLOCK) return undefined
  let h: Uint8Array = INPUT_GENESIS
  for (const s of steps) h = chainInput(h, s)
  if (!same(h, c.inputHash)) return undefined
  const { commitmentAttestation, signVerdict } = await import('./onchain.js')
  const att = commitmentAttestation(c)
  if (!att) return undefined
  if (checkBlock(c.commitment, await replayer.replay(steps, c.index), tol).ok) return undefined
  return signVerdict(key.privateKey, key.domain, att)
}
