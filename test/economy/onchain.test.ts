/** Cheques with the settlement client's EIP-712 part (src/economy/chain): signed on issue, verified on receipt. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { makeOnchainVerifier, signOnchainPart } from '../../src/economy/chain/cheque-eip712.js'
import { decodeCheque, encodeCheque, signCheque } from '../../src/economy/cheque.js'
import type { ZeoneError } from '../../src/util/errors.js'
import { MessageType } from '../../src/wire/message-types.js'
import type { RemotePeer } from '../../src/interfaces/link.js'
import { config, idFrom, ManualClock, makeEconomy, tempDir } from './helpers.js'

const debtor = idFrom(31)
const creditor = idFrom(32)
const KEY1 = `0x${'11'.repeat(32)}` as const
const KEY2 = `0x${'22'.repeat(32)}` as const
const chainId = 31337n
const escrow = new Uint8Array(20).fill(0xee)
const creditorEvm = new Uint8Array(20).fill(0xcc)
const WEI_PER_CREDIT = 10n ** 12n
const peerOf = (id: typeof debtor): RemotePeer => ({ nodeId: id.publicKey, nodeIdB64: id.nodeIdB64, dhtId: id.dhtId, remoteAddr: { host: 'x', port: 1 }, version: 2, capabilities: new Set(), outbound: true })

test('issueChequeAsync attaches an EIP-712 part that the creditor verifies; a mismatched EVM signer is refused', async () => {
  const { dir, cleanup } = tempDir()
  const clock = new ManualClock()
  try {
    const d = makeEconomy(join(dir, 'd.sqlite'), debtor, clock, config(), {
      onchainSigner: (f) => signOnchainPart(KEY1, { chainId, escrow, creditorEvm, amountWei: f.amount * WEI_PER_CREDIT, serial: f.serial, expires: f.expires }),
    })
    const c = makeEconomy(join(dir, 'c.sqlite'), creditor, clock, config(), { onchainVerifier: makeOnchainVerifier({ chainId, escrow }) })
    d.observeFrame({ peer: peerOf(creditor), direction: 'in', type: MessageType.VPN_DATA, bytes: 4096 })
    const bytes = (await d.issueChequeAsync(creditor.publicKey))!
    const cheque = decodeCheque(bytes)
    assert.equal(cheque.onchain?.amountWei, 4096n * WEI_PER_CREDIT)
    assert.equal(c.receiveCheque(debtor.publicKey, bytes), 'new')
    assert.equal(c.heldCheques().length, 1)

    // same Ed25519 signer, but the EIP-712 signature is by another EVM key than the one named: bad_onchain
    const other = await signOnchainPart(KEY2, { chainId, escrow, creditorEvm, amountWei: 5000n * WEI_PER_CREDIT, serial: 2n, expires: cheque.expires })
    const forged = signCheque(debtor, { creditor: creditor.publicKey, amount: 5000n, serial: 2n, expires: cheque.expires, onchain: { ...other, debtorEvm: cheque.onchain!.debtorEvm } })
    assert.throws(() => c.receiveCheque(debtor.publicKey, encodeCheque(forged)), (e: unknown) => (e as ZeoneError).code === 'bad_onchain')
    assert.equal(c.trust.view(debtor.publicKey).blacklisted, true)

    // a concurrent second issue for the same debt loses the race instead of reusing the serial
    d.observeFrame({ peer: peerOf(creditor), direction: 'in', type: MessageType.VPN_DATA, bytes: 10 })
    const [x, y] = await Promise.all([d.issueChequeAsync(creditor.publicKey), d.issueChequeAsync(creditor.publicKey)])
    assert.equal([x, y].filter(Boolean).length, 1)
    assert.equal(d.balance(creditor.publicKey).paidOut, 4106n)
    d.close(); c.close()
  } finally { cleanup() }
})
