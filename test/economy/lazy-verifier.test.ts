// A node without a chain client loads the EIP-712 cheque code (and viem) only when the first cheque with an on-chain
// part arrives (economy/attach.ts): that one is refused as onchain_pending (no trust penalty), later ones verified.
import { it } from 'node:test'
import assert from 'node:assert/strict'
import { lazyOnchainVerifier } from '../../src/economy/attach.js'
import { signOnchainPart } from '../../src/economy/chain/cheque-eip712.js'
import type { Cheque } from '../../src/economy/cheque.js'
import { silentLogger } from '../../src/interfaces/logger.js'

const KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'

it('the first on-chain cheque waits for the verifier to load (onchain_pending), then cheques are verified', async () => {
  const escrow = new Uint8Array(20).fill(7)
  const creditorEvm = new Uint8Array(20).fill(9)
  const onchain = await signOnchainPart(KEY, { chainId: 31337n, escrow, creditorEvm, amountWei: 10n ** 18n, serial: 3n, expires: 4_000_000_000n })
  const good = { serial: 3n, expires: 4_000_000_000n, onchain } as unknown as Cheque
  const forged = { ...good, serial: 4n } as unknown as Cheque
  const verify = lazyOnchainVerifier(silentLogger)
  assert.equal(verify({ serial: 1n, expires: 1n } as unknown as Cheque), true, 'a cheque without an on-chain part needs no verifier')
  const first = verify(good)
  assert.equal(typeof first === 'object' && first.code, 'onchain_pending')
  let r = verify(good)
  for (let i = 0; i < 500 && typeof r === 'object'; i++) { await new Promise((res) => setTimeout(res, 10)); r = verify(good) }
  assert.equal(r, true, 'verified once loaded')
  assert.equal(verify(forged), false, 'a signature over other fields is refused')
})
