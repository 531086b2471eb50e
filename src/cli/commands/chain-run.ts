/** What the chain commands do (listed in ./chain.ts): loaded only when one runs, since it pulls in viem and the EVM. */
import { join } from 'node:path'
import { formatEther, parseEther, isHex, isAddress, getAddress, hexToBytes, bytesToHex, type Address, type Hex } from 'viem'
import type { CliIO, ParsedArgs } from '../command.js'
import { flagList, flagString } from '../args.js'
import { configFromArgs } from '../config-args.js'
import { ZeoneError } from '../../util/errors.js'
import { loadOrCreateIdentity } from '../../crypto/identity.js'
import { startDevnet, devKey } from '../../economy/chain/devnet.js'
import { deployAll } from '../../economy/chain/deploy.js'
import { loadArtifacts } from '../../economy/chain/artifacts.js'
import { connect } from '../../economy/chain/clients.js'
import { ChainClient, PARAM_NAMES } from '../../economy/chain/client.js'
import { loadOrCreateEvmKey, readDeployment, writeDeployment } from '../../economy/chain/files.js'
import { execute, findProposal, listProposalIds, propose, proposalState, queue, setModelAction, setParamAction, vote, type Action } from '../../economy/chain/governance.js'
import { settleFromLedger, settleEncoded } from '../../economy/chain/settle-ledger.js'

type Run = (args: ParsedArgs, io: CliIO) => Promise<number>
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

const devnet: Run = async (args, io) => {
  const { config } = configFromArgs(args)
  const d = config.chain.devnet
  const portFlag = flagString(args, 'port')
  const accounts = flagString(args, 'accounts')
  const host = flagString(args, 'host') ?? d.host
  let port = portFlag !== undefined ? Number(portFlag) : d.port
  // the default port taken (another devnet, a geth): a free one; the deployment file records the URL for the other commands
  if (portFlag === undefined && port > 0 && !await (await import('../port-choice.js')).portFree(host, port)) {
    io.stdout.write(`note: port ${port} is taken: using a free one (fix one with --port N)\n`)
    port = 0
  }
  const net = await startDevnet({
    host,
    port,
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
}

const addressFlag = (s: string, what: string): Address => {
  if (!isAddress(s)) throw bad(`${what} expects a 0x address`)
  return getAddress(s)
}

const deployCmd: Run = async (args, io) => {
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
}

/** "90", "90s", "15m", "2h", "7d" -> seconds. */
export function parseDuration(s: string | undefined): number {
  const m = /^(\d{1,9})([smhd]?)$/.exec(s ?? '')
  if (!m) throw bad('expected a duration like 90, 90s, 15m, 2h or 7d')
  const n = Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86_400 } as Record<string, number>)[m[2]!]!
  if (n <= 0 || n > 10 * 365 * 86_400) throw bad('duration must be between 1 s and 10 years')
  return n
}

const advance: Run = async (args, io) => {
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
}

const bind: Run = async (args, io) => {
  const { cl, dataDir } = await clientFrom(args)
  const { identity } = loadOrCreateIdentity(dataDir)
  await cl.bind(identity)
  io.stdout.write(`bound ${identity.nodeIdB64} -> ${cl.address}\n`)
  return 0
}

const status: Run = async (args, io) => {
  const { cl } = await clientFrom(args)
  const params = await cl.readParams()
  print(io, {
    chainId: cl.dep.chainId, address: cl.address, zeo: formatEther(await cl.balance()),
    stake: await cl.stakeStatus(), params: Object.fromEntries(PARAM_NAMES.map((n) => [n, params[n]])), contracts: cl.dep,
  })
  return 0
}

const stake: Run = async (args, io) => {
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
}

/** `zeone deposit AMOUNT | status | withdraw-request | withdraw AMOUNT`: the escrow deposit cheques are cashed from. */
const deposit: Run = async (args, io) => {
  const [sub, a1] = args.positionals
  const { cl } = await clientFrom(args)
  if (sub === undefined) throw bad('usage: zeone deposit AMOUNT | status | withdraw-request | withdraw AMOUNT')
  if (sub === 'withdraw-request') await cl.write(cl.dep.escrow, 'SettlementEscrow', 'requestWithdrawal')
  else if (sub === 'withdraw') await cl.write(cl.dep.escrow, 'SettlementEscrow', 'withdrawDeposit', [zeo(a1, 'deposit withdraw')])
  else if (sub !== 'status') await cl.deposit(zeo(sub, 'deposit'))
  const [balance, unlockAt, bound] = await cl.read<[bigint, bigint, boolean]>(cl.dep.escrow, 'SettlementEscrow', 'deposits', [cl.address!])
  print(io, {
    address: cl.address, deposit: formatEther(balance), depositWei: balance, bound,
    withdrawableAfter: unlockAt === 0n ? null : new Date(Number(unlockAt) * 1000).toISOString(),
    ...(bound ? {} : { note: "this address is not bound to a node identity yet: run 'zeone chain bind' or creditors cannot cash its cheques" }),
  })
  return 0
}

