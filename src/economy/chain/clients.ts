/** viem clients over an EIP-1193 provider (EDR) or an HTTP JSON-RPC URL, plus small read/write/deploy helpers. */
import {
  createPublicClient, createWalletClient, custom, defineChain, http, type Abi, type Account, type Address,
  type Hex, type PublicClient, type TransactionReceipt, type Transport, type WalletClient, type Chain,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { ChainError } from './errors.js'
import type { Eip1193 } from './edr.js'

export interface Clients {
  chain: Chain
  public: PublicClient
  wallet?: WalletClient<Transport, Chain, Account>
  account?: Account
}

export function chainDef(chainId: number, rpcUrl = 'http://127.0.0.1:8545'): Chain {
  return defineChain({
    id: chainId, name: `zeone-${chainId}`, nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  })
}

export function connect(opts: { provider?: Eip1193; rpcUrl?: string; chainId: number; privateKey?: Hex }): Clients {
  let transport: Transport
  if (opts.provider !== undefined) transport = custom(opts.provider)
  else if (opts.rpcUrl !== undefined) transport = http(opts.rpcUrl, { retryCount: 0, timeout: 30_000 })
  else throw new ChainError('not_configured', 'need an EIP-1193 provider or an RPC URL')
  const chain = chainDef(opts.chainId, opts.rpcUrl)
  const pub = createPublicClient({ chain, transport, pollingInterval: 100 }) as PublicClient
  if (opts.privateKey === undefined) return { chain, public: pub }
  const account = privateKeyToAccount(opts.privateKey)
  const wallet = createWalletClient({ chain, transport, account, pollingInterval: 100 })
  return { chain, public: pub, wallet, account }
}

function needWallet(c: Clients): WalletClient<Transport, Chain, Account> {
  if (c.wallet === undefined) throw new ChainError('not_configured', 'no signing key configured for chain writes')
  return c.wallet
}

export async function receiptOf(c: Clients, hash: Hex): Promise<TransactionReceipt> {
  let r: TransactionReceipt | undefined
  // An auto-mining chain (EDR devnet) has the receipt at once; a remote chain is polled.
  for (let delay = 25; r === undefined && delay < 60_000; delay = Math.min(delay * 2, 2000)) {
    try {
      r = await c.public.getTransactionReceipt({ hash })
    } catch (err) {
      if ((err as Error).name !== 'TransactionReceiptNotFoundError') throw err
      await new Promise((res) => setTimeout(res, delay))
    }
  }
  if (r === undefined) r = await c.public.waitForTransactionReceipt({ hash, pollingInterval: 1000, timeout: 120_000 })
  if (r.status !== 'success') throw new ChainError('tx_reverted', `transaction ${hash} reverted`)
  return r
}

export async function write(
  c: Clients, address: Address, abi: Abi, functionName: string, args: readonly unknown[] = [],
): Promise<TransactionReceipt> {
  const w = needWallet(c)
  const hash = await w.writeContract({ address, abi, functionName, args } as never)
  return receiptOf(c, hash)
}

export async function read<T>(c: Clients, address: Address, abi: Abi, functionName: string, args: readonly unknown[] = []): Promise<T> {
  return await c.public.readContract({ address, abi, functionName, args } as never) as T
}

export async function deploy(c: Clients, abi: Abi, bytecode: Hex, args: readonly unknown[] = []): Promise<{ address: Address; receipt: TransactionReceipt }> {
  const w = needWallet(c)
  const hash = await w.deployContract({ abi, bytecode, args } as never)
  const receipt = await receiptOf(c, hash)
  if (receipt.contractAddress == null) throw new ChainError('deploy_failed', 'no contract address in receipt')
  return { address: receipt.contractAddress, receipt }
}
