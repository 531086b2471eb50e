/**
 * Hook for a running node (called from src/economy/attach.ts or src/node.ts when `chain.enabled`): opens the
 * settlement client, provides the `stake` service, and keeps the governed parameters fresh (refresh timer is
 * unref'd and cleared on stop). Failures to reach the chain are logged, never fatal to the node.
 */
import { bytesToHex, hexToBytes, keccak256, toHex } from 'viem'
import type { NodeContext, Stoppable } from '../../interfaces/node-context.js'
import type { ChainConfig } from './config.js'
import { ChainClient, type GovernedParams } from './client.js'
import { loadOrCreateEvmKey, readDeployment } from './files.js'
import { makeOnchainSigner, signDigestSync, type OnchainPart } from './cheque-eip712.js'
import { attestationDigest } from './attestation.js'
import { ChequeGuard, type OnchainRefusal } from './cheque-guard.js'
import { verdictSigner, type VerdictSigner } from './verdicts.js'
import type { Cheque } from '../cheque.js'

declare module '../../interfaces/node-context.js' {
  interface ServiceMap {
    /** chain: the settlement client handle (governed parameters, cheque hooks for the economy layer). */
    chain: ChainHandle
  }
}

export interface ChainHandle extends Stoppable {
  client: ChainClient
  /** Latest governed parameters read from chain (undefined until the first successful read). */
  params(): GovernedParams | undefined
  /** Called after every successful parameter refresh that found a change (and once for the first read). */
  onParams(cb: (p: GovernedParams) => void): () => void
  /**
   * Whether governance whitelisted a model (Params.modelWhitelisted(keccak256(UTF-8 model id))), cached for
   * chain.paramsRefreshSec; false when the chain cannot be read. For the cortex layer's serving gate.
   */
  modelAllowed(modelId: string): Promise<boolean>
  /** Re-reads the governed parameters now (the timer does it every chain.paramsRefreshSec). */
  refresh(): Promise<GovernedParams | undefined>
  /**
   * For Economy's `onchainSigner` (used by issueChequeAsync): adds the EIP-712 part to the cheques we issue, after
   * resolving the creditor's verified EVM address (cached); undefined when the creditor has no valid binding.
   */
  onchainSigner: (f: { creditor: Uint8Array; amount: bigint; serial: bigint; expires: bigint }) => Promise<OnchainPart | undefined>
  /**
   * For Economy's `onchainVerifier`: our chain and escrow, payee = our address, the agreed rate, the sender's
   * binding and its deposit coverage, from caches warmed when a link comes up (src/economy/chain/cheque-guard.ts).
   */
  onchainVerifier: (c: Cheque) => true | OnchainRefusal
  guard: ChequeGuard
  /** Verified inference: Staking's EIP-712 DataAttestation(root, index, dataHash) signed by the node's bound EVM key
   *  (65 bytes r || s || v), for a stage's activation commitments (docs/protocol/verified-inference.md). */
  attestData(root: Uint8Array, index: number, dataHash: Uint8Array): Uint8Array
  /** Verified inference: Staking's EIP-712 InferenceVerdict signed by the same key, for this node's auditor when its
   *  re-execution fails a provider's attested commitment (src/economy/chain/verdicts.ts). */
  verdicts: VerdictSigner
}

