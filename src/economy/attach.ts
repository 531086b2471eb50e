/**
 * Wires the economy layer into a running node: the ledger at <dataDir>/ledger.sqlite, metering of application
 * frames through ctx.wireTap, IOU / BALANCE_CLAIM / BALANCE_ACK on ctx.router, ctx.services 'trust' and 'usage',
 * and the control routes behind `zeone balance`, `zeone trust [PEER]` and `zeone iou list`.
 */
import { join } from 'node:path'
import { systemClock } from '../interfaces/clock.js'
import type { NodeContext, Stoppable } from '../interfaces/node-context.js'
import type { ChainConfig } from './chain/config.js'
import type { EconomyConfig } from './config.js'
import type { OnchainVerifier } from './cheque.js'
import type { ChainHandle } from './chain/attach-chain.js'
import { governedEconomy } from './chain/governed.js'
import { Economy } from './economy.js'
import { LedgerStore } from './ledger-store.js'
import { economyMetrics } from './metrics.js'
import { balanceReport, balanceTotals, iouReport, parsePeer, trustReport } from './report.js'
import { EconomySession } from './session.js'
import { StakeCache } from './stake-cache.js'

declare module '../interfaces/node-context.js' {
  interface ServiceMap {
    /** economy: the ledger engine (balances, held cheques for on-chain cashing, markRedeemed). */
    economy: Economy
  }
}

export const LEDGER_FILE = 'ledger.sqlite'
const DEFAULTS_CHECK_MS = 3_600_000

/**
 * Without a chain client, a received cheque's on-chain part is still checked, but the EIP-712 code (and viem behind
 * it, ~400 modules) loads only when the first such cheque arrives: that cheque is refused as onchain_pending (no
 * trust penalty; the debtor resends with its next payment) and every later one is verified.
 */
export function lazyOnchainVerifier(log: NodeContext['logger']): OnchainVerifier {
  let verify: OnchainVerifier | undefined
  let loading = false
  return (c) => {
    if (c.onchain === undefined) return true
    if (verify) return verify(c)
    if (!loading) {
      loading = true
      import('./chain/cheque-eip712.js').then((m) => { verify = m.makeOnchainVerifier() },
        (err: unknown) => { loading = false; log.warn({ err: (err as Error).message }, 'EIP-712 cheque verifier failed to load') })
    }
    return { code: 'onchain_pending', message: 'on-chain cheque verifier is loading; resend' }
  }
}

/** Wires the economy layer into a running node. */
/** The config sections this layer reads (the node hands it only these). */
export interface EconomyLayerConfig { economy: EconomyConfig; chain: ChainConfig }

export async function attach(ctx: NodeContext<EconomyLayerConfig>): Promise<Stoppable | void> {
  const cfg = ctx.config.economy
  if (!cfg.enabled) return undefined
  const clock = systemClock
  const log = ctx.logger
  const store = LedgerStore.open(join(ctx.dataDir, LEDGER_FILE), { now: () => clock.now() })
  // the settlement client (when chain.enabled): stakes, and the EIP-712 part of the cheques we issue and receive
  let chain: ChainHandle | undefined
  // loaded only when enabled: the settlement client pulls in viem's RPC clients and the contract ABIs
  try { if (ctx.config.chain.enabled) chain = await (await import('./chain/attach-chain.js')).attachChain(ctx) } catch (err) {
    log.warn({ err: (err as Error).message }, 'chain: settlement client unavailable; cheques stay off-chain, stakes from config')
  }
  const stakes = new StakeCache({ source: () => ctx.services.get('stake'), now: () => clock.now(), ttlMs: cfg.trust.stakeCacheMs, logger: log })
  // a stake change on chain drops the cached answers at once (the cache lifetime only bounds it without events)
  const unwatchStakes = ctx.services.get('stake')?.onStakeChange?.(() => stakes.invalidate())
  if (unwatchStakes) ctx.signal.addEventListener('abort', unwatchStakes, { once: true })
  let session: EconomySession | undefined
  const economy: Economy = new Economy({
    identity: ctx.identity, store, config: cfg, clock, logger: log,
    stakeOf: (p) => stakes.get(p),
    events: economyMetrics(ctx.metrics, () => store.pending, () => balanceTotals(economy)),
    onchainVerifier: chain?.onchainVerifier ?? lazyOnchainVerifier(log),
    ...(chain ? { onchainSigner: (f) => chain.onchainSigner(f) } : {}),
    onPaymentDue: (peer) => queueMicrotask(() => {
      session?.pay(peer).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'could not send a cheque'))
    }),
  })
  // governed fees, debt limit and trust floor: applied now and again whenever the chain's values change
  if (chain) {
    const apply = (p: NonNullable<ReturnType<ChainHandle['params']>>): void => {
      try { economy.applyGoverned(governedEconomy(p)) } catch (err) { log.warn({ err: (err as Error).message }, 'chain: governed parameters not applied') }
    }
    const p0 = chain.params()
    if (p0) apply(p0)
    chain.onParams(apply)
  }
  // governed parameters through the DHT: published when we read the chain, followed when we cannot (params.md)
  const dht = ctx.services.get('dht')
  const params = ctx.config.chain.paramsSync.enabled && dht ? (await import('./chain/params-sync.js')).attachParamsSync(ctx, { economy, chain, dht }) : undefined
  session = new EconomySession({
    economy, router: ctx.router, links: ctx.links, wireTap: ctx.wireTap, clock, logger: log,
    flushIntervalMs: cfg.flushIntervalMs, claimIntervalMs: cfg.claimIntervalMs,
  })
  session.start()
  ctx.services.provide('trust', economy.trust)
  ctx.services.provide('usage', economy)
  ctx.services.provide('claimEvidence', { recordClaim: (peer, c) => economy.recordLegacyClaim(peer, c) })
  ctx.services.provide('economy', economy)

  const peerOf = (q: URLSearchParams): Uint8Array | undefined => {
    const p = q.get('peer')
    return p ? parsePeer(p) : undefined
  }
  ctx.control.route('GET', '/v1/economy/balance', (req) => balanceReport(economy, peerOf(req.query)))
  ctx.control.route('GET', '/v1/economy/trust', (req) => trustReport(economy, peerOf(req.query)))
  ctx.control.route('GET', '/v1/economy/iou', () => iouReport(economy, ctx.identity.publicKey))

  let defaultsTimer: { cancel(): void } | undefined
  const scheduleDefaults = (): void => {
    defaultsTimer = clock.setTimeout(() => {
      try { economy.checkDefaults() } catch (err) { log.warn({ err: (err as Error).message }, 'cheque default check failed') }
      scheduleDefaults()
    }, DEFAULTS_CHECK_MS)
  }
  scheduleDefaults()
  let stopped = false
  const stop = (): void => {
    if (stopped) return
    stopped = true
    defaultsTimer?.cancel()
    session?.stop()
    params?.stop()
    chain?.stop()
  }
  ctx.signal.addEventListener('abort', stop, { once: true })
  log.info({ debtLimit: `${economy.debtLimit}`, recovered: store.recovered }, 'economy attached')
  return { stop }
}
