/**
 * Replayers: who re-executes a sampled block for the live auditor (audit.ts). A stage client of another provider
 * serving the same layers (a fresh session there: the prefix in one step, like a prefill, then the block's steps
 * one by one as the prover ran them; that provider meters and bills the tokens like any cortex usage), or a local
 * engine (this node's own copy of the model).
 */
import { randomBytes } from 'node:crypto'
import type { LinkProvider } from '../../interfaces/link.js'
import type { UsageMeter } from '../../interfaces/services.js'
import type { Logger } from '../../interfaces/logger.js'
import type { TrustSink } from '../../interfaces/trust.js'
import { LiveAuditor, type Evidence } from './audit.js'
import type { VerdictSigner } from '../../economy/chain/verdicts.js'
import type { StageDirectory } from '../directory.js'
import { connectStage, type StageClient } from '../pipeline.js'
import type { StageEngine } from '../stage.js'
import { BLOCK } from './commit.js'
import { replayBlock, type StepInput } from './trace.js'
import type { ProviderDirectory } from '../../interfaces/providers.js'
import { replayChecker } from './checker.js'
import { directoryCheckers } from './check-client.js'
import type { CheckerSource, LiarBook, PanelEntry } from './resolve.js'

export interface Replayer {
  readonly id: string
  /** The provider that re-executes (absent for a local engine). */
  readonly nodeId?: Uint8Array
  /** Block `index` of the trace `steps` re-executed: BLOCK rows of the stage's last-position outputs. */
  replay(steps: StepInput[], index: number, signal?: AbortSignal): Promise<Float32Array>
}

function concat(steps: StepInput[]): StepInput {
  if (steps[0]!.ids) return { ids: steps.flatMap((s) => s.ids!), T: steps.reduce((a, s) => a + s.T, 0) }
  const T = steps.reduce((a, s) => a + s.T, 0)
  const h = new Float32Array(steps.reduce((a, s) => a + s.hidden!.length, 0))
  let o = 0
  for (const s of steps) { h.set(s.hidden!, o); o += s.hidden!.length }
  return { hidden: h, T }
}

/**
 * Re-executes on a stage client (remote or local); `width` = hidden size, or the vocabulary on the last stage. The
 * token positions it asks the provider for are recorded in `usage` as consumed 'cortex' units: the provider's
 * server records the same count as served, so the check is paid through the ledgers like any other stage work.
 */
export function clientReplayer(c: StageClient, width: number, usage?: UsageMeter): Replayer {
  return {
    id: c.id, nodeId: c.nodeId,
    async replay(steps, index, signal) {
      const from = index * BLOCK
      if (steps.length < from + BLOCK) throw new RangeError(`block ${index} needs ${from + BLOCK} steps, the trace has ${steps.length}`)
      const sid = new Uint8Array(randomBytes(16))
      const rows = new Float32Array(BLOCK * width)
      let served = 0
      const fwd = async (pos: number, s: StepInput) => { const o = await c.forward(sid, pos, s, false, undefined, signal); served += s.T; return o }
      try {
        let pos = 0
        if (from > 0) pos = (await fwd(0, concat(steps.slice(0, from)))).pos
        for (let j = from; j < from + BLOCK; j++) {
          const out = await fwd(pos, steps[j]!)
          if (!out.data || out.data.length < width) throw new RangeError('the replaying stage returned no row')
          rows.set(out.data.subarray(out.data.length - width), (j - from) * width)
          pos = out.pos
        }
      } finally {
        c.release(sid)
        if (served) usage?.record(c.nodeId, 'cortex', BigInt(served), 'consumed')
      }
      return rows
    },
  }
}

/** Re-executes on a local engine loaded from the claimed model. */
export const engineReplayer = (e: StageEngine, id = 'local-engine'): Replayer => ({ id, replay: (steps, index) => replayBlock(e, steps, index) })

/**
 * Finds another provider of a stage's exact layers through the stage directory (none of `exclude`, not ourselves) and
 * connects to it; connections are kept per node for the session's lifetime.
 */
export function directoryReplayers(dir: StageDirectory, links: LinkProvider, model: string, dims: { hidden: number; vocab: number; layers: number }, self?: Uint8Array, usage?: UsageMeter): (stage: { start: number; end: number }, exclude: Uint8Array[]) => Promise<Replayer | undefined> {
  const open = new Map<string, Promise<Replayer | undefined>>()
  return async (stage, exclude) => {
    const cands = (await dir.find(model)).filter((c) => c.start === stage.start && c.end === stage.end && c.layers === dims.layers &&
      !exclude.some((x) => Buffer.compare(c.nodeId, x) === 0) && !(self && Buffer.compare(c.nodeId, self) === 0))
    for (const c of cands) {
      const key = `${Buffer.from(c.nodeId).toString('hex')}/${c.start}:${c.end}`
      let p = open.get(key)
      if (!p) {
        p = connectStage(links, c, dims).then((cl) => clientReplayer(cl, stage.end === dims.layers ? dims.vocab : dims.hidden, usage), () => undefined)
        open.set(key, p)
      }
      const r = await p
      if (r) return r
      open.delete(key)
    }
    return undefined
  }
}

