/** The node's EVM key file and the deployment (addresses) file, both under the data dir. */
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { dirname, isAbsolute, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { getAddress, isAddress, type Address, type Hex } from 'viem'
import { writeFileAtomic } from '../../crypto/identity.js'
import { ChainError } from './errors.js'
import type { Deployment } from './deploy.js'

const MAX_FILE = 64 * 1024
const resolveIn = (dataDir: string, p: string) => (isAbsolute(p) ? p : join(dataDir, p))

/** Loads the hex private key, creating a random one (0600) if absent. */
export function loadOrCreateEvmKey(dataDir: string, keyFile: string): Hex {
  const file = resolveIn(dataDir, keyFile)
  if (existsSync(file)) {
    const text = readFileSync(file, 'utf8').trim()
    if (!/^0x[0-9a-fA-F]{64}$/.test(text)) throw new ChainError('bad_key', `${file} is not a 32-byte hex key`)
    return text as Hex
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const key = `0x${randomBytes(32).toString('hex')}` as Hex
  writeFileAtomic(file, new TextEncoder().encode(`${key}\n`), 0o600)
  return key
}

const ADDR_KEYS = ['deployer', 'token', 'emission', 'params', 'trust', 'staking', 'escrow', 'timelock', 'governor'] as const

export function writeDeployment(dataDir: string, deploymentFile: string, d: Deployment & { rpcUrl?: string }): string {
  const file = resolveIn(dataDir, deploymentFile)
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  writeFileAtomic(file, new TextEncoder().encode(`${JSON.stringify(d, null, 2)}\n`), 0o644)
  return file
}

export function readDeployment(dataDir: string, deploymentFile: string): Deployment & { rpcUrl?: string } {
  const file = resolveIn(dataDir, deploymentFile)
  if (!existsSync(file)) throw new ChainError('not_configured', `no deployment file ${file}: run 'zeone chain devnet' or 'zeone chain deploy'`)
  const buf = readFileSync(file)
  if (buf.length > MAX_FILE) throw new ChainError('bad_deployment', `${file} is too large`)
  let raw: Record<string, unknown>
  try { raw = JSON.parse(buf.toString('utf8')) as Record<string, unknown> } catch (err) {
    throw new ChainError('bad_deployment', `${file} is not JSON`, { cause: err })
  }
  const out: Record<string, unknown> = { chainId: Number(raw.chainId), gas: raw.gas ?? {} }
  if (!Number.isSafeInteger(out.chainId)) throw new ChainError('bad_deployment', `${file}: bad chainId`)
  for (const k of ADDR_KEYS) {
    const v = raw[k]
    if (typeof v !== 'string' || !isAddress(v)) throw new ChainError('bad_deployment', `${file}: bad address for ${k}`)
    out[k] = getAddress(v) as Address
  }
  // optional: deployments made before the rewards distributor existed have none
  if (raw.rewards !== undefined) {
    if (typeof raw.rewards !== 'string' || !isAddress(raw.rewards)) throw new ChainError('bad_deployment', `${file}: bad address for rewards`)
    out.rewards = getAddress(raw.rewards)
  }
  if (typeof raw.rpcUrl === 'string') out.rpcUrl = raw.rpcUrl
  if (typeof raw.fromBlock === 'string' && /^\d{1,20}$/.test(raw.fromBlock)) out.fromBlock = raw.fromBlock
  return out as unknown as Deployment & { rpcUrl?: string }
}
