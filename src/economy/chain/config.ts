import { z } from 'zod'

/** Config section `chain` (owned by src/economy/chain, the settlement client). Every field has a default. */
export const chainConfigSchema = z.object({
  /** Use the chain (stakes, governed parameters, settlement). @default false */
  enabled: z.boolean().default(false),
  /** JSON-RPC endpoint. `zeone chain devnet` listens here by default. @default http://127.0.0.1:8545 */
  rpcUrl: z.string().url().default('http://127.0.0.1:8545'),
  /** Expected chain id; a mismatching endpoint is refused. @default 31337 */
  chainId: z.number().int().positive().default(31337),
  /** Contract addresses written by `zeone chain devnet|deploy`, relative to the data dir. @default chain-deployment.json */
  deploymentFile: z.string().min(1).default('chain-deployment.json'),
  /** The node's EVM key file (hex, mode 0600), relative to the data dir; created on first use. @default evm.key */
  keyFile: z.string().min(1).default('evm.key'),
  /** ZEO wei per ledger micro-credit when cheques carry an on-chain part. @default 1000000000000 (1 credit = 1 ZEO) */
  weiPerMicroCredit: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).default(1_000_000_000_000),
  /** Re-read governed parameters this often (seconds). @default 300 */
  paramsRefreshSec: z.number().int().min(1).max(86_400).default(300),
  /** Cache stakes read from the staking contract this long (seconds). @default 60 */
  stakeCacheSec: z.number().int().min(0).max(86_400).default(60),
  /** Largest number of cached stake entries. @default 10000 */
  stakeCacheMax: z.number().int().min(1).max(1_000_000).default(10_000),
  /** Network parameters through the DHT (docs/protocol/params.md): staked nodes with chain access publish what they
   *  read from Params; nodes without chain access follow a quorum of them. */
  paramsSync: z.object({
    /** Publish (with chain access and stake) or follow (without) the governed parameters. @default true */
    enabled: z.boolean().default(true),
    /** Distinct eligible publishers (from distinct diversity groups) that must sign the same snapshot. @default 3 */
    quorum: z.number().int().min(1).max(16).default(3),
    /** Trusted anchor node ids (64 hex chars). When set, only these count toward the quorum. @default [] */
    anchors: z.array(z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected a 64-hex node id')).max(64).default([]),
    /** Stake (ZEO wei, decimal) a node needs to publish, and that a record must claim to count without anchors. @default 1 */
    minStakeWei: z.string().regex(/^\d{1,40}$/, 'expected a decimal wei amount').default('1'),
    /** Without chain access: look the parameters up in the DHT this often (seconds). @default 60 */
    followSec: z.number().int().min(1).max(86_400).default(60),
    /** Blocks a parameter change must be buried under before it is published (reorg safety). @default 2 */
    confirmations: z.number().int().min(0).max(1000).default(2),
  }).strict().prefault({}),
  /** Settings of `zeone chain devnet` (short governance timings so a proposal passes in seconds). */
  devnet: z.object({
    /** @default 127.0.0.1 */ host: z.string().default('127.0.0.1'),
    /** @default 8545 */ port: z.number().int().min(0).max(65_535).default(8545),
    /** @default 1 */ votingDelaySec: z.number().int().min(0).default(1),
    /** @default 60 */ votingPeriodSec: z.number().int().min(1).default(60),
    /** @default 1 */ timelockDelaySec: z.number().int().min(0).default(1),
    /** @default 60 */ unbondingDelaySec: z.number().int().min(0).default(60),
    /** @default 86400 */ epochLengthSec: z.number().int().min(1).default(86_400),
    /** Dev accounts funded with ETH and ZEO. @default 4 */ accounts: z.number().int().min(1).max(32).default(4),
  }).strict().prefault({}),
}).strict()

export type ChainConfig = z.infer<typeof chainConfigSchema>
