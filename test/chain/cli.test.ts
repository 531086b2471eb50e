// Real processes: `zeone chain devnet` serving JSON-RPC, and the stake / gov / chain status commands against it.
import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ChainClient } from '../../src/economy/chain/client.js'
import { readDeployment } from '../../src/economy/chain/files.js'
import { proposalState } from '../../src/economy/chain/governance.js'

const fromSource = import.meta.url.endsWith('.ts')
const fixture = fileURLToPath(new URL(`./fixtures/zeone-cli.${fromSource ? 'ts' : 'js'}`, import.meta.url))
const nodeArgs = fromSource ? ['--import', 'tsx', fixture] : [fixture]
const children = new Set<ChildProcess>()
const dir = mkdtempSync(join(tmpdir(), 'zeone-chain-cli-'))
const dir2 = mkdtempSync(join(tmpdir(), 'zeone-chain-cli2-'))
after(() => {
  for (const c of children) c.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
  rmSync(dir2, { recursive: true, force: true })
})
const env = (): NodeJS.ProcessEnv => {
  const e = { ...process.env }
  for (const k of Object.keys(e)) if (k.startsWith('ZEONE_')) delete e[k]
  return e
}
const common = ['--data-dir', dir]

function run(args: string[], extra: string[] = common): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [...nodeArgs, ...args, ...extra], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(c)
    let stdout = ''
    let stderr = ''
    c.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    c.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    c.on('error', reject)
    c.on('close', (code) => { children.delete(c); resolve({ code, stdout, stderr }) })
  })
}
const json = async (args: string[]) => {
  const r = await run(args)
  assert.equal(r.code, 0, `zeone ${args.join(' ')} failed: ${r.stderr}`)
  return JSON.parse(r.stdout) as Record<string, unknown>
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

test('zeone chain devnet + stake + gov propose/vote/queue/execute + chain status, as separate processes', async () => {
  const dev = spawn(process.execPath, [...nodeArgs, 'chain', 'devnet', '--port', '0', '--accounts', '3', ...common], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(dev)
  let out = ''
  let err = ''
  dev.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const exited = new Promise<number | null>((r) => dev.on('close', (code) => { children.delete(dev); r(code) }))
  await new Promise<void>((resolve, reject) => {
    dev.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('dev account 2:')) resolve() })
    dev.on('close', () => reject(new Error(`devnet exited: ${err}`)))
  })
  const url = /devnet: (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1]
  assert.ok(url, out)
  const dep = JSON.parse(readFileSync(join(dir, 'chain-deployment.json'), 'utf8')) as Record<string, string>
  assert.equal(dep.rpcUrl, url)
  assert.ok(out.includes(dep.governor!))

  const staked = await json(['stake', '10000', '--dev-account', '1'])
  assert.equal(staked.bonded, (10_000n * 10n ** 18n).toString())
  const bad = await run(['stake', 'lots', '--dev-account', '1'])
  assert.notEqual(bad.code, 0)
  assert.match(bad.stderr, /ZEO amount/)

  const p = await json(['gov', 'propose', '--param', 'fee_vpn=4242', '--description', 'cli test', '--dev-account', '1'])
  const id = String(p.proposalId)
  // poll the proposal state in-process over the devnet's JSON-RPC (a CLI process per poll is too slow)
  const cl = await ChainClient.open({ deployment: readDeployment(dir, 'chain-deployment.json'), rpcUrl: url })
  const skip = async (seconds: number) => {
    await cl.c.public.request({ method: 'evm_increaseTime', params: [seconds] } as never)
    await cl.c.public.request({ method: 'evm_mine', params: [] } as never)
  }
  const waitFor = async (state: string) => {
    for (let i = 0; i < 120; i++) {
      const now = await proposalState(cl, BigInt(id))
      if (now === state) return
      if (now === 'Defeated' || now === 'Canceled' || now === 'Expired') throw new Error(`proposal ${now}, wanted ${state}`)
      await sleep(250)
    }
    throw new Error(`proposal never reached ${state}`)
  }
  await waitFor('Active')
  await json(['gov', 'vote', id, 'for', '--dev-account', '1'])
  await skip(61) // past the 60 s devnet voting period
  await waitFor('Succeeded')
  await json(['gov', 'queue', id, '--dev-account', '2'])
  await skip(2) // past the 1 s devnet timelock delay
  await json(['gov', 'execute', id, '--dev-account', '2'])
  const status = await json(['chain', 'status', '--dev-account', '1'])
  assert.equal((status.params as Record<string, string>).fee_vpn, '4242')

  // an EVM key file is created 0600 on first use when no dev account is named
  await json(['chain', 'status'])
  assert.equal(statSync(join(dir, 'evm.key')).mode & 0o777, 0o600)

  // `zeone chain deploy --rpc URL` deploys a second, production-timed set on the same endpoint
  const d2 = await run(['chain', 'deploy', '--rpc', url!, '--dev-account', '2', '--data-dir', dir2], [])
  assert.equal(d2.code, 0, d2.stderr)
  const dep2 = JSON.parse(readFileSync(join(dir2, 'chain-deployment.json'), 'utf8')) as Record<string, string>
  assert.notEqual(dep2.governor, dep.governor)
  const cl2 = await ChainClient.open({ deployment: readDeployment(dir2, 'chain-deployment.json'), rpcUrl: url })
  assert.equal(await cl2.read<bigint>(dep2.governor as `0x${string}`, 'ZeoneGovernor', 'votingPeriod'), 604_800n)
  const noRpc = await run(['chain', 'deploy', '--data-dir', dir2], [])
  assert.notEqual(noRpc.code, 0)
  assert.match(noRpc.stderr, /--rpc/)

  dev.kill('SIGINT')
  assert.equal(await exited, 0)
})