const settle: Run = async (args, io) => {
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
  // exit 0 when settle did what could be done: every cheque paid or already paid, or at least one paid while others
  // failed (their `error` says why); exit 1 only when cheques were due and none of them could be cashed
  const failed = results.filter((r) => r.error !== undefined).length
  const paid = results.filter((r) => r.paid !== undefined).length
  if (results.length > 0) io.stderr.write(`settle: ${results.length} cheque(s): ${paid} paid, ${results.length - paid - failed} already paid, ${failed} failed\n`)
  return failed > 0 && paid === 0 ? 1 : 0
}

function parseSupport(s: string | undefined): 0 | 1 | 2 {
  if (s === 'for') return 1
  if (s === 'against') return 0
  if (s === 'abstain') return 2
  throw bad('vote expects for|against|abstain')
}
/** The short form of a proposal id shown next to the full one: 0x and its first 8 hex digits (of 64). */
export const shortId = (id: bigint): string => `0x${id.toString(16).padStart(64, '0').slice(0, 8)}`

/**
 * A proposal id: the full decimal or 0x + 64 hex digits, or a short form (0x + 4..63 hex digits, a prefix of the
 * 64-digit id, like a git hash) looked up among the governor's proposals; an ambiguous prefix names its matches.
 * `last` is the newest proposal (handy on a devnet).
 */
async function idOf(cl: ChainClient, s: string | undefined): Promise<bigint> {
  if (s === 'last') {
    const all = await listProposalIds(cl)
    if (all.length === 0) throw new ZeoneError('unknown_proposal', "no proposal yet ('last' names the newest one)")
    return all[all.length - 1]!
  }
  if (s === undefined || !/^(0x[0-9a-fA-F]{4,64}|\d{1,78})$/.test(s)) throw bad("expected a proposal id (the decimal id, its short form 0x1234abcd as printed by gov propose, or 'last')")
  if (!s.startsWith('0x') || s.length === 66) return BigInt(s)
  const prefix = s.slice(2).toLowerCase()
  const matches = (await listProposalIds(cl)).filter((id) => id.toString(16).padStart(64, '0').startsWith(prefix))
  if (matches.length === 1) return matches[0]!
  if (matches.length === 0) throw new ZeoneError('unknown_proposal', `no proposal id starts with ${s} (zeone gov list shows them)`)
  throw new ZeoneError('ambiguous_proposal', `${s} matches ${matches.length} proposals (${matches.map((m) => shortId(m)).join(', ')}...): give more digits`)
}

const govPropose: Run = async (args, io) => {
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
  print(io, { proposalId: id, short: shortId(id), state: await proposalState(cl, id) })
  return 0
}

const govList: Run = async (args, io) => {
  const { cl } = await clientFrom(args)
  const ids = await listProposalIds(cl)
  print(io, await Promise.all(ids.map(async (id) => ({ short: shortId(id), state: await proposalState(cl, id), proposalId: id }))))
  return 0
}

const govCmd = (name: 'vote' | 'queue' | 'execute' | 'state'): Run => async (args, io) => {
  const { cl } = await clientFrom(args)
  const id = await idOf(cl, args.positionals[0])
  if (name === 'vote') await vote(cl, id, parseSupport(args.positionals[1]))
  else if (name === 'queue') await queue(cl, id)
  else if (name === 'execute') await execute(cl, id)
  else { print(io, { proposalId: id, short: shortId(id), state: await proposalState(cl, id), ...(await findProposal(cl, id)) }); return 0 }
  print(io, { proposalId: id, short: shortId(id), state: await proposalState(cl, id) })
  return 0
}

/** The implementation of every command src/cli/commands/chain.ts lists, by command name. */
export const runs: Record<string, Run> = {
  'chain devnet': devnet, 'chain deploy': deployCmd, 'chain bind': bind, 'chain status': status, 'chain advance': advance,
  stake, deposit, settle, 'gov propose': govPropose, 'gov list': govList,
  'gov vote': govCmd('vote'), 'gov queue': govCmd('queue'), 'gov execute': govCmd('execute'), 'gov state': govCmd('state'),
}
