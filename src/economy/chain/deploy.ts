/**
 * Deploys and wires the whole contract set: token, emission (minter), params, trust oracle, staking, rewards
 * distributor, escrow, timelock and governor. After wiring, every admin role belongs to the timelock (governance)
 * and the deployer renounces its own, unless `keepDeployerAdmin` (tests, devnet tooling).
 *
 * Bootstrap (docs/contracts.md "Governance bootstrap"): with fewer than `trustMinReports` reporters the trust oracle
 * is inactive and votes weigh sqrt(stake) alone, so a fresh deployment can pass proposals; the emission goes to the
 * RewardsDistributor (providers by stake), never to a key; an optional guardian may only cancel queued operations.
 */
import { keccak256, toHex, type Address, zeroAddress } from 'viem'
import { artifact, type Artifacts } from './artifacts.js'
import { deploy, read, write, type Clients } from './clients.js'
import { ChainError } from './errors.js'

export interface DeployInit {
  /** @default 604800 (7 days) */ votingDelay?: number
  /** @default 604800 (7 days) */ votingPeriod?: number
  /** @default 172800 (2 days) */ timelockDelay?: number
  /** @default 1209600 (14 days) */ unbondingDelay?: number
  /** @default 86400 */ disputeWindow?: number
  /** @default 604800 */ claimWindow?: number
  /** @default 86400 */ withdrawDelay?: number
  /** @default 86400 (1 day) */ epochLength?: number
  /** Absolute quorum in vote-weight units (sqrt(wei)). @default 1e11 (~ one voter with 10,000 ZEO) */
  quorumVotes?: bigint
  /** @default 1000 ZEO */ minVotingStake?: bigint
  /** Emission beneficiary. @default the RewardsDistributor deployed here (set it only in tests) */ rewardsPool?: Address
  /** Emission start (unix seconds). @default the deploy block's time */ emissionStart?: bigint
  /** Trust reporters named at deploy (in the oracle's constructor). @default [] (bootstrap: stake-only votes) */
  reporters?: Address[]
  /** Reports needed for an address's trust, and reporters needed to leave bootstrap. @default 3 */ trustMinReports?: number
  /** Largest change of an address's trust per epoch (WAD). @default 0.2e18 */ trustMaxStepWad?: bigint
  /** Trust epoch (seconds). @default 86400 */ trustEpochLength?: number
  /** May cancel queued timelock operations (pause a passed proposal), nothing else. @default none */ guardian?: Address
  /** @default false */ keepDeployerAdmin?: boolean
}

export interface Deployment {
  chainId: number
  deployer: Address
  token: Address
  emission: Address
  params: Address
  trust: Address
  staking: Address
  /** RewardsDistributor: the emission's beneficiary (absent in deployments made before it existed). */
  rewards?: Address
  escrow: Address
  timelock: Address
  governor: Address
  /** Block of the first deployment transaction (log scans start here). */
  fromBlock?: string
  /** Gas used by each deployment transaction. */
  gas: Record<string, string>
}

const role = (name: string) => keccak256(toHex(name))
const ADMIN = `0x${'00'.repeat(32)}` as const

export async function deployAll(c: Clients, arts: Artifacts, init: DeployInit = {}): Promise<Deployment> {
  if (c.account === undefined) throw new ChainError('not_configured', 'deploy needs a signing key')
  const me = c.account.address
  const gas: Record<string, string> = {}
  let fromBlock: string | undefined
  const d = async (name: string, args: unknown[]): Promise<Address> => {
    const a = artifact(arts, name)
    const { address, receipt } = await deploy(c, a.abi, a.bytecode, args)
    gas[name] = receipt.gasUsed.toString()
    fromBlock ??= receipt.blockNumber.toString()
    return address
  }
  const A = (n: string) => artifact(arts, n).abi
  const block = await c.public.getBlock()
  const token = await d('ZEOToken', [me, me])
  const timelock = await d('Timelock', [BigInt(init.timelockDelay ?? 172_800), [], [zeroAddress], me])
  const params = await d('Params', [me])
  const trust = await d('TrustOracle', [me, init.reporters ?? [], BigInt(init.trustMinReports ?? 3),
    init.trustMaxStepWad ?? 2n * 10n ** 17n, BigInt(init.trustEpochLength ?? 86_400)])
  const staking = await d('Staking', [token, params, BigInt(init.unbondingDelay ?? 1_209_600), me])
  const rewards = await d('RewardsDistributor', [token, staking])
  const escrow = await d('SettlementEscrow', [token, BigInt(init.disputeWindow ?? 86_400), BigInt(init.claimWindow ?? 604_800), BigInt(init.withdrawDelay ?? 86_400), me])
  const emission = await d('Emission', [token, init.rewardsPool ?? rewards, init.emissionStart ?? block.timestamp, BigInt(init.epochLength ?? 86_400), me])
  const governor = await d('ZeoneGovernor', [{
    token, staking, trust, params, timelock,
    votingDelay: init.votingDelay ?? 604_800,
    votingPeriod: init.votingPeriod ?? 604_800,
    quorumVotes: init.quorumVotes ?? 100_000_000_000n,
    minVotingStake: init.minVotingStake ?? 1000n * 10n ** 18n,
  }])

  await write(c, token, A('ZEOToken'), 'grantRole', [role('MINTER_ROLE'), emission])
  for (const r of ['PROPOSER_ROLE', 'CANCELLER_ROLE']) await write(c, timelock, A('Timelock'), 'grantRole', [role(r), governor])
  await write(c, staking, A('Staking'), 'grantRole', [role('SLASHER_ROLE'), timelock])
  await write(c, staking, A('Staking'), 'grantRole', [role('FREEZER_ROLE'), governor])
  await write(c, staking, A('Staking'), 'setRewards', [rewards])
  if (init.guardian !== undefined) await write(c, timelock, A('Timelock'), 'grantRole', [role('CANCELLER_ROLE'), init.guardian])
  await write(c, escrow, A('SettlementEscrow'), 'grantRole', [role('ARBITER_ROLE'), timelock])
  for (const [addr, name] of [[token, 'ZEOToken'], [staking, 'Staking'], [escrow, 'SettlementEscrow'], [emission, 'Emission']] as const) {
    await write(c, addr, A(name), 'grantRole', [ADMIN, timelock])
  }
  if (init.keepDeployerAdmin !== true) {
    await write(c, params, A('Params'), 'transferOwnership', [timelock])
    await write(c, trust, A('TrustOracle'), 'transferOwnership', [timelock])
    for (const [addr, name] of [[token, 'ZEOToken'], [staking, 'Staking'], [escrow, 'SettlementEscrow'], [emission, 'Emission'], [timelock, 'Timelock']] as const) {
      await write(c, addr, A(name), 'renounceRole', [ADMIN, me])
    }
  }
  const chainId = Number(await c.public.getChainId())
  const dep: Deployment = { chainId, deployer: me, token, emission, params, trust, staking, rewards, escrow, timelock, governor, gas }
  if (fromBlock !== undefined) dep.fromBlock = fromBlock
  const minter = await read<boolean>(c, token, A('ZEOToken'), 'hasRole', [role('MINTER_ROLE'), emission])
  if (!minter) throw new ChainError('deploy_failed', 'emission is not a minter after wiring')
  return dep
}