export async function attachChain(ctx: NodeContext<{ chain: ChainConfig }>): Promise<ChainHandle | undefined> {
  const cfg = ctx.config.chain
  if (!cfg.enabled) return undefined
  const dep = readDeployment(ctx.dataDir, cfg.deploymentFile)
  const privateKey = loadOrCreateEvmKey(ctx.dataDir, cfg.keyFile)
  const client = await ChainClient.open({
    deployment: dep,
    // the deployment file names the endpoint it was deployed on (as the chain CLI commands use it)
    rpcUrl: dep.rpcUrl ?? cfg.rpcUrl,
    privateKey,
    stakeCacheMs: cfg.stakeCacheSec * 1000,
    stakeCacheMax: cfg.stakeCacheMax,
  })
  if (client.dep.chainId !== cfg.chainId) ctx.logger.warn({ want: cfg.chainId, got: client.dep.chainId }, 'chain: deployment chain id differs from config')
  ctx.services.provide('stake', client)
  const [boundId] = await client.read<[`0x${string}`, `0x${string}`]>(dep.escrow, 'SettlementEscrow', 'bindingOf', [client.address])
  if (boundId.toLowerCase() !== bytesToHex(ctx.identity.publicKey)) {
    ctx.logger.warn({ address: client.address }, "chain: this node's identity is not bound to its EVM key; run 'zeone chain bind' before issuing on-chain cheques")
  }
  const escrow = hexToBytes(dep.escrow)
  const chainId = BigInt(dep.chainId)
  let current: GovernedParams | undefined
  const listeners = new Set<(p: GovernedParams) => void>()
  let stopped = false
  const same = (a: GovernedParams, b: GovernedParams): boolean => (Object.keys(a) as (keyof GovernedParams)[]).every((k) => a[k] === b[k])
  const refresh = async (): Promise<GovernedParams | undefined> => {
    try {
      const p = await client.readParams()
      if (stopped) return current
      const changed = current === undefined || !same(current, p)
      current = p
      if (changed) {
        ctx.logger.info(Object.fromEntries(Object.entries(p).map(([k, v]) => [k, `${v}`])), 'chain: governed parameters')
        for (const cb of listeners) {
          try { cb(p) } catch (err) { ctx.logger.warn({ err: (err as Error).message }, 'chain: a parameter listener failed') }
        }
      }
    } catch (err) {
      ctx.logger.warn({ err: (err as Error).message }, 'chain: cannot read governed parameters')
    }
    return current
  }
  await refresh()
  const timer = setInterval(() => { void refresh() }, cfg.paramsRefreshSec * 1000)
  timer.unref()
  const stop = (): void => { stopped = true; clearInterval(timer); listeners.clear() }
  ctx.signal.addEventListener('abort', stop, { once: true })
  ctx.logger.info({ address: client.address, chainId: client.dep.chainId }, 'chain: settlement client ready')
  const signSync = makeOnchainSigner({
    privateKey, chainId, escrow, weiPerMicroCredit: BigInt(cfg.weiPerMicroCredit),
    creditorEvmOf: (peer) => client.evmAddressOfCached(peer),
  })
  const models = new Map<string, { at: number; allowed: boolean }>()
  const modelAllowed = async (modelId: string): Promise<boolean> => {
    const hit = models.get(modelId)
    if (hit !== undefined && Date.now() - hit.at < cfg.paramsRefreshSec * 1000) return hit.allowed
    let allowed = false
    try { allowed = await client.isModelWhitelisted(keccak256(toHex(modelId))) } catch (err) {
      ctx.logger.warn({ err: (err as Error).message }, 'chain: cannot read the model whitelist')
      return false
    }
    if (models.size >= 1024) models.clear()
    models.set(modelId, { at: Date.now(), allowed })
    return allowed
  }
  const guard = new ChequeGuard({
    chain: client, chainId, escrow, selfEvm: client.address!, weiPerMicroCredit: BigInt(cfg.weiPerMicroCredit),
    max: cfg.stakeCacheMax,
    onError: (err) => ctx.logger.debug({ err: err.message }, 'chain: cheque guard lookup failed'),
  })
  const warm = (l: { peer: { nodeId: Uint8Array } }): void => {
    guard.warm(l.peer.nodeId).catch((err: unknown) => ctx.logger.debug({ err: (err as Error).message }, 'chain: cannot warm the cheque guard'))
  }
  for (const l of ctx.links.links()) warm(l)
  const offLinks = ctx.links.onLink(warm)
  const handle: ChainHandle = {
    modelAllowed,
    client,
    async onchainSigner(f) {
      try {
        await client.evmAddressOf(f.creditor)
      } catch (err) {
        ctx.logger.warn({ err: (err as Error).message }, 'chain: cannot resolve the creditor EVM address; cheque stays off-chain')
        return undefined
      }
      return signSync(f)
    },
    onchainVerifier: (c) => guard.verify(c),
    guard,
    attestData: (root, index, dataHash) => signDigestSync(privateKey, attestationDigest({ chainId, staking: dep.staking, root, index: BigInt(index), dataHash })),
    verdicts: verdictSigner(privateKey, chainId, dep.staking),
    params: () => current,
    refresh,
    onParams(cb) { listeners.add(cb); return () => listeners.delete(cb) },
    stop() { ctx.signal.removeEventListener('abort', stop); offLinks(); stop() },
  }
  ctx.services.provide('chain', handle)
  return handle
}
