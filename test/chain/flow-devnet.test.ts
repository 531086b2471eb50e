// The whole money path on the devnet that `zeone chain devnet` starts, driven through the real CLI where one exists:
// deploy (production timings, no reporters: the stake-only bootstrap), stake, bind, two real nodes over TCP with the
// chain attached, governance (propose / advance / vote / queue / execute) that changes debt_limit and fee_cdn and
// both nodes applying it live, metered traffic, an automatic cheque with the on-chain part, `zeone settle` cashing
// it and marking it redeemed in the running node's ledger. One devnet for the file; waits on events, never sleeps.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { keccak256, parseEther, toHex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { writeFileAtomic } from '../../src/crypto/identity.js'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { attach } from '../../src/economy/attach.js'
import type { Economy } from '../../src/economy/economy.js'
import { decodeCheque } from '../../src/economy/cheque.js'
import type { ChainHandle } from '../../src/economy/chain/attach-chain.js'
import type { GovernedParams } from '../../src/economy/chain/client.js'
import { ChainClient } from '../../src/economy/chain/client.js'
import { devKey } from '../../src/economy/chain/devnet.js'
import { readDeployment } from '../../src/economy/chain/files.js'
import { MIB } from '../../src/economy/chain/governed.js'
import { MessageType } from '../../src/wire/message-types.js'
import { tempDir } from '../economy/helpers.js'

const fromSource = import.meta.url.endsWith('.ts')
const fixture = fileURLToPath(new URL(`./fixtures/zeone-cli.${fromSource ? 'ts' : 'js'}`, import.meta.url))
const nodeArgs = fromSource ? ['--import', 'tsx', fixture] : [fixture]
const env = (): NodeJS.ProcessEnv => {
  const e = { ...process.env }
  for (const k of Object.keys(e)) if (k.startsWith('ZEONE_')) delete e[k]
  return e
}

function run(children: Set<ChildProcess>, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [...nodeArgs, ...args], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(c)
    let stdout = ''
    let stderr = ''
    c.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    c.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    c.on('error', reject)
    c.on('close', (code) => { children.delete(c); resolve({ code, stdout, stderr }) })
  })
}

/** Resolves once the handle has seen governed parameters that satisfy `ok` (the economy's own listener ran first). */
function paramsWhere(h: ChainHandle, ok: (p: GovernedParams) => boolean): Promise<GovernedParams> {
  return new Promise((resolve) => {
    const now = h.params()
    if (now !== undefined && ok(now)) { resolve(now); return }
    const off = h.onParams((p) => { if (ok(p)) { off(); resolve(p) } })
  })
}

/** Resolves when `check` returns a value; re-checked at the ledger's 20 ms flush cadence (a condition, not a deadline). */
function when<T>(check: () => T | undefined): Promise<T> {
  return new Promise((resolve) => {
    const tick = (): boolean => {
      const v = check()
      if (v === undefined) return false
      resolve(v)
      return true
    }
    if (tick()) return
    const timer = setInterval(() => { if (tick()) clearInterval(timer) }, 20)
  })
}

