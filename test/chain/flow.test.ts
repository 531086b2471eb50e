// Full flow on the devnet: two nodes (E's Economy + ledger, this layer's attachChain hooks) meter traffic, exchange
// cheques that carry the EIP-712 part, one settles on-chain from its ledger; 20% burned; balances match to the wei.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseEther, recoverAddress } from 'viem'
import { Identity } from '../../src/crypto/identity.js'
import { randomBytes } from '../../src/crypto/sign.js'
import { writeFileAtomic, dhtIdOf } from '../../src/crypto/identity.js'
import { toB64 } from '../../src/util/bytes.js'
import { systemClock } from '../../src/interfaces/clock.js'
import { silentLogger } from '../../src/interfaces/logger.js'
import type { NodeContext, ServiceMap } from '../../src/interfaces/node-context.js'
import type { RemotePeer } from '../../src/interfaces/link.js'
import type { ChainHandle } from '../../src/economy/chain/attach-chain.js'
import { configSchema, type ZeoneConfig } from '../../src/ops/config-schema.js'
import { Economy } from '../../src/economy/economy.js'
import { decodeCheque } from '../../src/economy/cheque.js'
import { LedgerStore } from '../../src/economy/ledger-store.js'
import { startDevnet } from '../../src/economy/chain/devnet.js'
import { writeDeployment } from '../../src/economy/chain/files.js'
import { attachChain } from '../../src/economy/chain/attach-chain.js'
import { settleFromLedger } from '../../src/economy/chain/settle-ledger.js'

const VPN_FRAME = 0x30

function fakeCtx(dataDir: string, identity: Identity, signal: AbortSignal, rpcUrl: string): NodeContext<ZeoneConfig> {
  const services = new Map<string, unknown>()
  return {
    identity, dataDir, signal, logger: silentLogger, links: { links: () => [], onLink: () => () => {} },
    config: configSchema.parse({ dataDir, chain: { enabled: true, rpcUrl } }),
    services: {
      provide: (name: keyof ServiceMap, impl: unknown) => { services.set(name, impl) },
      get: (name: keyof ServiceMap) => services.get(name),
    },
  } as unknown as NodeContext<ZeoneConfig>
}
const peerOf = (id: Identity) => ({ nodeId: id.publicKey, nodeIdB64: toB64(id.publicKey), dhtId: dhtIdOf(id.publicKey), remoteAddr: { host: '127.0.0.1', port: 1 } }) as unknown as RemotePeer

