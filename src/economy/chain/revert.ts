/**
 * One-line chain errors for the CLI: a revert is decoded with the error names of every project contract (a revert
 * bubbled up from a contract the call did not target, e.g. ZEOToken under Staking, is not in the callee's ABI and
 * viem leaves it as bare `0xe450d38c`), and other viem errors are cut to their short message.
 */
import { BaseError, decodeErrorResult, type Abi, type Hex } from 'viem'
import { CONTRACT_NAMES, loadArtifacts } from './artifacts.js'

export interface DecodedRevert {
  /** The contract whose ABI declares the error ('' for the built-in Error(string) and Panic(uint256)). */
  contract: string
  name: string
  args: { name: string; value: unknown }[]
}

/** Decodes revert data against the ABIs; undefined when no ABI knows the selector. */
export function decodeRevert(data: Hex, abis: Record<string, Abi>, callee?: string): DecodedRevert | undefined {
  // an error several contracts declare (AccessControl, ECDSA...) is named after the called contract when it has it
  const names = [...(callee !== undefined && abis[callee] ? [callee] : []), ...CONTRACT_NAMES.filter((n) => abis[n]), ...Object.keys(abis).filter((n) => !(CONTRACT_NAMES as readonly string[]).includes(n))]
  for (const contract of names) {
    let r: { errorName: string; args?: readonly unknown[] | undefined; abiItem: unknown }
    try { r = decodeErrorResult({ abi: abis[contract]!, data }) } catch { continue }
    const inputs = ((r.abiItem as { inputs?: { name?: string }[] }).inputs ?? [])
    const declared = abis[contract]!.some((x) => x.type === 'error' && x.name === r.errorName)
    const values = (r.args ?? []) as readonly unknown[]
    return { contract: declared ? contract : '', name: r.errorName, args: inputs.map((inp, i) => ({ name: inp.name ?? `arg${i}`, value: values[i] })) }
  }
  return undefined
}

const show = (v: unknown): string => (typeof v === 'bigint' ? v.toString() : typeof v === 'string' ? (v.length > 66 ? `${v.slice(0, 66)}...` : v) : JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x)) ?? String(v))

export function formatRevert(d: DecodedRevert): string {
  const args = d.args.map((a) => `${a.name} ${show(a.value)}`).join(', ')
  return `${d.contract ? `${d.contract}.` : ''}${d.name}(${args})`
}

/** What to do about the errors an operator meets most; keyed by error name. */
const HINTS: Record<string, string> = {
  ERC20InsufficientBalance: 'the account holds too little ZEO: check it with `zeone chain status`, fund it from another account (on a devnet use --dev-account N), or ask for less',
  ERC20InsufficientAllowance: 'the token allowance is too small: approve the spender first',
  InsufficientStake: 'bond more ZEO with `zeone stake AMOUNT`',
  StillUnbonding: 'the unbonding delay has not passed yet: withdraw after releaseAt',
  AlreadyBound: 'this EVM account is already bound to a node identity',
  DebtorNotBound: 'the debtor node has not bound an EVM account (`zeone chain bind` on the debtor)',
  ChequeExpired: 'the cheque expired before it was cashed',
  StaleCheque: 'a newer or equal cheque was already paid',
  NothingToPay: 'nothing is owed beyond what was already paid',
  ZeroAmount: 'give an amount above 0',
  GovernorUnexpectedProposalState: 'the proposal is not in the state this step needs: check it with `zeone gov state ID` (on a devnet, `zeone chain advance` moves past a delay or period)',
  GovernorInsufficientProposerVotes: 'the proposer has too few votes: stake or delegate ZEO first',
  GovernorAlreadyCastVote: 'this account already voted on the proposal',
  GovernorNonexistentProposal: 'no proposal has this id: copy the id `zeone gov propose` printed (check it with `zeone gov state ID`)',
  AccessControlUnauthorizedAccount: 'this account lacks the role the call needs (governance or the deployer holds it)',
  TimelockUnexpectedOperationState: 'the timelock operation is not ready: queue it first and wait out the timelock delay',
  OwnableUnauthorizedAccount: 'this account is not allowed to call this: use the owner (governance) account',
}

/** The revert data of a viem error, wherever it sits in the cause chain. */
function revertData(err: BaseError): Hex | undefined {
  let found: Hex | undefined
  err.walk((e) => {
    const x = e as { data?: unknown; raw?: unknown }
    const d = typeof x.raw === 'string' ? x.raw : typeof x.data === 'string' ? x.data : (x.data as { data?: unknown } | undefined)?.data
    if (found === undefined && typeof d === 'string' && /^0x[0-9a-fA-F]{8,}$/.test(d)) found = d as Hex
    return false
  })
  return found
}

/** The ABI the failed call was made with (viem's ContractFunctionExecutionError carries it). */
function calleeAbiOf(err: BaseError): unknown {
  let abi: unknown
  err.walk((e) => { const a = (e as { abi?: unknown }).abi; if (abi === undefined && Array.isArray(a)) abi = a; return false })
  return abi
}

/** The first viem error in `err`'s cause chain (a ChainError may wrap one). */
export function viemErrorIn(err: unknown): BaseError | undefined {
  for (let e = err, i = 0; e && i < 8; e = (e as { cause?: unknown }).cause, i++) if (e instanceof BaseError) return e
  return undefined
}

/** One line (plus a hint line when one is known) for a chain error; undefined if `err` is not from viem. */
export async function describeChainError(err: unknown, abis?: Record<string, Abi>): Promise<string | undefined> {
  const v = viemErrorIn(err)
  if (!v) return undefined
  const data = revertData(v)
  if (data !== undefined) {
    abis ??= Object.fromEntries(Object.entries((await loadArtifacts()).contracts).map(([n, c]) => [n, c.abi]))
    const calleeAbi = calleeAbiOf(v)
    const d = decodeRevert(data, abis, Object.keys(abis).find((n) => abis![n] === calleeAbi))
    if (d) return `chain: ${formatRevert(d)} reverted${HINTS[d.name] ? `\nhint: ${HINTS[d.name]}` : ''}`
    return `chain: reverted with unknown error data ${data.slice(0, 74)} (no project contract declares selector ${data.slice(0, 10)})`
  }
  // a project error that wraps a non-revert viem error already says what failed in one line
  if (!(err instanceof BaseError)) return undefined
  const short = (v.shortMessage || v.message).split('\n')[0]!.slice(0, 300)
  const rpc = v.walk((e) => e instanceof BaseError && e.name === 'HttpRequestError')
  return `chain: ${short}${rpc ? '\nhint: the RPC endpoint did not answer: start it (`zeone chain devnet`) or give the right one with --rpc URL' : ''}`
}
