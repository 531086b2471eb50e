/**
 * The verifier service (docs/protocol/verified-inference.md §Verifier service): a node with its own replica of a
 * model's layers sells checks. A client sends CORTEX_CHECK (a provider's signed commitment, the stage inputs up to
 * the block's end, its signed promise to pay the quoted price); the verifier checks the commitment's signature and
 * that the inputs hash to what the provider committed to, re-executes the block on its replica, and answers with a
 * verdict signed by its node key (plus, when the check failed and it has a staked EVM key, Staking's
 * InferenceVerdict: what a slashing quorum is made of). Each answered check is one `cortex:verify` request in the
 * ledger (served), priced per check; a client the ledger refuses (over its debt limit: it does not pay) is served
 * nothing. It announces itself as a provider record under SHA-1("service:verify:<model>").
 */
import type { Inbound, MessageRouter } from '../../interfaces/link.js'
import type { ProviderDirectory } from '../../interfaces/providers.js'
import type { UsageMeter } from '../../interfaces/services.js'
import type { TrustSink } from '../../interfaces/trust.js'
import type { VerdictSigner } from '../../economy/chain/verdicts.js'
import { MessageType } from '../../wire/message-types.js'
import { toWireError } from '../../wire/error-codes.js'
import { encodeError } from '../../transport/rpc-link.js'
import { ZeoneError } from '../../util/errors.js'
import { InferenceError } from '../errors.js'
import type { StageEngine } from '../stage.js'
import { blockDataHash, chainInput, decodeSignedCommitment, inferenceRoot, INPUT_GENESIS, verifyCommitment } from './attest.js'
import { BLOCK, checkBlock, DEFAULT_TOLERANCE, type Tolerance } from './commit.js'
import { replayBlock, type StepInput } from './trace.js'
import { CheckType, decodeCheckReq, encodeCheckVerdict, encodeVerifierAnnouncement, payMessage, verdictMessage, verifierKey, VERIFY_SERVICE, type SignedCheckVerdict } from './check-wire.js'
import { verify } from '../../crypto/sign.js'

// no viem here: a node serving checks without a chain never loads it
const hex = (b: Uint8Array): `0x${string}` => `0x${Buffer.from(b).toString('hex')}`
const unhex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.slice(2), 'hex'))

export interface VerifierServerInit {
  modelId: string
  /** The verifier's own replica of the layers it checks. */
  engine: StageEngine
  /** How block `index` of `steps` is re-executed on it. @default replayBlock on `engine` (a node that also serves the
   *  engine as a stage passes its stage's batcher path instead, so checks queue with the stage's own steps) */
  replay?: (steps: StepInput[], index: number) => Promise<Float32Array>
  router: MessageRouter
  signer: { publicKey: Uint8Array; sign(...parts: Uint8Array[]): Uint8Array }
  /** Price per check (micro-credits) asked now: the ledger's charge for one `cortex:verify` request. */
  price: () => bigint
  usage?: UsageMeter
  trust?: TrustSink
  /** The node's bound, staked EVM key: adds an InferenceVerdict to every failed check. */
  evm?: VerdictSigner
  /** Most steps a request may carry (the block's end). @default 4096 */
  maxSteps?: number
  /** Largest request accepted. @default 16 MiB */
  maxRequestBytes?: number
  /** Checks run at once (more are refused with `busy`). @default 2 */
  maxConcurrent?: number
  tolerance?: Tolerance
}

export interface VerifierStats { served: number; failed: number; refused: number }

export class VerifierServer {
  readonly stats: VerifierStats = { served: 0, failed: 0, refused: 0 }
  #unsub: (() => void) | undefined
  #running = 0

  constructor(readonly init: VerifierServerInit) {}

  get width(): number { return this.init.engine.last ? this.init.engine.cfg.vocabSize : this.init.engine.cfg.hidden }

