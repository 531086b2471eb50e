// Chain mistakes print one decoded line (contract.Error(args)) and a hint, never a viem dump (issue 18 item 3).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { encodeErrorResult, hexToBytes, parseEther } from 'viem'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { signCheque, encodeCheque } from '../../src/economy/cheque.js'
import { signOnchainPart } from '../../src/economy/chain/cheque-eip712.js'
import { ChainClient } from '../../src/economy/chain/client.js'
import { settleEncoded } from '../../src/economy/chain/settle-ledger.js'
import { main } from '../../src/cli/main.js'
import { startDevnet } from '../../src/economy/chain/devnet.js'
import { writeDeployment } from '../../src/economy/chain/files.js'
import { loadArtifacts } from '../../src/economy/chain/artifacts.js'
import { decodeRevert, formatRevert } from '../../src/economy/chain/revert.js'

async function cli(argv: string[]): Promise<{ code: number; err: string }> {
  let err = ''
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb() } })
  const code = await main(argv, { stdout: sink(() => undefined), stderr: sink((s) => { err += s }) })
  return { code, err }
}

test('a revert bubbled up from ZEOToken under Staking is decoded with its name and args, plus a hint', async (t) => {
  const net = await startDevnet({ port: 0, accounts: 3 })
  const d = mkdtempSync(join(tmpdir(), 'zeone-revert-'))
  t.after(async () => { await net.stop(); rmSync(d, { recursive: true, force: true }) })
  writeDeployment(d, 'chain-deployment.json', { ...net.deployment, rpcUrl: net.url })
  // every dev account holds 100,000 ZEO: staking 200,000 passes the approve, then Staking's transferFrom reverts in
  // the token, whose error is not in Staking's ABI (viem alone leaves it as 0xe450d38c)
  const r = await cli(['stake', '200000', '--dev-account', '1', '--data-dir', d])
  assert.equal(r.code, 1, r.err)
  const lines = r.err.trimEnd().split('\n')
  assert.equal(lines.length, 2, r.err)
  assert.match(lines[0]!, new RegExp(`^zeone stake: chain: ZEOToken\\.ERC20InsufficientBalance\\(sender 0x[0-9a-fA-F]{40}, balance ${parseEther('100000')}, needed ${parseEther('200000')}\\) reverted$`))
  assert.match(lines[1]!, /^hint: the account holds too little ZEO/)
  assert.doesNotMatch(r.err, /0xe450d38c|Request Arguments|Docs:|Version: viem/)

  // governance: voting on an id no proposal has
  const v = await cli(['gov', 'vote', '123', 'for', '--dev-account', '1', '--data-dir', d])
  assert.equal(v.code, 1, v.err)
  assert.match(v.err, /^zeone gov vote: chain: ZeoneGovernor\.GovernorNonexistentProposal\(proposalId 123\) reverted\nhint: no proposal has this id/, v.err)

  // settle reports a cheque the escrow refuses by its error name (the debtor never bound its node identity)
  const bob = await ChainClient.open({ deployment: net.deployment, rpcUrl: net.url, privateKey: net.keys[2]! })
  const aliceId = Identity.fromSeed(randomBytes(32))
  // one expiry for both parts: two Date.now() calls can straddle a second and the EIP-712 part then fails to verify
  const expires = BigInt(Math.floor(Date.now() / 1000) + 3600)
  const onchain = await signOnchainPart(net.keys[1]!, { chainId: 31337n, escrow: hexToBytes(net.deployment.escrow), creditorEvm: hexToBytes(bob.address!), amountWei: 10n ** 16n, serial: 1n, expires })
  const cheque = encodeCheque(signCheque(aliceId, { creditor: Identity.fromSeed(randomBytes(32)).publicKey, amount: 1n, serial: 1n, expires, onchain }))
  const [res] = await settleEncoded(bob, [cheque])
  assert.match(res!.error ?? '', /^SettlementEscrow\.DebtorNotBound\(debtor 0x[0-9a-fA-F]{40}\) reverted\nhint: /, res!.error)
})

test('an RPC endpoint that does not answer is one line with the flag to fix it', async () => {
  const d = mkdtempSync(join(tmpdir(), 'zeone-revert-'))
  try {
    const r = await cli(['chain', 'deploy', '--dev-account', '0', '--rpc', 'http://127.0.0.1:1', '--data-dir', d])
    assert.equal(r.code, 1)
    assert.ok(r.err.trimEnd().split('\n').length <= 2, r.err)
    assert.match(r.err, /^zeone chain deploy: chain: .*\nhint: .*--rpc URL/)
  } finally { rmSync(d, { recursive: true, force: true }) }
})

test('decodeRevert: every project error, built-in Error(string), and unknown selectors', async () => {
  const abis = Object.fromEntries(Object.entries((await loadArtifacts()).contracts).map(([n, c]) => [n, c.abi]))
  const data = encodeErrorResult({ abi: abis.Staking!, errorName: 'InsufficientStake', args: [1n, 5n] })
  assert.equal(formatRevert(decodeRevert(data, abis)!), 'Staking.InsufficientStake(have 1, need 5)')
  const plain = encodeErrorResult({ abi: [{ type: 'error', name: 'Error', inputs: [{ name: 'message', type: 'string' }] }], errorName: 'Error', args: ['nope'] })
  assert.equal(formatRevert(decodeRevert(plain, abis)!), 'Error(message nope)')
  // an error several contracts declare is named after the called contract
  const denied = encodeErrorResult({ abi: abis.Staking!, errorName: 'AccessControlUnauthorizedAccount', args: ['0x0000000000000000000000000000000000000001', '0x' + '00'.repeat(32)] })
  assert.match(formatRevert(decodeRevert(denied, abis, 'Staking')!), /^Staking\.AccessControlUnauthorizedAccount\(account 0x0+1, neededRole 0x0{64}\)$/)
  assert.match(formatRevert(decodeRevert(denied, abis, 'Timelock')!), /^Timelock\./)
  assert.equal(decodeRevert('0xdeadbeef', abis), undefined)
  assert.equal(decodeRevert('0xe450d38c', abis), undefined) // the selector without its arguments does not decode
})
