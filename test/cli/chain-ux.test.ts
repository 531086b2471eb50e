// Issue 18 item 5: deposit from the CLI, settle's per-cheque outcome and exit code, short proposal ids, 'last'.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { bytesToHex, hexToBytes, parseEther } from 'viem'
import { Identity, loadOrCreateIdentity } from '../../src/crypto/identity.js'
import { LedgerStore } from '../../src/economy/ledger-store.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { signCheque, encodeCheque } from '../../src/economy/cheque.js'
import { signOnchainPart } from '../../src/economy/chain/cheque-eip712.js'
import { ChainClient } from '../../src/economy/chain/client.js'
import { main } from '../../src/cli/main.js'
import { startDevnet } from '../../src/economy/chain/devnet.js'
import { writeDeployment } from '../../src/economy/chain/files.js'
import { shortId } from '../../src/cli/commands/chain-run.js'

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = ''
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb() } })
  const code = await main(argv, { stdout: sink((s) => { out += s }), stderr: sink((s) => { err += s }) })
  return { code, out, err }
}

test('deposit, settle outcomes and exit codes, proposal short ids', async (t) => {
  const net = await startDevnet({ port: 0, accounts: 3 })
  const d = mkdtempSync(join(tmpdir(), 'zeone-chainux-'))
  t.after(async () => { await net.stop(); rmSync(d, { recursive: true, force: true }) })
  writeDeployment(d, 'chain-deployment.json', { ...net.deployment, rpcUrl: net.url })
  const common = ['--data-dir', d]

  // deposit: into the escrow, shown with what it means when the address is not bound yet
  const dep = await cli(['deposit', '250', '--dev-account', '1', ...common])
  assert.equal(dep.code, 0, dep.err)
  const st = JSON.parse(dep.out) as { deposit: string; depositWei: string; bound: boolean; note?: string }
  assert.equal(st.depositWei, parseEther('250').toString())
  assert.equal(st.bound, false)
  assert.match(st.note ?? '', /zeone chain bind/)
  const badAmount = await cli(['deposit', 'lots', '--dev-account', '1', ...common])
  assert.equal(badAmount.code, 1)
  assert.match(badAmount.err, /ZEO amount/)

  // settle: a cheque from an unbound debtor fails (exit 1: nothing could be cashed), with the outcome named
  const bob = await ChainClient.open({ deployment: net.deployment, rpcUrl: net.url, privateKey: net.keys[2]! })
  const expires = BigInt(Math.floor(Date.now() / 1000) + 3600)
  const chequeHex = async (amountWei: bigint): Promise<string> => {
    const onchain = await signOnchainPart(net.keys[1]!, { chainId: 31337n, escrow: hexToBytes(net.deployment.escrow), creditorEvm: hexToBytes(bob.address!), amountWei, serial: 1n, expires })
    return bytesToHex(encodeCheque(signCheque(Identity.fromSeed(randomBytes(32)), { creditor: Identity.fromSeed(randomBytes(32)).publicKey, amount: 1n, serial: 1n, expires, onchain })))
  }
  const failed = await cli(['settle', '--cheque', await chequeHex(10n ** 16n), '--dev-account', '2', ...common])
  assert.equal(failed.code, 1, failed.err)
  const r = JSON.parse(failed.out) as Array<{ outcome: string; error?: string }>
  assert.equal(r[0]!.outcome, 'failed')
  assert.match(r[0]!.error ?? '', /DebtorNotBound/)
  assert.match(failed.err, /1 cheque\(s\): 0 paid, 0 already paid, 1 failed/)
  // a garbage cheque next to the failing one: still nothing paid, still exit 1, both outcomes listed
  const two = await cli(['settle', '--cheque', '0x00', '--cheque', await chequeHex(10n ** 16n), '--dev-account', '2', ...common])
  assert.equal(two.code, 1)
  assert.deepEqual((JSON.parse(two.out) as Array<{ outcome: string }>).map((x) => x.outcome), ['failed', 'failed'])
  // no ledger at all is an error naming the file; an empty one is nothing to do: exit 0
  const none = await cli(['settle', '--ledger', join(d, 'missing.sqlite'), '--dev-account', '2', ...common])
  assert.equal(none.code, 1)
  assert.match(none.err, /no ledger at/)
  LedgerStore.open(join(d, 'empty.sqlite'), { now: Date.now }).close()
  const empty = await cli(['settle', '--ledger', join(d, 'empty.sqlite'), '--dev-account', '2', ...common])
  assert.equal(empty.code, 0, empty.err)
  assert.deepEqual(JSON.parse(empty.out), [])

  // bound debtor (this data dir's identity -> dev account 1, 250 ZEO deposit) and a cheque for 300 ZEO: the deposit
  // covers 250 (outcome partial); next to a garbage cheque, settle still exits 0 because it paid what it could
  assert.equal((await cli(['chain', 'bind', '--dev-account', '1', ...common])).code, 0)
  const me = loadOrCreateIdentity(d).identity
  const onchain = await signOnchainPart(net.keys[1]!, { chainId: 31337n, escrow: hexToBytes(net.deployment.escrow), creditorEvm: hexToBytes(bob.address!), amountWei: parseEther('300'), serial: 1n, expires })
  const good = bytesToHex(encodeCheque(signCheque(me, { creditor: Identity.fromSeed(randomBytes(32)).publicKey, amount: 1n, serial: 1n, expires, onchain })))
  const mixed = await cli(['settle', '--cheque', good, '--cheque', '0x00', '--dev-account', '2', ...common])
  assert.equal(mixed.code, 0, mixed.err)
  const m = JSON.parse(mixed.out) as Array<{ outcome: string; paid?: string }>
  assert.deepEqual(m.map((x) => x.outcome), ['partial', 'failed'])
  assert.equal(m[0]!.paid, parseEther('250').toString())
  assert.match(mixed.err, /2 cheque\(s\): 1 paid, 0 already paid, 1 failed/)

  // governance: the short id is printed and accepted; 'last' names the newest proposal
  // a stake change is seen through the staking contract's events (what drops the node's stake caches)
  const seen = new Promise<void>((resolve) => { const off = bob.onStakeChange(() => { off(); resolve() }, 100) })
  assert.equal((await cli(['stake', '10000', '--dev-account', '1', ...common])).code, 0)
  await seen
  const p = await cli(['gov', 'propose', '--param', 'fee_vpn=4242', '--description', 'ux test', '--dev-account', '1', ...common])
  assert.equal(p.code, 0, p.err)
  const prop = JSON.parse(p.out) as { proposalId: string; short: string }
  assert.equal(prop.short, shortId(BigInt(prop.proposalId)))
  assert.match(prop.short, /^0x[0-9a-f]{8}$/)
  const byShort = await cli(['gov', 'state', prop.short, ...common, '--dev-account', '1'])
  assert.equal(byShort.code, 0, byShort.err)
  assert.equal((JSON.parse(byShort.out) as { proposalId: string }).proposalId, prop.proposalId)
  const byLast = await cli(['gov', 'state', 'last', ...common, '--dev-account', '1'])
  assert.equal((JSON.parse(byLast.out) as { proposalId: string }).proposalId, prop.proposalId)
  const list = await cli(['gov', 'list', ...common, '--dev-account', '1'])
  assert.deepEqual((JSON.parse(list.out) as Array<{ short: string }>).map((x) => x.short), [prop.short])
  // a prefix no proposal has, and a malformed id, are user errors naming the fix
  const other = prop.short.endsWith('0') ? `${prop.short.slice(0, -1)}1` : `${prop.short.slice(0, -1)}0`
  const miss = await cli(['gov', 'state', other, ...common, '--dev-account', '1'])
  assert.equal(miss.code, 1)
  assert.match(miss.err, /no proposal id starts with/)
  const bad = await cli(['gov', 'state', 'xyz', ...common, '--dev-account', '1'])
  assert.match(bad.err, /short form 0x1234abcd/)

  // chain advance moves the devnet's clock
  const before = await bob.c.public.getBlock()
  const adv = await cli(['chain', 'advance', '7d', ...common])
  assert.equal(adv.code, 0, adv.err)
  const after = await bob.c.public.getBlock()
  assert.ok(after.timestamp - before.timestamp >= 7n * 86_400n)
})