/** cortex.audit: who checks the sampled blocks, how many verifiers are hired and at what price. */
export interface AuditPolicy {
  verifiers: 'replica' | 'hired' | 'both'
  hire: number
  maxPrice?: bigint | undefined
  maxResolvers?: number | undefined
  /** Where hired verifiers are found (provider records); without it a 'hired' policy checks nothing. */
  providers?: ProviderDirectory | undefined
  /** Signs the promises to pay hired verifiers (the node identity). */
  signer?: { publicKey: Uint8Array; sign(...parts: Uint8Array[]): Uint8Array } | undefined
  /** How long a hired check may take. @default 60000 */
  timeoutMs?: number | undefined
  liars?: LiarBook | undefined
}

/** The panel (resolve.ts) a policy asks: replicas through the stage directory, hired verifiers, or both. */
export function auditPanel(p: AuditPolicy, replicas: CheckerSource, o: { model: string; layers: number; links: LinkProvider; self: Uint8Array; usage?: UsageMeter | undefined; trust?: TrustSink | undefined }): PanelEntry[] {
  const hired: CheckerSource | undefined = p.providers && p.signer
    ? directoryCheckers(p.providers, o.links, { signer: p.signer, model: o.model, layers: o.layers, usage: o.usage, trust: o.trust, self: o.self, deferPayment: true,
      ...(p.maxPrice !== undefined ? { maxPrice: p.maxPrice } : {}), ...(p.timeoutMs !== undefined ? { timeoutMs: p.timeoutMs } : {}) })
    : undefined
  const panel: PanelEntry[] = []
  if (p.verifiers !== 'hired') panel.push({ find: replicas, count: 1 })
  if (p.verifiers !== 'replica' && hired) panel.push({ find: hired, count: p.hire })
  return panel
}

/**
 * The auditor a node's own pipeline generation uses (cortex.auditRate, cortex.audit): crypto-random sampling,
 * checked by replicas found through the stage directory (paid through the usage meter as stage work) and/or hired
 * verifiers (paid per check), failures reported as trust events and logged.
 */
export function networkAuditor(o: { rate: number; directory: StageDirectory; links: LinkProvider; model: string; dims: { hidden: number; vocab: number; layers: number }; self: Uint8Array; usage?: UsageMeter | undefined; trust?: TrustSink | undefined; logger: Logger
  /** The node's bound EVM key (the chain handle's): signs an InferenceVerdict for every failed check it judged. */
  verdictSigner?: VerdictSigner | undefined
  /** Also called with each piece of evidence (the fraud-proof path, fraud.ts). */
  onEvidence?: ((e: Evidence) => void | Promise<unknown>) | undefined
  /** cortex.audit. @default replicas only */
  policy?: AuditPolicy | undefined }): LiveAuditor {
  const replayers = directoryReplayers(o.directory, o.links, o.model, o.dims, o.self, o.usage)
  const replicas: CheckerSource = async (stage, exclude) => { const r = await replayers(stage, exclude); return r && replayChecker(r) }
  const p = o.policy
  return new LiveAuditor({
    rate: o.rate, random: () => randomBytes(6).readUIntBE(0, 6) / 2 ** 48, self: o.self,
    panel: p ? auditPanel(p, replicas, { model: o.model, layers: o.dims.layers, links: o.links, self: o.self, usage: o.usage, trust: o.trust }) : [{ find: replicas, count: 1 }],
    ...(p?.maxResolvers !== undefined ? { maxResolvers: p.maxResolvers } : {}), ...(p?.liars ? { liars: p.liars } : {}),
    ...(o.trust ? { trust: o.trust } : {}), ...(o.verdictSigner ? { verdictSigner: o.verdictSigner } : {}),
    onEvidence: (e) => {
      o.logger.warn({ provider: Buffer.from(e.provider).toString('base64'), layers: `${e.stage.start}:${e.stage.end}`, reason: e.reason, block: e.index }, 'cortex: a stage failed verification')
      return o.onEvidence?.(e)
    },
    onLie: (l) => o.logger.warn({ checker: l.checker, claimed: l.claimed, layers: `${l.stage.start}:${l.stage.end}`, block: l.index }, 'cortex: a checker was outvoted (not paid)'),
  })
}
