/** Chain commands: chain devnet|deploy|bind|status|advance, stake, settle, gov propose|vote|queue|execute|state. */
import { join } from 'node:path'
import { formatEther, parseEther, isHex, isAddress, getAddress, hexToBytes, bytesToHex, type Address, type Hex } from 'viem'
import type { CliIO, Command, ParsedArgs } from '../command.js'
import { flagList, flagString } from '../args.js'
import { configFromArgs } from './node.js'
import { ZeoneError } from '../../util/errors.js'
import { loadOrCreateIdentity } from '../../crypto/identity.js'
import { startDevnet, devKey } from '../../economy/chain/devnet.js'
import { deployAll } from '../../economy/chain/deploy.js'
import { loadArtifacts } from '../../economy/chain/artifacts.js'
import { connect } from '../../economy/chain/clients.js'
import { ChainClient, PARAM_NAMES } from '../../economy/chain/client.js'
import { loadOrCreateEvmKey, readDeployment, writeDeployment } from '../../economy/chain/files.js'
import { execute, findProposal, propose, proposalState, queue, setModelAction, setParamAction, vote, type Action } from '../../economy/chain/governance.js'
import { settleFromLedger, settleEncoded } from '../../economy/chain/settle-ledger.js'

const COMMON = '[--config FILE] [--data-dir DIR] [--rpc URL] [--key-file F | --dev-account N]'
const bad = (msg: string) => new ZeoneError('bad_flag', msg)
const zeo = (s: string | undefined, what: string): bigint => {
  if (s === undefined || !/^\d+(\.\d{1,18})?$/.test(s)) throw bad(`${what} expects a ZEO amount like 1000 or 0.5`)
  return parseEther(s)
}
const print = (io: CliIO, o: unknown) => io.stdout.write(`${JSON.stringify(o, (_k, v: unknown) => typeof v === 'bigint' ? v.toString() : v, 2)}\n`)

function keyOf(args: ParsedArgs, dataDir: string, keyFile: string): Hex {
  const dev = flagString(args, 'dev-account')
  if (dev !== undefined) {
    if (!/^\d{1,2}$/.test(dev)) throw bad('--dev-account expects a small integer')
    return devKey(Number(dev))
  }
  return loadOrCreateEvmKey(dataDir, flagString(args, 'key-file') ?? keyFile)
}

async function clientFrom(args: ParsedArgs): Promise<{ cl: ChainClient; dataDir: string; config: ReturnType<typeof configFromArgs>['config'] }> {
  const { config } = configFromArgs(args)
  const dep = readDeployment(config.dataDir, config.chain.deploymentFile)
  const rpcUrl = flagString(args, 'rpc') ?? dep.rpcUrl ?? config.chain.rpcUrl
  const cl = await ChainClient.open({ deployment: dep, rpcUrl, privateKey: keyOf(args, config.dataDir, config.chain.keyFile) })
  return { cl, dataDir: config.dataDir, config }
}

const devnet: Command = {
  name: 'chain devnet',
  summary: 'run a local EVM JSON-RPC on loopback with every contract deployed, until SIGINT',
  usage: 'chain devnet [--host 127.0.0.1] [--port 8545] [--accounts N] [--data-dir DIR]',
  async run(args, io) {
    const { config } = configFromArgs(args)
    const d = config.chain.devnet
    const port = flagString(args, 'port')
    const accounts = flagString(args, 'accounts')
    const net = await startDevnet({
      host: flagString(args, 'host') ?? d.host,
      port: port !== undefined ? Number(port) : d.port,
      chainId: config.chain.chainId,
      accounts: accounts !== undefined ? Number(accounts) : d.accounts,
      intervalMs: 1000,
      deploy: {
        votingDelay: d.votingDelaySec, votingPeriod: d.votingPeriodSec, timelockDelay: d.timelockDelaySec,
        unbondingDelay: d.unbondingDelaySec, epochLength: d.epochLengthSec,
      },
    })
    const file = writeDeployment(config.dataDir, config.chain.deploymentFile, { ...net.deployment, rpcUrl: net.url })
    io.stdout.write(`devnet: ${net.url} (chain ${net.deployment.chainId})\n`)
    for (const k of ['token', 'emission', 'params', 'trust', 'staking', 'escrow', 'timelock', 'governor'] as const) {
      io.stdout.write(`${k.padEnd(9)} ${net.deployment[k]}\n`)
    }
    io.stdout.write(`deployment: ${file}\n`)
    net.keys.forEach((k, i) => io.stdout.write(`dev account ${i}: ${k} (public test key; use --dev-account ${i})\n`))
    await new Promise<void>((resolve) => {
      const stop = (): void => { process.off('SIGINT', stop); process.off('SIGTERM', stop); resolve() }
      process.on('SIGINT', stop)
      process.on('SIGTERM', stop)
    })
    await net.stop()
    return 0
  },
}

const addressFlag = (s: string, what: string): Address => {
  if (!isAddress(s)) throw bad(`${what} expects a 0x address`)
  return getAddress(s)
}

