/**
 * The node's settlement client: stakes (StakeSource for the service registry), governed parameters, identity
 * binding, deposits and stake operations, over viem against the configured JSON-RPC endpoint (or an EIP-1193
 * provider in tests).
 */
import { bytesToHex, hexToBytes, keccak256, toHex, type Address, type Hex } from 'viem'
import type { StakeSource } from '../../interfaces/services.js'
import type { Identity } from '../../crypto/identity.js'
import { artifact, loadArtifacts, type Artifacts } from './artifacts.js'
import { connect, read, write, type Clients } from './clients.js'
import type { Eip1193 } from './edr.js'
import type { Deployment } from './deploy.js'
import { signBinding, verifyBinding } from './binding.js'
import { ChainError } from './errors.js'
import type { DebtorState } from './cheque-guard.js'

import { PARAM_NAMES, type GovernedParams } from './param-names.js'
export { PARAM_NAMES, type ParamName, type GovernedParams } from './param-names.js'
export const paramKey = (name: string): Hex => keccak256(toHex(name))

export interface ChainClientInit {
  deployment: Deployment
  rpcUrl?: string
  provider?: Eip1193
  privateKey?: Hex
  /** Stake cache lifetime in ms. @default 60000 */
  stakeCacheMs?: number
  /** @default 10000 */
  stakeCacheMax?: number
  /** @default Date.now */
  now?: () => number
}

export class ChainClient implements StakeSource {
  readonly dep: Deployment
  readonly c: Clients
  readonly arts: Artifacts
  readonly #cache = new Map<string, { at: number; stake: bigint }>()
  readonly #addrCache = new Map<string, { at: number; addr: Address | undefined }>()
  readonly #addrPending = new Set<string>()
  readonly #ttl: number
  readonly #max: number
  readonly #now: () => number
  #withdrawWindow: bigint | undefined

  private constructor(init: ChainClientInit, c: Clients, arts: Artifacts) {
    this.dep = init.deployment
    this.c = c
    this.arts = arts
    this.#ttl = init.stakeCacheMs ?? 60_000
    this.#max = init.stakeCacheMax ?? 10_000
    this.#now = init.now ?? Date.now
  }

  static async open(init: ChainClientInit): Promise<ChainClient> {
    const c = connect({
      chainId: init.deployment.chainId,
      ...(init.provider ? { provider: init.provider } : { rpcUrl: init.rpcUrl ?? 'http://127.0.0.1:8545' }),
      ...(init.privateKey ? { privateKey: init.privateKey } : {}),
    })
    const id = await c.public.getChainId()
    if (id !== init.deployment.chainId) {
      throw new ChainError('wrong_chain', `endpoint is chain ${id}, deployment is for chain ${init.deployment.chainId}`)
    }
    return new ChainClient(init, c, await loadArtifacts())
  }

  get address(): Address | undefined { return this.c.account?.address }

  abi(name: string) { return artifact(this.arts, name).abi }
  read<T>(to: Address, name: string, fn: string, args: readonly unknown[] = []): Promise<T> { return read<T>(this.c, to, this.abi(name), fn, args) }
  write(to: Address, name: string, fn: string, args: readonly unknown[] = []) { return write(this.c, to, this.abi(name), fn, args) }

  /** Governed parameters from the Params contract. */
  async readParams(): Promise<GovernedParams> {
    const out = {} as GovernedParams
    for (const n of PARAM_NAMES) out[n] = await this.read<bigint>(this.dep.params, 'Params', 'getUint', [paramKey(n)])
    return out
  }

  async isModelWhitelisted(modelHash: Hex): Promise<boolean> {
    return this.read<boolean>(this.dep.params, 'Params', 'modelWhitelisted', [modelHash])
  }

  /** Binds this node's Ed25519 identity to our EVM address (idempotent if already bound to the same id). */
  async bind(identity: Identity): Promise<void> {
    const me = this.#need()
    const [bound] = await this.read<[Hex, Hex]>(this.dep.escrow, 'SettlementEscrow', 'bindingOf', [me])
    if (bound.toLowerCase() === bytesToHex(identity.publicKey).toLowerCase()) return
    const sig = signBinding(identity.exportSecretKey(), BigInt(this.dep.chainId), this.dep.escrow, me)
    await this.write(this.dep.escrow, 'SettlementEscrow', 'bind', [bytesToHex(identity.publicKey), bytesToHex(sig)])
  }