test('devnet end to end: CLI deploy, stake, bind, two nodes, governance changes fees live, traffic, cheque, settle marks redeemed', async (t) => {
  const children = new Set<ChildProcess>()
  const devDir = tempDir('zeone-e2e-dev-')
  const dirs = [tempDir('zeone-e2e-a-'), tempDir('zeone-e2e-b-')]
  const nodes: ZeoneNode[] = []
  t.after(async () => {
    for (const n of nodes) await n.stop()
    for (const c of children) c.kill('SIGKILL')
    devDir.cleanup()
    for (const d of dirs) d.cleanup()
  })
  const cli = async (args: string[], dir: string): Promise<Record<string, unknown>> => {
    const r = await run(children, [...args, '--data-dir', dir])
    assert.equal(r.code, 0, `zeone ${args.join(' ')} failed: ${r.stderr}`)
    return JSON.parse(r.stdout) as Record<string, unknown>
  }

  // 1. `zeone chain devnet`, as its own process
  const dev = spawn(process.execPath, [...nodeArgs, 'chain', 'devnet', '--port', '0', '--accounts', '4', '--data-dir', devDir.dir], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(dev)
  let out = ''
  let err = ''
  dev.stderr.on('data', (d: Buffer) => { err += d.toString() })
  await new Promise<void>((resolve, reject) => {
    dev.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('dev account 3:')) resolve() })
    dev.on('close', () => reject(new Error(`devnet exited: ${err}`)))
  })
  const url = /devnet: (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1]
  assert.ok(url, out)

  // 2. `zeone chain deploy` with production timings (7 d delay, 7 d period, 2 d timelock) by dev account 3
  const [a, b] = dirs.map((d) => d.dir) as [string, string]
  const deployed = await cli(['chain', 'deploy', '--rpc', url, '--dev-account', '3'], a)
  copyFileSync(join(a, 'chain-deployment.json'), join(b, 'chain-deployment.json'))
  const dep = readDeployment(a, 'chain-deployment.json')
  assert.equal(String(deployed.governor).toLowerCase(), dep.governor.toLowerCase())
  assert.ok(dep.rewards !== undefined)
  // the nodes' EVM keys are dev accounts 1 and 2; the deployer (holder of the initial supply) funds them
  for (const [i, d] of [[1, a], [2, b]] as const) writeFileAtomic(join(d, 'evm.key'), new TextEncoder().encode(`${devKey(i)}\n`), 0o600)
  const deployer = await ChainClient.open({ deployment: dep, rpcUrl: url, privateKey: devKey(3) })
  for (const i of [1, 2]) await deployer.write(dep.token, 'ZEOToken', 'transfer', [privateKeyToAddress(devKey(i)), parseEther('50000')])

  // 3. stake and bind through the CLI; B (the consumer) deposits for its cheques
  for (const d of [a, b]) {
    const st = await cli(['stake', '20000'], d)
    assert.equal(st.bonded, parseEther('20000').toString())
    const r = await run(children, ['chain', 'bind', '--data-dir', d])
    assert.equal(r.code, 0, r.stderr)
  }
  const clB = await ChainClient.open({ deployment: dep, rpcUrl: url, privateKey: devKey(2) })
  await clB.deposit(parseEther('100'))

  // 4. two real nodes with the economy and the chain attached
  for (const d of [a, b]) {
    const config = validateConfig({
      dataDir: d, node: { port: 0, host: '127.0.0.1', legacy: false }, ops: { httpPort: -1, logLevel: 'silent' },
      economy: { claimIntervalMs: 150, flushIntervalMs: 20, minClaimGapMs: 50 },
      // no chain.rpcUrl: the node must use the deployment file's rpcUrl (written by `chain deploy`), not the default
      chain: { enabled: true, paramsRefreshSec: 1 },
    })
    const n = createNode(config, { layers: [['economy', attach]] })
    await n.start()
    n.router.handle(MessageType.VPN_DATA, () => {})
    nodes.push(n)
  }
  const [na, nb] = nodes as [ZeoneNode, ZeoneNode]
  const eco = nodes.map((n) => n.services.get('economy')!) as [Economy, Economy]
  const chains = nodes.map((n) => n.services.get('chain')!) as [ChainHandle, ChainHandle]
  // governed values are in force from the start (config set no debt limit: the local default would be 100 MiB)
  for (const e of eco) {
    assert.equal(e.debtLimit, 10_000_000n)
    assert.deepEqual(e.pricing.priceOf('cdn'), { unit: 'byte', price: 200n, per: MIB })
  }
  // the stake source answers from the staking contract through the verified binding
  assert.equal(await chains[0].client.stakeOf(nb.identity.publicKey), parseEther('20000'))

  // 5. governance through the CLI on production timings: the devnet's clock is moved with `zeone chain advance`
  const model = keccak256(toHex('tiny-llm'))
  assert.equal(await chains[1].modelAllowed('tiny-llm'), false)
  const p = await cli(['gov', 'propose', '--param', 'debt_limit=8000', '--param', 'fee_cdn=5000', '--model', model, '--description', 'e2e: lower debt limit, raise cdn fee, whitelist tiny-llm'], a)
  const id = String(p.proposalId)
  assert.equal(p.state, 'Pending')
  await cli(['chain', 'advance', '7d'], a)
  await cli(['chain', 'advance', '1s'], a)
  assert.equal((await cli(['gov', 'state', id], b)).state, 'Active')
  await cli(['gov', 'vote', id, 'for'], a)
  await cli(['chain', 'advance', '7d'], a)
  assert.equal((await cli(['gov', 'state', id], b)).state, 'Succeeded')
  await cli(['gov', 'queue', id], b)
  await cli(['chain', 'advance', '2d'], b)
  const applied = chains.map((h) => paramsWhere(h, (x) => x.debt_limit === 8000n && x.fee_cdn === 5000n))
  assert.equal((await cli(['gov', 'execute', id], b)).state, 'Executed')
  // 6. both running nodes pick the change up by themselves and apply it
  await Promise.all(applied)
  for (const e of eco) {
    assert.equal(e.debtLimit, 8000n)
    assert.equal(e.payThreshold, 4000n)
    assert.deepEqual(e.pricing.priceOf('cdn'), { unit: 'byte', price: 5000n, per: MIB })
  }

  assert.equal(await chains[0].modelAllowed('tiny-llm'), true)
  assert.equal(await chains[0].modelAllowed('other-llm'), false)

  // 7. traffic: A serves B 6000 bytes of VPN frames; over the new 4000 pay threshold B pays by cheque on its own
  const link = await na.transport!.dial(nb.listenAddress!)
  for (let i = 0; i < 6; i++) link.send(MessageType.VPN_DATA, new Uint8Array(1000))
  const held = await when(() => {
    const h = eco[0].heldCheques()[0]
    return h !== undefined && decodeCheque(h.bytes).onchain !== undefined && eco[0].balance(nb.identity.publicKey).served === 6000n ? h : undefined
  })
  const credits = held.amount
  assert.ok(credits >= 4000n && credits <= 6000n, `cheque for ${credits}`)
  eco[0].flush()

  // 8. `zeone settle` on A's data dir while A runs: cashes B's cheque, 20% burned, and marks it redeemed in A's ledger
  const supply0 = await deployer.read<bigint>(dep.token, 'ZEOToken', 'totalSupply')
  const bal0 = await deployer.balance(privateKeyToAddress(devKey(1)))
  const r = await run(children, ['settle', '--data-dir', a])
  assert.equal(r.code, 0, r.stderr)
  const results = JSON.parse(r.stdout) as Array<{ paid?: string; redeemed?: boolean; error?: string }>
  assert.equal(results.length, 1)
  assert.equal(results[0]!.error, undefined)
  const wei = credits * 1_000_000_000_000n
  assert.equal(results[0]!.paid, wei.toString())
  assert.equal(results[0]!.redeemed, true)
  assert.equal((await deployer.balance(privateKeyToAddress(devKey(1)))) - bal0, wei - wei / 5n)
  assert.equal(supply0 - (await deployer.read<bigint>(dep.token, 'ZEOToken', 'totalSupply')), wei / 5n)
  assert.equal(eco[0].store.getCheque(nb.identity.publicKey, na.identity.publicKey)?.status, 'redeemed')
  // nothing left to settle
  const again = await run(children, ['settle', '--data-dir', a])
  assert.equal(again.code, 0, again.stderr)
  assert.deepEqual(JSON.parse(again.stdout), [])

  // 9. the governed CDN fee is what a served MiB now costs
  assert.equal(eco[0].record(nb.identity.publicKey, 'cdn', MIB, 'served'), 5000n)

  dev.kill('SIGINT')
})
