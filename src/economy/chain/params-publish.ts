/**
 * The chain side of network parameters (docs/protocol/params.md §Publisher): reads the Params contract as of one
 * canonical block, and a staked node publishes that snapshot as its params DHT record.
 *
 * Canonical block: the block of the latest Params event (ParamSet / ModelWhitelisted) at least `confirmations`
 * below the head. Every honest publisher that reads the same chain picks the same block, whenever it polls, so
 * their records agree byte for byte on (block, hash, values, models) and a follower can count them.
 */
import { hexToBytes, keccak256, toHex, type Address, type Hex } from 'viem'
import type { ChainClient } from './client.js'
import { paramKey } from './client.js'
import { PARAM_NAMES, type GovernedParams } from './param-names.js'
import { MAX_MODELS, type ParamsSnapshot } from './params-record.js'

const MODEL_EVENT = keccak256(toHex('ModelWhitelisted(bytes32,bool)'))
const PARAM_EVENT = keccak256(toHex('ParamSet(bytes32,uint256)'))

/**
 * Incremental reader: remembers how far it scanned the Params logs, the latest event block and the whitelist, so
 * each poll asks the chain only for the new range.
 */
export class ParamsReader {
  readonly #cl: ChainClient
  readonly #confirmations: bigint
  #scanned: bigint
  #lastEvent: bigint | undefined
  readonly #models = new Set<string>()

  constructor(cl: ChainClient, confirmations: number) {
    this.#cl = cl
    this.#confirmations = BigInt(confirmations)
    this.#scanned = BigInt(cl.dep.fromBlock ?? 0) - 1n
  }

  /** The snapshot at the canonical block, or undefined while no Params event is buried deep enough. */
  async read(): Promise<ParamsSnapshot | undefined> {
    const pub = this.#cl.c.public
    const head = await pub.getBlockNumber()
    const target = head - this.#confirmations
    if (target > this.#scanned) {
      const logs = await pub.getLogs({ address: this.#cl.dep.params, fromBlock: this.#scanned + 1n, toBlock: target })
      for (const l of logs) {
        const topic = l.topics[0]
        if (topic !== MODEL_EVENT && topic !== PARAM_EVENT) continue
        if (l.blockNumber !== null && (this.#lastEvent === undefined || l.blockNumber > this.#lastEvent)) this.#lastEvent = l.blockNumber
        if (topic === MODEL_EVENT && l.topics[1]) {
          if (BigInt(l.data) !== 0n) this.#models.add(l.topics[1].toLowerCase())
          else this.#models.delete(l.topics[1].toLowerCase())
        }
      }
      this.#scanned = target
    }
    if (this.#lastEvent === undefined) return undefined
    const blockNumber = this.#lastEvent
    const block = await pub.getBlock({ blockNumber })
    const values = {} as GovernedParams
    for (const n of PARAM_NAMES) {
      values[n] = await pub.readContract({ address: this.#cl.dep.params, abi: this.#cl.abi('Params'), functionName: 'getUint', args: [paramKey(n)], blockNumber } as never) as bigint
    }
    const models = [...this.#models].sort().slice(0, MAX_MODELS).map((h) => hexToBytes(h as Hex))
    return {
      chainId: this.#cl.dep.chainId, params: hexToBytes(this.#cl.dep.params), blockNumber: Number(blockNumber),
      blockHash: hexToBytes(block.hash!), blockTime: Number(block.timestamp), values, models,
    }
  }
}

/** The stake claim a publisher puts in its record: its bound EVM address and bonded stake now. */
export async function ownClaim(cl: ChainClient, nodeId: Uint8Array): Promise<{ evm: Uint8Array; stakeWei: bigint } | undefined> {
  const addr: Address | undefined = await cl.addressOf(nodeId)
  if (addr === undefined) return undefined
  const stakeWei = await cl.read<bigint>(cl.dep.staking, 'Staking', 'stakeOf', [addr])
  return { evm: hexToBytes(addr), stakeWei }
}

/**
 * What a node with chain access can check about someone else's params record: that the block hash is the chain's,
 * and that the claimed stake is real (bound address, bonded stake >= min). Returns the reason it fails, if it does.
 */
export async function checkWithChain(cl: ChainClient, publisher: Uint8Array, s: ParamsSnapshot, claim: { evm: Uint8Array; stakeWei: bigint } | undefined, minStake: bigint): Promise<string | undefined> {
  if (s.chainId !== cl.dep.chainId) return 'wrong_chain'
  if (toHex(s.params).toLowerCase() !== cl.dep.params.toLowerCase()) return 'wrong_contract'
  let hash: Hex | null
  try { hash = (await cl.c.public.getBlock({ blockNumber: BigInt(s.blockNumber) })).hash } catch { return 'unknown_block' }
  if (hash === null || hash.toLowerCase() !== toHex(s.blockHash)) return 'wrong_block_hash'
  const stake = await cl.stakeOf(publisher)
  if (stake < minStake) return 'not_staked'
  if (claim && (claim.stakeWei > stake)) return 'stake_overclaimed'
  return undefined
}