const deployCmd: Command = {
  name: 'chain deploy',
  summary: 'deploy and wire every contract on a JSON-RPC endpoint (governance defaults: 7-day delay/period, 2-day timelock; '
    + 'no --reporter: stake-only votes until 3 reporters exist)',
  usage: `chain deploy --rpc URL [--reporter ADDR]... [--trust-min-reports N] [--guardian ADDR] ${COMMON}`,
  async run(args, io) {
    const { config } = configFromArgs(args)
    const rpcUrl = flagString(args, 'rpc')
    if (rpcUrl === undefined) throw bad('--rpc URL is required')
    const reporters = flagList(args, 'reporter').map((r) => addressFlag(r, '--reporter'))
    if (new Set(reporters).size !== reporters.length || reporters.length > 32) throw bad('--reporter: up to 32 distinct addresses')
    const minReports = flagString(args, 'trust-min-reports')
    if (minReports !== undefined && !/^([1-9]|[12]\d|3[0-2])$/.test(minReports)) throw bad('--trust-min-reports expects 1..32')
    const guardian = flagString(args, 'guardian')
    const probe = connect({ rpcUrl, chainId: config.chain.chainId })
    const chainId = await probe.public.getChainId()
    const c = connect({ rpcUrl, chainId, privateKey: keyOf(args, config.dataDir, config.chain.keyFile) })
    const dep = await deployAll(c, await loadArtifacts(), {
      reporters,
      ...(minReports !== undefined ? { trustMinReports: Number(minReports) } : {}),
      ...(guardian !== undefined ? { guardian: addressFlag(guardian, '--guardian') } : {}),
    })
    const file = writeDeployment(config.dataDir, config.chain.deploymentFile, { ...dep, rpcUrl })
    print(io, { ...dep, deploymentFile: file })
    return 0
  },
}

/** "90", "90s", "15m", "2h", "7d" -> seconds. */
export function parseDuration(s: string | undefined): number {
  const m = /^(\d{1,9})([smhd]?)$/.exec(s ?? '')
  if (!m) throw bad('expected a duration like 90, 90s, 15m, 2h or 7d')
  const n = Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86_400 } as Record<string, number>)[m[2]!]!
  if (n <= 0 || n > 10 * 365 * 86_400) throw bad('duration must be between 1 s and 10 years')
  return n
}

const advance: Command = {
  name: 'chain advance',
  summary: "devnet only: move the chain's clock forward (governance deadlines, unbonding) and mine a block",
  usage: `chain advance DURATION (90, 90s, 15m, 2h, 7d) ${COMMON}`,
  async run(args, io) {
    const seconds = parseDuration(args.positionals[0])
    const { config } = configFromArgs(args)
    const dep = readDeployment(config.dataDir, config.chain.deploymentFile)
    const rpcUrl = flagString(args, 'rpc') ?? dep.rpcUrl ?? config.chain.rpcUrl
    const c = connect({ rpcUrl, chainId: dep.chainId })
    const request = c.public.request as unknown as (a: { method: string; params: unknown[] }) => Promise<unknown>
    try {
      await request({ method: 'evm_increaseTime', params: [seconds] })
      await request({ method: 'evm_mine', params: [] })
    } catch (err) {
      throw new ZeoneError('not_devnet', `${rpcUrl} cannot move its clock (only 'zeone chain devnet' can): ${(err as Error).message}`)
    }
    const block = await c.public.getBlock()
    print(io, { advanced: seconds, block: block.number, timestamp: block.timestamp })
    return 0
  },
}

const bind: Command = {
  name: 'chain bind',
  summary: "bind this node's Ed25519 identity to its EVM key (needed before cheques can be cashed against it)",
  usage: `chain bind ${COMMON}`,
  async run(args, io) {
    const { cl, dataDir } = await clientFrom(args)
    const { identity } = loadOrCreateIdentity(dataDir)
    await cl.bind(identity)
    io.stdout.write(`bound ${identity.nodeIdB64} -> ${cl.address}\n`)
    return 0
  },
}

const status: Command = {
  name: 'chain status',
  summary: 'addresses, balances, stake and governed parameters',
  usage: `chain status ${COMMON}`,
  async run(args, io) {
    const { cl } = await clientFrom(args)
    const params = await cl.readParams()
    print(io, {
      chainId: cl.dep.chainId, address: cl.address, zeo: formatEther(await cl.balance()),
      stake: await cl.stakeStatus(), params: Object.fromEntries(PARAM_NAMES.map((n) => [n, params[n]])), contracts: cl.dep,
    })
    return 0
  },
}

