/**
 * An in-process EVM (Nomic Foundation EDR) exposed as an EIP-1193 provider for viem's `custom` transport.
 * Used by the devnet, the tests and the gas benchmark.
 */
import { createRequire } from 'node:module'
import type { EIP1193RequestFn } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { hexToBytes, type Hex } from 'viem'
import { ChainError } from './errors.js'

const require = createRequire(import.meta.url)
// The slice of EDR's API used here, typed locally: @nomicfoundation/edr is an optional dependency, and the project
// must build (tsc) without it (`npm ci --omit=optional`), so its own type declarations cannot be imported.
interface EdrProvider { handleRequest(json: string): Promise<{ data: unknown }> }
interface EdrContextLike {
  registerProviderFactory(chainType: string, factory: unknown): Promise<void>
  createProvider(chainType: string, config: Record<string, unknown>, logger: Record<string, unknown>,
    subscriptions: Record<string, unknown>, decoder: unknown): Promise<EdrProvider>
}
interface Edr {
  EdrContext: new () => EdrContextLike
  ContractDecoder: new () => unknown
  L1_CHAIN_TYPE: string
  PRAGUE: string
  MineOrdering: { Priority: unknown }
  l1ProviderFactory(): unknown
  l1HardforkFromString(s: string): unknown
  l1GenesisState(hardfork: unknown): Array<{ address: Uint8Array; balance: bigint }>
}
let edrMod: Edr | undefined
let context: EdrContextLike | undefined
let registered: Promise<void> | undefined

export interface EdrInit {
  /** @default 31337 */
  chainId?: number
  /** Funded accounts (owned by the node: eth_sendTransaction signs with them). */
  accounts: { privateKey: Hex; balanceWei: bigint }[]
  /** Genesis timestamp (seconds). @default now */
  genesisTime?: bigint
  /** Also mine an empty block this often (ms), so block time follows the wall clock. @default off */
  intervalMs?: number
}

export interface Eip1193 { request: EIP1193RequestFn }

export interface EdrChain extends Eip1193 {
  chainId: number
  /** Moves chain time forward by `seconds` and mines a block. */
  increaseTime(seconds: number): Promise<void>
}

async function edrContext(): Promise<{ edr: Edr; ctx: EdrContextLike }> {
  edrMod ??= loadEdr()
  const edr = edrMod
  context ??= new edr.EdrContext()
  const ctx = context
  registered ??= ctx.registerProviderFactory(edr.L1_CHAIN_TYPE, edr.l1ProviderFactory())
  await registered
  return { edr, ctx }
}

/** EDR is only needed for the devnet and tests (~190 MB installed): say what to install when it is absent. */
function loadEdr(): Edr {
  try {
    return require('@nomicfoundation/edr') as Edr
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err
    throw new ChainError('evm_missing', 'the local EVM (package @nomicfoundation/edr) is not installed; it is only needed for '
      + "'zeone chain devnet' and the chain tests: install it with `npm install @nomicfoundation/edr` (version in package.json)", { cause: err })
  }
}

let nextId = 1

/** A JSON-RPC error as EIP-1193 defines it (numeric `code`, optional revert `data`), so viem decodes reverts. */
export class JsonRpcError extends Error {
  override readonly name = 'JsonRpcError'
  constructor(readonly code: number, message: string, readonly data?: unknown) {
    super(message)
  }
}

export async function createEdrChain(init: EdrInit): Promise<EdrChain> {
  const { edr, ctx } = await edrContext()
  const chainId = init.chainId ?? 31337
  const genesis = edr.l1GenesisState(edr.l1HardforkFromString(edr.PRAGUE))
  for (const a of init.accounts) {
    genesis.push({ address: hexToBytes(privateKeyToAddress(a.privateKey)), balance: a.balanceWei })
  }
  const network = init.genesisTime === undefined
    ? { genesisBlockGasLimit: 60_000_000n }
    : { genesisBlockGasLimit: 60_000_000n, genesisBlockTime: init.genesisTime }
  const provider = await ctx.createProvider(edr.L1_CHAIN_TYPE, {
    allowBlocksWithSameTimestamp: false,
    allowUnlimitedContractSize: false,
    bailOnCallFailure: false,
    bailOnTransactionFailure: false,
    chainId: BigInt(chainId),
    coinbase: new Uint8Array(20),
    defaultTransactionGasLimit: 30_000_000n,
    genesisState: genesis,
    hardfork: edr.PRAGUE,
    initialBaseFeePerGas: 1_000_000_000n,
    minGasPrice: 0n,
    mining: {
      autoMine: true, memPool: { order: edr.MineOrdering.Priority },
      ...(init.intervalMs !== undefined ? { interval: BigInt(init.intervalMs) } : {}),
    },
    network,
    networkId: BigInt(chainId),
    observability: {},
    ownedAccounts: init.accounts.map((a) => a.privateKey),
    precompileOverrides: [],
  }, { enable: false, decodeConsoleLogInputsCallback: () => [], printLineCallback: () => {} },
  { subscriptionCallback: () => {} }, new edr.ContractDecoder())

  const rawRequest = async (method: string, params: unknown): Promise<unknown> => {
    const res = await provider.handleRequest(JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params: params ?? [] }))
    const data = (typeof res.data === 'string' ? JSON.parse(res.data) : res.data) as {
      result?: unknown; error?: { code: number; message: string; data?: unknown }
    }
    if (data.error !== undefined) {
      // EDR reports reverts as -32000 with { data: '0x…' }; EIP-1474 clients (viem) expect code 3 + hex data.
      const inner = data.error.data as { data?: unknown } | undefined
      if (inner !== null && typeof inner === 'object' && typeof inner.data === 'string') {
        throw new JsonRpcError(3, `execution reverted: ${data.error.message}`, inner.data)
      }
      throw new JsonRpcError(data.error.code, data.error.message, data.error.data)
    }
    return data.result
  }
  const request = (async ({ method, params }: { method: string; params?: unknown }) =>
    rawRequest(method, params)) as unknown as EIP1193RequestFn
  return {
    chainId,
    request,
    async increaseTime(seconds: number) {
      await rawRequest('evm_increaseTime', [seconds])
      await rawRequest('evm_mine', [])
    },
  }
}

/** Handles one raw JSON-RPC body (used by the devnet HTTP server). */
export async function handleJsonRpc(chain: Eip1193, body: unknown): Promise<unknown> {
  const one = async (req: unknown): Promise<unknown> => {
    const r = req as { id?: unknown; method?: unknown; params?: unknown }
    const id = r?.id ?? null
    if (typeof r?.method !== 'string') return { jsonrpc: '2.0', id, error: { code: -32600, message: 'invalid request' } }
    try {
      const result = await chain.request({ method: r.method, params: r.params } as never)
      return { jsonrpc: '2.0', id, result: result ?? null }
    } catch (err) {
      const e = err as { message: string; data?: unknown; code?: unknown }
      return { jsonrpc: '2.0', id, error: { code: typeof e.code === 'number' ? e.code : -32603, message: e.message, data: e.data } }
    }
  }
  if (Array.isArray(body)) {
    if (body.length > 100) return { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'batch too large' } }
    return Promise.all(body.map(one))
  }
  return one(body)
}
