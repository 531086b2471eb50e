/**
 * Hiring a verifier (the client side of CORTEX_CHECK): finds `service:verify` providers of a stage's layers
 * through provider records, sends them a sampled block with its signed commitment and a signed promise to pay
 * their announced price, and accepts a verdict only when it is signed by the verifier it hired and is about
 * exactly that commitment (root, index, dataHash); then, and only then, records the check as consumed in the
 * ledger (the verifier recorded it as served when it answered). A verifier that stays silent past the timeout,
 * refuses, or answers with a verdict that does not hold up is not paid (a trust event for the last two kinds); an
 * EVM verdict attached to a *passing* check is a lie no honest verifier tells (reported, refused).
 */
import { randomBytes } from 'node:crypto'
import type { Endpoint, Link, LinkProvider } from '../../interfaces/link.js'
import type { ProviderDirectory } from '../../interfaces/providers.js'
import type { UsageMeter } from '../../interfaces/services.js'
import type { TrustSink } from '../../interfaces/trust.js'
import type { Verdict } from '../../economy/chain/verdicts.js'
import { InferenceError } from '../errors.js'
import { blockDataHash, encodeSignedCommitment, inferenceRoot, type SignedCommitment } from './attest.js'
import type { Checker, CheckOutcome } from './checker.js'
import { CheckType, decodeCheckVerdict, decodeVerifierAnnouncement, encodeCheckReq, payMessage, verifierKey, verifyCheckVerdict, VERIFY_SERVICE } from './check-wire.js'

export interface VerifierCandidate { nodeId: Uint8Array; addrs: Endpoint[]; model: string; start: number; end: number; layers: number; price: bigint }

/** `service:verify` providers of a model, from the DHT's provider records. */
export async function findVerifiers(providers: ProviderDirectory, model: string, opts: { signal?: AbortSignal } = {}): Promise<VerifierCandidate[]> {
  const recs = await providers.findProviders(verifierKey(model), { limit: 64, ...(opts.signal ? { signal: opts.signal } : {}) })
  const out: VerifierCandidate[] = []
  for (const r of recs) {
    const a = r.data ? decodeVerifierAnnouncement(r.data) : null
    if (a && a.model === model) out.push({ nodeId: r.nodeId, addrs: r.addrs, ...a })
  }
  return out
}

export interface HireInit {
  signer: { publicKey: Uint8Array; sign(...parts: Uint8Array[]): Uint8Array }
  model: string
  /** The price per check the client accepted (the verifier's announcement). */
  price: bigint
  usage?: UsageMeter | undefined
  trust?: TrustSink | undefined
  /** How long a check may take before the verifier counts as silent. @default 60000 */
  timeoutMs?: number
  /** Do not record the check as consumed on receipt: the outcome's `pay()` does, once the caller (the live
   *  auditor) judged the verdict honest; a verifier found lying is never paid. @default false */
  deferPayment?: boolean
}

const hex = (b: Uint8Array): `0x${string}` => `0x${Buffer.from(b).toString('hex')}`
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0

