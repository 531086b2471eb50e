// Shared fixture for the chain tests: an in-process EDR chain, funded accounts, compiled artifacts, deployments.
import { type Abi, type Address, type Hex, parseEther } from 'viem'
import { artifact, loadArtifacts, type Artifacts } from '../../src/economy/chain/artifacts.js'
import { connect, read, write, deploy, type Clients } from '../../src/economy/chain/clients.js'
import { createEdrChain, type EdrChain } from '../../src/economy/chain/edr.js'
import { deployAll, type DeployInit, type Deployment } from '../../src/economy/chain/deploy.js'

export const keys: Hex[] = Array.from({ length: 8 }, (_, i) => `0x${(i + 1).toString(16).padStart(64, '0')}` as Hex)

export interface Fixture {
  chain: EdrChain
  arts: Artifacts
  dep: Deployment
  /** clients[0] is the deployer. */
  clients: Clients[]
  abi(name: string): Abi
  /** Write as account i. */
  w(i: number, to: Address, name: string, fn: string, args?: readonly unknown[]): ReturnType<typeof write>
  r<T>(to: Address, name: string, fn: string, args?: readonly unknown[]): Promise<T>
  addr(i: number): Address
}

export async function makeFixture(init: DeployInit = {}, chainId = 31337): Promise<Fixture> {
  const arts = await loadArtifacts()
  const chain = await createEdrChain({ chainId, accounts: keys.map((privateKey) => ({ privateKey, balanceWei: parseEther('1000') })) })
  const clients = keys.map((privateKey) => connect({ provider: chain, chainId, privateKey }))
  const dep = await deployAll(clients[0]!, arts, {
    votingDelay: 10, votingPeriod: 100, timelockDelay: 50, unbondingDelay: 1000, disputeWindow: 100, claimWindow: 1000,
    withdrawDelay: 100, epochLength: 86_400, keepDeployerAdmin: true, ...init,
  })
  const abi = (name: string) => artifact(arts, name).abi
  return {
    chain, arts, dep, clients, abi,
    w: (i, to, name, fn, args = []) => write(clients[i]!, to, abi(name), fn, args),
    r: <T>(to: Address, name: string, fn: string, args: readonly unknown[] = []) => read<T>(clients[0]!, to, abi(name), fn, args),
    addr: (i) => clients[i]!.account!.address,
  }
}

export async function deployRaw(f: Fixture, i: number, name: string, args: unknown[] = []): Promise<Address> {
  const a = artifact(f.arts, name)
  return (await deploy(f.clients[i]!, a.abi, a.bytecode, args)).address
}

/** Asserts that `p` rejects with an error whose text mentions `needle` (a custom error name or reason). */
export async function reverts(p: Promise<unknown>, needle: string): Promise<void> {
  try {
    await p
  } catch (err) {
    const text = `${(err as Error).message} ${String((err as { shortMessage?: string }).shortMessage ?? '')}`
    if (!text.includes(needle)) throw new Error(`expected revert mentioning ${needle}, got: ${text.slice(0, 600)}`)
    return
  }
  throw new Error(`expected revert mentioning ${needle}, but it succeeded`)
}

export const ZEO = (n: number | bigint) => BigInt(n) * 10n ** 18n