  start(): void { this.#unsub = this.init.router.handle(CheckType.CORTEX_CHECK, (m) => this.#onCheck(m)) }
  stop(): void { this.#unsub?.(); this.#unsub = undefined }

  /** Announces the service (in the background: the DHT may still be joining). Returns the record key. */
  announce(providers: ProviderDirectory): Uint8Array {
    const e = this.init.engine, key = verifierKey(this.init.modelId)
    void providers.provide(key, encodeVerifierAnnouncement({ model: this.init.modelId, start: e.spec.start, end: e.spec.end, layers: e.cfg.layers, price: this.init.price() })).catch(() => {})
    return key
  }

  async #onCheck(m: Inbound): Promise<void> {
    const i = this.init, e = i.engine, client = m.link.peer.nodeId
    let counted = false
    try {
      if (this.#running >= (i.maxConcurrent ?? 2)) throw new InferenceError('busy', 'the verifier is running its most checks at once')
      this.#running++; counted = true
      const req = decodeCheckReq(m.body, { maxSteps: i.maxSteps ?? 4096, maxRequestBytes: i.maxRequestBytes ?? 16 << 20, hidden: e.cfg.hidden })
      if (req.model !== i.modelId) throw new InferenceError('wrong_model', `this verifier checks ${i.modelId}`)
      const c = decodeSignedCommitment(req.commit)
      if (c.ref.model !== i.modelId || c.ref.start !== e.spec.start || c.ref.end !== e.spec.end) throw new InferenceError('bad_layers', `this verifier checks layers ${e.spec.start}:${e.spec.end} of ${i.modelId}`)
      if (!verifyCommitment(c)) throw new InvalidSig('bad_signature', 'the commitment signature does not verify')
      // payment first: a check is work; no promise, no work
      const price = i.price()
      if (req.price < price) throw new InferenceError('unpaid', `a check costs ${price} micro-credits, the request offers ${req.price}`)
      if (!verify(client, req.pay, ...payMessage(i.signer.publicKey, client, req.cid, req.price, req.commit))) throw new InvalidSig('unpaid', 'the payment signature does not verify')
      i.usage?.authorize(client, VERIFY_SERVICE)
      if (req.steps.length !== (c.index + 1) * BLOCK) throw new InferenceError('bad_input', `block ${c.index} needs ${(c.index + 1) * BLOCK} steps, the request has ${req.steps.length}`)
      if (e.first !== (req.steps[0]!.ids !== undefined)) throw new InferenceError('bad_input', e.first ? 'the first stage takes token ids' : 'this stage takes hidden states')
      let h: Uint8Array = INPUT_GENESIS
      for (const s of req.steps) h = chainInput(h, s)
      // inputs the provider did not commit to tell nothing about the provider: no verdict, no charge
      if (Buffer.compare(h, c.inputHash) !== 0) throw new InferenceError('bad_input', 'the steps do not hash to the commitment\'s inputs')
      const res = checkBlock(c.commitment, await (i.replay ? i.replay(req.steps, c.index) : replayBlock(e, req.steps, c.index)), i.tolerance ?? DEFAULT_TOLERANCE)
      const root = inferenceRoot(c.ref), dataHash = blockDataHash(c.inputHash, c.commitment)
      const body = { cid: req.cid, ok: res.ok, index: c.index, root, dataHash, matched: res.matched, k: res.k }
      const v: SignedCheckVerdict = { ...body, signer: i.signer.publicKey, sig: i.signer.sign(...verdictMessage(body)) }
      // an EVM verdict only for a failed check: an honest verifier never signs one over a passing commitment
      if (!res.ok && i.evm) {
        const ev = i.evm.sign({ root: hex(root), index: BigInt(c.index), dataHash: hex(dataHash) })
        v.evmSig = unhex(ev.signature); v.evm = unhex(ev.verifier)
      }
      i.usage?.record(client, VERIFY_SERVICE, 1n, 'served')
      this.stats.served++
      if (!res.ok) this.stats.failed++
      m.reply?.(CheckType.CORTEX_CHECK_RESP, encodeCheckVerdict(v))
    } catch (err) {
      this.stats.refused++
      if (err instanceof InvalidSig || (err instanceof ZeoneError && err.code === 'bad_message')) i.trust?.report(client, 'invalid_message', err.message)
      const out = toWireError(err)
      m.reply?.(MessageType.ERROR, encodeError(out.code, out.message))
    } finally {
      if (counted) this.#running--
    }
  }
}

class InvalidSig extends ZeoneError { override readonly name = 'InvalidSig' }