test('two nodes meter, exchange cheques with the on-chain part, one settles from its ledger; 20% burned, to the wei', async (t) => {
  const net = await startDevnet({ port: 0, accounts: 3 })
  const abort = new AbortController()
  const dirs = [mkdtempSync(join(tmpdir(), 'zeone-flow-a-')), mkdtempSync(join(tmpdir(), 'zeone-flow-b-'))]
  const stores: LedgerStore[] = []
  t.after(async () => {
    abort.abort()
    for (const s of stores) s.close()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
    await net.stop()
  })
  const ids = [Identity.fromSeed(randomBytes(32)), Identity.fromSeed(randomBytes(32))]
  const handles: ChainHandle[] = []
  for (const i of [0, 1]) {
    writeDeployment(dirs[i]!, 'chain-deployment.json', { ...net.deployment, rpcUrl: net.url })
    writeFileAtomic(join(dirs[i]!, 'evm.key'), new TextEncoder().encode(`${net.keys[i + 1]}\n`))
    const ctx = fakeCtx(dirs[i]!, ids[i]!, abort.signal, net.url)
    const h = await attachChain(ctx)
    assert.ok(h)
    assert.equal(ctx.services.get('stake'), h.client)
    assert.equal(ctx.services.get('chain'), h)
    assert.equal(h.params()?.fee_vpn, 1000n) // governed parameters were read at attach
    await h.client.bind(ids[i]!)
    handles.push(h)
  }
  const [A, B] = handles as [ChainHandle, ChainHandle]
  // verified inference: the handle signs a stage's DataAttestation with the bound key, as Staking recovers it
  const att = A.attestData(new Uint8Array(32).fill(1), 3, new Uint8Array(32).fill(2))
  const attDigest = await A.client.read<`0x${string}`>(net.deployment.staking, 'Staking', 'attestationDigest', [`0x${'01'.repeat(32)}`, 3n, `0x${'02'.repeat(32)}`])
  assert.equal(await recoverAddress({ hash: attDigest, signature: `0x${Buffer.from(att).toString('hex')}` }), A.client.address)
  const [alice, bob] = ids as [Identity, Identity]
  await A.client.deposit(parseEther('50'))

  const econCfg = configSchema.parse({}).economy
  const eco = [0, 1].map((i) => {
    const store = LedgerStore.open(join(dirs[i]!, 'ledger.sqlite'), { now: () => systemClock.now() })
    stores.push(store)
    const h = handles[i]!
    return new Economy({ identity: ids[i]!, store, config: econCfg, clock: systemClock, onchainSigner: h.onchainSigner, onchainVerifier: h.onchainVerifier })
  }) as [Economy, Economy]

  // alice uses bob's VPN exit: both sides meter the same frames
  const meter = (bytes: number) => {
    eco[0].observeFrame({ peer: peerOf(bob), direction: 'in', type: VPN_FRAME, bytes })
    eco[1].observeFrame({ peer: peerOf(alice), direction: 'out', type: VPN_FRAME, bytes })
  }
  meter(40_000)
  // cheques carry the EIP-712 part once alice's node resolved bob's verified EVM address
  const c1 = (await eco[0].issueChequeAsync(bob.publicKey))!
  await B.guard.warm(alice.publicKey) // what a link coming up does: bob's cheque checks know alice's binding and deposit
  assert.equal(decodeCheque(c1).onchain?.amountWei, 40_000n * BigInt(econCfg.bytePrice) * 1_000_000_000_000n)
  assert.equal(eco[1].receiveCheque(alice.publicKey, c1), 'new')
  meter(25_000)
  meter(10_000)
  const c2 = (await eco[0].issueChequeAsync(bob.publicKey))!
  assert.equal(decodeCheque(c2).onchain?.amountWei, decodeCheque(c2).amount * 1_000_000_000_000n)
  assert.equal(eco[1].receiveCheque(alice.publicKey, c2), 'new')
  eco[1].flush()
  const credits = eco[1].balance(alice.publicKey).paidIn
  assert.equal(credits, 75_000n * BigInt(econCfg.bytePrice))
  assert.equal(eco[0].balance(bob.publicKey).paidOut, credits)

  const supply0 = await B.client.read<bigint>(net.deployment.token, 'ZEOToken', 'totalSupply')
  const bob0 = await B.client.balance()
  const results = await settleFromLedger(B.client, join(dirs[1]!, 'ledger.sqlite'), bob.publicKey)
  assert.equal(results.length, 1)
  assert.equal(results[0]!.error, undefined)
  const wei = credits * 1_000_000_000_000n
  assert.equal(results[0]!.paid, wei)
  assert.equal((await B.client.balance()) - bob0, wei - wei / 5n)
  assert.equal(supply0 - (await B.client.read<bigint>(net.deployment.token, 'ZEOToken', 'totalSupply')), wei / 5n)
  const [deposit] = await B.client.read<[bigint]>(net.deployment.escrow, 'SettlementEscrow', 'deposits', [A.client.address])
  assert.equal(deposit, parseEther('50') - wei)
  // the cashed cheque is marked redeemed in bob's ledger, so settling again finds nothing to pay
  assert.equal(results[0]!.redeemed, true)
  stores[1]!.flush()
  assert.equal(stores[1]!.getCheque(alice.publicKey, bob.publicKey)?.status, 'redeemed')
  const again = await settleFromLedger(B.client, join(dirs[1]!, 'ledger.sqlite'), bob.publicKey)
  assert.deepEqual(again, [])
})