const stake: Command = {
  name: 'stake',
  summary: 'stake ZEO, or: stake status | unstake AMOUNT | withdraw | provider exit|cdn|inference|storage MBPS',
  usage: `stake AMOUNT | stake status | stake unstake AMOUNT | stake withdraw | stake provider KIND MBPS ${COMMON}`,
  async run(args, io) {
    const [sub, a1, a2] = args.positionals
    const { cl } = await clientFrom(args)
    if (sub === undefined) throw bad('usage: zeone stake AMOUNT|status|unstake|withdraw|provider')
    if (sub === 'status') { print(io, await cl.stakeStatus()); return 0 }
    if (sub === 'unstake') await cl.requestUnstake(zeo(a1, 'unstake'))
    else if (sub === 'withdraw') await cl.withdrawStake()
    else if (sub === 'provider') {
      const kinds: Record<string, number> = { exit: 1, cdn: 2, inference: 3, storage: 4 }
      const kind = kinds[a1 ?? '']
      if (kind === undefined || a2 === undefined || !/^\d{1,9}$/.test(a2)) throw bad('usage: zeone stake provider exit|cdn|inference|storage MBPS')
      await cl.registerProvider(kind, Number(a2))
    } else await cl.stake(zeo(sub, 'stake'))
    print(io, await cl.stakeStatus())
    return 0
  },
}

const settle: Command = {
  name: 'settle',
  summary: "cash the latest on-chain cheques held in the node's ledger (or given with --cheque HEX)",
  usage: `settle [--ledger FILE] [--cheque HEX]... ${COMMON}`,
  async run(args, io) {
    const { cl, dataDir } = await clientFrom(args)
    const given = flagList(args, 'cheque')
    let results
    if (given.length > 0) {
      for (const h of given) if (!isHex(h)) throw bad('--cheque expects hex (an encoded cheque)')
      results = await settleEncoded(cl, given.map((h) => hexToBytes(h as Hex)))
    } else {
      const { identity } = loadOrCreateIdentity(dataDir)
      results = await settleFromLedger(cl, flagString(args, 'ledger') ?? join(dataDir, 'ledger.sqlite'), identity.publicKey)
    }
    print(io, results)
    return results.some((r) => r.error !== undefined) ? 1 : 0
  },
}

function parseSupport(s: string | undefined): 0 | 1 | 2 {
  if (s === 'for') return 1
  if (s === 'against') return 0
  if (s === 'abstain') return 2
  throw bad('vote expects for|against|abstain')
}
const idOf = (s: string | undefined): bigint => {
  if (s === undefined || !/^(0x[0-9a-fA-F]+|\d+)$/.test(s)) throw bad('expected a proposal id')
  return BigInt(s)
}

const govPropose: Command = {
  name: 'gov propose',
  summary: 'propose parameter changes (deposit 1000 ZEO): --param fee_vpn=1200 --model HASH[:off] --description TEXT',
  usage: `gov propose --param NAME=VALUE... [--model 0xHASH[:off]]... --description TEXT ${COMMON}`,
  async run(args, io) {
    const { cl } = await clientFrom(args)
    const actions: Action[] = []
    for (const s of flagList(args, 'param')) {
      const m = /^([a-z_]+)=(\d+)$/.exec(s)
      if (!m || !(PARAM_NAMES as readonly string[]).includes(m[1]!)) throw bad(`--param expects one of ${PARAM_NAMES.join(', ')} = integer`)
      actions.push(setParamAction(cl, m[1]!, BigInt(m[2]!)))
    }
    for (const s of flagList(args, 'model')) {
      const [h, off] = s.split(':')
      if (!h || !/^0x[0-9a-fA-F]{64}$/.test(h)) throw bad('--model expects a 32-byte hex hash')
      actions.push(setModelAction(cl, h as Hex, off !== 'off'))
    }
    const description = flagString(args, 'description') ?? actions.map((a) => bytesToHex(hexToBytes(a.calldata).subarray(0, 4))).join(',')
    const id = await propose(cl, actions, description)
    print(io, { proposalId: id, state: await proposalState(cl, id) })
    return 0
  },
}

const govCmd = (name: 'vote' | 'queue' | 'execute' | 'state'): Command => ({
  name: `gov ${name}`,
  summary: { vote: 'vote for|against|abstain on a proposal', queue: 'queue a succeeded proposal in the timelock', execute: 'execute a queued proposal after the timelock delay', state: "show a proposal's state and actions" }[name],
  usage: `gov ${name} ID${name === 'vote' ? ' for|against|abstain' : ''} ${COMMON}`,
  async run(args, io) {
    const { cl } = await clientFrom(args)
    const id = idOf(args.positionals[0])
    if (name === 'vote') await vote(cl, id, parseSupport(args.positionals[1]))
    else if (name === 'queue') await queue(cl, id)
    else if (name === 'execute') await execute(cl, id)
    else { print(io, { proposalId: id, state: await proposalState(cl, id), ...(await findProposal(cl, id)) }); return 0 }
    print(io, { proposalId: id, state: await proposalState(cl, id) })
    return 0
  },
})

export const commands: Command[] = [
  devnet, deployCmd, bind, status, advance, stake, settle, govPropose, govCmd('vote'), govCmd('queue'), govCmd('execute'), govCmd('state'),
]