/** A checker that hires the verifier at the other end of `link`. */
export function hiredChecker(link: Link, o: HireInit): Checker {
  const verifier = link.peer.nodeId
  const report = (detail: string): void => { o.trust?.report(verifier, 'invalid_message', detail) }
  const memo = new Map<string, Promise<CheckOutcome>>()
  return {
    id: `verify:${link.peer.nodeIdB64}`, nodeId: verifier, hired: true,
    check(steps, c: SignedCommitment, signal): Promise<CheckOutcome> {
      // one check per commitment and verifier: asking again (an audit and then the fraud path) neither hires nor pays twice
      const key = `${c.index}/${hex(inferenceRoot(c.ref))}/${hex(blockDataHash(c.inputHash, c.commitment))}`
      let p = memo.get(key)
      if (!p) {
        p = ask(steps, c, signal)
        memo.set(key, p)
        // bounded: a long-lived checker (the fraud path's) keeps the latest answers only
        if (memo.size > 256) memo.delete(memo.keys().next().value!)
        p.catch(() => memo.delete(key))
      }
      return p
    },
  }

  async function ask(steps: Parameters<Checker['check']>[0], c: SignedCommitment, signal?: AbortSignal): Promise<CheckOutcome> {
    const cid = new Uint8Array(randomBytes(16))
    const commit = encodeSignedCommitment(c)
    const promise = o.signer.sign(...payMessage(verifier, o.signer.publicKey, cid, o.price, commit))
    const body = encodeCheckReq({ cid, model: o.model, commit, steps, price: o.price, pay: promise })
    const resp = await link.request(CheckType.CORTEX_CHECK, body, { timeoutMs: o.timeoutMs ?? 60_000, ...(signal ? { signal } : {}) })
    if (resp.type !== CheckType.CORTEX_CHECK_RESP) throw new InferenceError('bad_reply', `verifier replied with type 0x${resp.type.toString(16)}`)
    let v
    try { v = decodeCheckVerdict(resp.body) } catch (err) { report('malformed verdict'); throw err }
    const root = inferenceRoot(c.ref), dataHash = blockDataHash(c.inputHash, c.commitment)
    const why = !same(v.cid, cid) ? 'a verdict for another check'
      : !same(v.signer, verifier) ? 'a verdict signed by another node'
      : !verifyCheckVerdict(v) ? 'a verdict whose signature does not verify'
      : v.index !== c.index || !same(v.root, root) || !same(v.dataHash, dataHash) ? 'a verdict about another commitment'
      : v.matched > v.k ? 'a verdict with more matches than entries'
      : v.ok && v.evmSig ? 'an on-chain verdict over a check it passed'
      : undefined
    if (why) { report(why); throw new InferenceError('bad_reply', `verifier sent ${why}`) }
    let paid = false
    const pay = (): void => {
      if (paid) return
      paid = true
      try { o.usage?.record(verifier, VERIFY_SERVICE, 1n, 'consumed') } catch { /* ledger closed: the node is stopping */ }
    }
    if (!o.deferPayment) pay()
    const verdict: Verdict | undefined = v.evmSig && v.evm ? { verifier: hex(v.evm), signature: hex(v.evmSig) } : undefined
    return { ok: v.ok, result: { ok: v.ok, matched: v.matched, k: v.k, median: NaN }, signed: resp.body.slice(), ...(verdict ? { verdict } : {}), ...(o.deferPayment ? { pay } : {}) }
  }
}

/**
 * For the auditor: hired verifiers of a stage's exact layers (none of `exclude`, not ourselves, at most `maxPrice`
 * per check), connected once per node.
 */
export function directoryCheckers(providers: ProviderDirectory, links: LinkProvider, o: Omit<HireInit, 'price'> & { layers: number; maxPrice?: bigint; self?: Uint8Array }): (stage: { start: number; end: number }, exclude: Uint8Array[]) => Promise<Checker | undefined> {
  const open = new Map<string, Promise<Checker | undefined>>()
  return async (stage, exclude) => {
    const cands = (await findVerifiers(providers, o.model)).filter((c) => c.start === stage.start && c.end === stage.end && c.layers === o.layers &&
      (o.maxPrice === undefined || c.price <= o.maxPrice) && !exclude.some((x) => same(c.nodeId, x)) && !(o.self && same(c.nodeId, o.self)))
    for (const c of cands) {
      const key = `${Buffer.from(c.nodeId).toString('hex')}/${c.start}:${c.end}`
      let p = open.get(key)
      if (!p) {
        p = (async () => {
          for (const addr of c.addrs) {
            try { return hiredChecker(await links.dial(addr, { expectNodeId: c.nodeId }), { ...o, price: c.price }) } catch { /* next address */ }
          }
          return undefined
        })()
        open.set(key, p)
      }
      const r = await p
      if (r) return r
      open.delete(key)
    }
    return undefined
  }
}
