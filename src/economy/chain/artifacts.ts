/**
 * Contract artifacts (ABI + bytecode), compiled on demand from contracts/ with the pinned solc and cached under
 * contracts/out/ by source hash (scripts/compile-contracts.mjs), so a test process compiles at most once.
 */
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Abi, Hex } from 'viem'
import { ChainError } from './errors.js'

export interface ContractArtifact { abi: Abi; bytecode: Hex; deployedBytecode: Hex }
export interface Artifacts { key: string; solc: string; contracts: Record<string, ContractArtifact> }

export const CONTRACT_NAMES = [
  'ZEOToken', 'Emission', 'Params', 'TrustOracle', 'Staking', 'SettlementEscrow', 'Timelock', 'ZeoneGovernor',
  'RewardsDistributor',
] as const
/** The project root: the nearest ancestor of this module that holds contracts/ and package.json. */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'contracts')) && existsSync(join(dir, 'package.json'))) return dir
    dir = dirname(dir)
  }
  throw new ChainError('compile_failed', 'cannot find the project root (contracts/)')
}

let cached: Promise<Artifacts> | undefined

export function loadArtifacts(): Promise<Artifacts> {
  cached ??= (async () => {
    const root = projectRoot()
    try {
      const mod = await import(pathToFileURL(join(root, 'scripts', 'compile-contracts.mjs')).href) as {
        compileContracts(root: string): Artifacts
      }
      return mod.compileContracts(root)
    } catch (err) {
      cached = undefined
      throw new ChainError('compile_failed', `contract compilation failed: ${(err as Error).message}`, { cause: err })
    }
  })()
  return cached
}

export function artifact(a: Artifacts, name: string): ContractArtifact {
  const c = a.contracts[name]
  if (c === undefined) throw new ChainError('compile_failed', `no artifact for ${name}`)
  return c
}
