import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync, statSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadOrCreateEvmKey, readDeployment, writeDeployment } from '../../src/economy/chain/files.js'
import { handleJsonRpc } from '../../src/economy/chain/edr.js'
import { configSchema } from '../../src/ops/config-schema.js'

const dep = {
  chainId: 31337, deployer: '0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1', token: '0x0000000000000000000000000000000000000001',
  emission: '0x0000000000000000000000000000000000000002', params: '0x0000000000000000000000000000000000000003',
  trust: '0x0000000000000000000000000000000000000004', staking: '0x0000000000000000000000000000000000000005',
  escrow: '0x0000000000000000000000000000000000000006', timelock: '0x0000000000000000000000000000000000000007',
  governor: '0x0000000000000000000000000000000000000008', gas: {},
} as const

test('deployment file: round trip, and hostile files are refused with typed errors', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zeone-chain-files-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  writeDeployment(dir, 'd.json', { ...dep, rpcUrl: 'http://127.0.0.1:1' })
  assert.deepEqual(readDeployment(dir, 'd.json'), { ...dep, rpcUrl: 'http://127.0.0.1:1' })
  assert.throws(() => readDeployment(dir, 'missing.json'), { code: 'not_configured' })
  writeFileSync(join(dir, 'bad.json'), '{not json')
  assert.throws(() => readDeployment(dir, 'bad.json'), { code: 'bad_deployment' })
  writeFileSync(join(dir, 'addr.json'), JSON.stringify({ ...dep, escrow: '0x1234' }))
  assert.throws(() => readDeployment(dir, 'addr.json'), /escrow/)
  writeFileSync(join(dir, 'chain.json'), JSON.stringify({ ...dep, chainId: 'x' }))
  assert.throws(() => readDeployment(dir, 'chain.json'), /chainId/)
  writeFileSync(join(dir, 'big.json'), ' '.repeat(70 * 1024))
  assert.throws(() => readDeployment(dir, 'big.json'), /too large/)
})

test('EVM key file: created 0600 once, reused, and a corrupt key is refused', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zeone-chain-key-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const k = loadOrCreateEvmKey(dir, 'evm.key')
  assert.match(k, /^0x[0-9a-f]{64}$/)
  assert.equal(statSync(join(dir, 'evm.key')).mode & 0o777, 0o600)
  assert.equal(loadOrCreateEvmKey(dir, 'evm.key'), k)
  assert.equal(readFileSync(join(dir, 'evm.key'), 'utf8').trim(), k)
  writeFileSync(join(dir, 'bad.key'), 'hello')
  assert.throws(() => loadOrCreateEvmKey(dir, 'bad.key'), { code: 'bad_key' })
})

test('config: chain section defaults and strictness', () => {
  const c = configSchema.parse({}).chain
  assert.equal(c.enabled, false)
  assert.equal(c.rpcUrl, 'http://127.0.0.1:8545')
  assert.equal(c.devnet.port, 8545)
  assert.throws(() => configSchema.parse({ chain: { rpcURL: 'x' } }))
  assert.throws(() => configSchema.parse({ chain: { rpcUrl: 'not a url' } }))
})

test('JSON-RPC handler: invalid requests and oversized batches get JSON-RPC errors', async () => {
  const calls: string[] = []
  const fake = { request: (async ({ method }: { method: string }) => { calls.push(method); if (method === 'boom') throw Object.assign(new Error('bad'), { code: 3, data: '0x01' }); return '0x1' }) as never }
  assert.deepEqual(await handleJsonRpc(fake, { id: 1 }), { jsonrpc: '2.0', id: 1, error: { code: -32600, message: 'invalid request' } })
  assert.deepEqual(await handleJsonRpc(fake, { id: 2, method: 'boom' }), { jsonrpc: '2.0', id: 2, error: { code: 3, message: 'bad', data: '0x01' } })
  assert.deepEqual(await handleJsonRpc(fake, [{ id: 3, method: 'eth_chainId' }]), [{ jsonrpc: '2.0', id: 3, result: '0x1' }])
  const big = Array.from({ length: 101 }, (_, i) => ({ id: i, method: 'eth_chainId' }))
  calls.length = 0
  assert.equal(((await handleJsonRpc(fake, big)) as { error: { message: string } }).error.message, 'batch too large')
  assert.equal(calls.length, 0)
})
