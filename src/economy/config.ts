import { z } from 'zod'

/** A non-negative integer amount: a JSON/TOML number (safe integer) or a decimal string (for values past 2^53). */
const amount = z.union([z.number().int().nonnegative(), z.string().regex(/^\d{1,20}$/, 'expected a decimal integer')])

/** Per-service price: `price` micro-credits for every `per` units of the service's `unit`. */
const servicePrice = z.object({
  unit: z.enum(['byte', 'token', 'request', 'second', 'chunk']).default('byte'),
  price: amount.default(1),
  per: amount.default(1),
}).strict()

/** Config section `economy` (owned by src/economy). Every field has a default so an empty section is valid. */
export const economyConfigSchema = z.object({
  /** Turn the economy layer off (nothing metered, every peer served). @default true */
  enabled: z.boolean().default(true),
  /** Micro-credits per application payload byte metered on the wire (network parameter). @default 1 */
  bytePrice: amount.default(1),
  /**
   * Debt limit in micro-credits: a peer owing more is served nothing until it pays. Unset = 100 MiB worth of
   * credits at `bytePrice`.
   */
  debtLimit: amount.optional(),
  /** Send a cheque once our debt to a peer reaches this fraction of the debt limit (ppm). @default 500000 */
  payThresholdPpm: z.number().int().min(1).max(1_000_000).default(500_000),
  /** Cheque lifetime in seconds. @default 2592000 (30 days) */
  chequeTtlSec: z.number().int().min(60).default(30 * 24 * 3600),
  /** Group commit: flush the ledger at least this often (ms). @default 200 */
  flushIntervalMs: z.number().int().min(1).max(60_000).default(200),
  /** Group commit: flush when this many entries are pending. @default 8192 */
  maxBatch: z.number().int().min(1).max(1_000_000).default(8192),
  /** Send a signed BALANCE_CLAIM to each linked peer this often (ms). @default 30000 */
  claimIntervalMs: z.number().int().min(100).default(30_000),
  /** Claims from one peer closer together than this are refused (`rate_limited`): answering commits. @default 1000 */
  minClaimGapMs: z.number().int().min(0).default(1000),
  /** Reconciliation tolerance: absolute micro-credits. @default 0 */
  toleranceAbs: amount.default(0),
  /** Reconciliation tolerance: parts per million of the cumulative counter. @default 1000 */
  tolerancePpm: z.number().int().min(0).max(1_000_000).default(1000),
  /** Largest adjustment accepted after an unclean restart (micro-credits). Unset = the debt limit. */
  maxRecoveryAdjust: amount.optional(),
  trust: z.object({
    /** EMA smoothing factor (the largest per-event weight). @default 0.1 */
    alpha: z.number().gt(0).max(1).default(0.1),
    /** Initial behaviour score. @default 0.5 */
    initial: z.number().min(0).max(1).default(0.5),
    /** Below this effective score a peer gets only PING, DHT routing, and service against collateral. @default 0.1 */
    min: z.number().min(0).max(1).default(0.1),
    /** Multiplicative decay per day without interaction. @default 0.99 */
    decayPerDay: z.number().gt(0).max(1).default(0.99),
    /** base_stake in ZEO wei (decimal string). @default 100 ZEO */
    baseStake: amount.default('100000000000000000000'),
    /** Stake assumed for peers when no settlement client answers (ZEO wei). @default 100 ZEO */
    defaultStake: amount.default('100000000000000000000'),
    /** Prepaid credit (micro-credits) a low-trust peer must hold with us to be served. @default 10000000 */
    collateral: amount.default(10_000_000),
    /** How long a stake read from the settlement client is cached (ms). @default 600000 */
    stakeCacheMs: z.number().int().min(0).default(600_000),
  }).strict().prefault({}),
  pricing: z.object({
    /** Per-service prices (service name -> price). Services not listed cost `bytePrice` per unit. */
    services: z.record(z.string().regex(/^[a-z0-9_:.-]{1,64}$/), servicePrice).default({}),
    /** Epoch length of the dynamic rate (ms). @default 60000 */
    epochMs: z.number().int().min(1000).default(60_000),
    /** Target utilisation (ppm of capacity). @default 500000 */
    targetUtilPpm: z.number().int().min(1).max(1_000_000).default(500_000),
    /** Capacity in service units per epoch used to compute utilisation. @default 1073741824 */
    capacityPerEpoch: amount.default(1 << 30),
    /** Maximum rate change per epoch (ppm, EIP-1559 uses 1/8). @default 125000 */
    maxStepPpm: z.number().int().min(0).max(1_000_000).default(125_000),
    /** Rate bounds (ppm of the list price), network parameters. @default 100000 .. 10000000 */
    minRatePpm: z.number().int().min(1).default(100_000),
    maxRatePpm: z.number().int().min(1).default(10_000_000),
    /** Optional oracle rate: ZEO wei per micro-credit (decimal string); unset = no conversion. */
    zeoWeiPerCredit: amount.optional(),
  }).strict().prefault({}),
}).strict()

export type EconomyConfig = z.infer<typeof economyConfigSchema>

/** Reads a config amount as bigint. */
export function toAmount(v: number | string): bigint {
  return BigInt(v)
}