  /** The EVM address a node id is bound to, if one binding verifies (Ed25519 checked here, off-chain). */
  async addressOf(nodeId: Uint8Array): Promise<Address | undefined> {
    if (nodeId.length !== 32) return undefined
    const event = this.abi('SettlementEscrow').find((x) => x.type === 'event' && x.name === 'Bound')
    const logs = await this.c.public.getLogs({
      address: this.dep.escrow, event: event as never, args: { nodeId: bytesToHex(nodeId) } as never, fromBlock: BigInt(this.dep.fromBlock ?? 0), toBlock: 'latest',
    })
    for (const log of [...logs].reverse()) {
      const account = (log as unknown as { args: { account: Address } }).args.account
      const [id, sig] = await this.read<[Hex, Hex]>(this.dep.escrow, 'SettlementEscrow', 'bindingOf', [account])
      if (id.toLowerCase() !== bytesToHex(nodeId).toLowerCase()) continue // unbound since
      if (verifyBinding(nodeId, hexToBytes(sig), BigInt(this.dep.chainId), this.dep.escrow, account)) return account
    }
    return undefined
  }

  /**
   * Synchronous view of a node's verified EVM address: answers from the cache and, on a miss or a stale entry,
   * starts one background lookup so a later call knows it. Bounded like the stake cache.
   */
  evmAddressOfCached(nodeId: Uint8Array): Uint8Array | undefined {
    const key = bytesToHex(nodeId)
    const hit = this.#addrCache.get(key)
    const now = this.#now()
    if ((hit === undefined || now - hit.at >= this.#ttl) && !this.#addrPending.has(key) && this.#addrPending.size < 64) {
      this.#addrPending.add(key)
      this.addressOf(nodeId).then((addr) => this.#cacheAddr(key, addr), () => { /* unreachable chain: retry on the next call */ })
        .finally(() => this.#addrPending.delete(key))
    }
    return hit?.addr === undefined ? undefined : hexToBytes(hit.addr)
  }

  /** Like evmAddressOfCached, but waits for the chain on a miss. */
  async evmAddressOf(nodeId: Uint8Array): Promise<Uint8Array | undefined> {
    const key = bytesToHex(nodeId)
    const hit = this.#addrCache.get(key)
    if (hit !== undefined && this.#now() - hit.at < this.#ttl) return hit.addr === undefined ? undefined : hexToBytes(hit.addr)
    const addr = await this.addressOf(nodeId)
    this.#cacheAddr(key, addr)
    return addr === undefined ? undefined : hexToBytes(addr)
  }

  #cacheAddr(key: string, addr: Address | undefined): void {
    if (this.#addrCache.size >= this.#max) this.#addrCache.delete(this.#addrCache.keys().next().value as string)
    this.#addrCache.delete(key)
    this.#addrCache.set(key, { at: this.#now(), addr })
  }

  /** Resolves when no background address lookups are running (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.#addrPending.size > 0) await new Promise((r) => setTimeout(r, 10))
  }

  /** StakeSource: bonded stake (wei) of the address a node id is verifiably bound to; 0 if none. Cached. */
  async stakeOf(nodeId: Uint8Array): Promise<bigint> {
    const key = bytesToHex(nodeId)
    const hit = this.#cache.get(key)
    const now = this.#now()
    if (hit !== undefined && now - hit.at < this.#ttl) return hit.stake
    const addr = await this.addressOf(nodeId)
    const stake = addr === undefined ? 0n : await this.read<bigint>(this.dep.staking, 'Staking', 'stakeOf', [addr])
    if (this.#cache.size >= this.#max) this.#cache.delete(this.#cache.keys().next().value as string)
    this.#cache.delete(key)
    this.#cache.set(key, { at: now, stake })
    return stake
  }

  /**
   * Watches the staking contract's events (polled every `pollMs`) and, on any, drops the stake cache and calls
   * `cb`: a peer that stakes (or unstakes) counts within seconds instead of after the cache lifetime.
   */
  onStakeChange(cb: () => void, pollMs = 2000): () => void {
    // our own poll on an unref'd timer: viem's watchContractEvent kept ref'd timers running after its unwatch when
    // that came while its first poll was in flight, so a stopped node's process never exited
    let stopped = false
    let from: bigint | undefined
    let timer: NodeJS.Timeout | undefined
    const tick = async (): Promise<void> => {
      try {
        const head = await this.c.public.getBlockNumber()
        if (from === undefined) from = head + 1n
        else if (head >= from) {
          const logs = await this.c.public.getContractEvents({ address: this.dep.staking, abi: this.abi('Staking'), fromBlock: from, toBlock: head })
          from = head + 1n
          if (logs.length > 0 && !stopped) { this.#cache.clear(); cb() }
        }
      } catch { /* an unreachable chain: the cache lifetime still bounds staleness */ }
      if (!stopped) { timer = setTimeout(() => { void tick() }, pollMs); timer.unref() }
    }
    void tick()
    return () => { stopped = true; if (timer) clearTimeout(timer) }
  }

  /** A debtor's deposit as the escrow holds it and what it paid `creditor` so far (ChequeGuard's chain view). */
  async debtorState(debtor: Address, creditor: Address): Promise<DebtorState> {
    const [balance, unlockAt] = await this.read<[bigint, bigint, boolean]>(this.dep.escrow, 'SettlementEscrow', 'deposits', [debtor])
    const paidToUs = await this.read<bigint>(this.dep.escrow, 'SettlementEscrow', 'paidOut', [debtor, creditor])
    let withdrawing = false
    if (unlockAt !== 0n) {
      this.#withdrawWindow ??= await this.read<bigint>(this.dep.escrow, 'SettlementEscrow', 'withdrawWindow')
      withdrawing = BigInt(Math.floor(this.#now() / 1000)) <= unlockAt + this.#withdrawWindow
    }
    return { balance, withdrawing, paidToUs }
  }

  async balance(addr?: Address): Promise<bigint> {
    return this.read<bigint>(this.dep.token, 'ZEOToken', 'balanceOf', [addr ?? this.#need()])
  }

  async #approve(spender: Address, amount: bigint): Promise<void> {
    const allowance = await this.read<bigint>(this.dep.token, 'ZEOToken', 'allowance', [this.#need(), spender])
    if (allowance < amount) await this.write(this.dep.token, 'ZEOToken', 'approve', [spender, amount])
  }

  async stake(amount: bigint): Promise<void> {
    await this.#approve(this.dep.staking, amount)
    await this.write(this.dep.staking, 'Staking', 'stake', [amount])
  }

  async requestUnstake(amount: bigint): Promise<void> { await this.write(this.dep.staking, 'Staking', 'requestUnstake', [amount]) }
  async withdrawStake(): Promise<void> { await this.write(this.dep.staking, 'Staking', 'withdraw') }

  /** kind: 1 exit, 2 cdn, 3 inference, 4 storage. */
  async registerProvider(kind: number, bandwidthMbps: number): Promise<void> {
    await this.write(this.dep.staking, 'Staking', 'registerProvider', [kind, bandwidthMbps])
  }

  async stakeStatus(addr?: Address): Promise<{ bonded: bigint; unbonding: bigint; releaseAt: bigint; bandwidthMbps: number; kind: number; banned: boolean }> {
    return this.read(this.dep.staking, 'Staking', 'accountOf', [addr ?? this.#need()])
  }

  async deposit(amount: bigint): Promise<void> {
    await this.#approve(this.dep.escrow, amount)
    await this.write(this.dep.escrow, 'SettlementEscrow', 'deposit', [amount])
  }

  #need(): Address {
    const a = this.c.account?.address
    if (a === undefined) throw new ChainError('not_configured', 'no EVM key configured')
    return a
  }
}
