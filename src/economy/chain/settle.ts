/**
 * Cashing cheques on-chain: takes the `onchain` part of E's cumulative cheque (src/economy/cheque.ts) and calls
 * SettlementEscrow.cashCheque. The escrow pays cumulative minus already-paid, burns 20%, and rejects replays,
 * other chains/escrows (EIP-712 domain), expired cheques and unbound debtors.
 */
import { bytesToHex, getAddress, decodeEventLog, type Address, type Hex } from 'viem'
import { artifact, type Artifacts } from './artifacts.js'
import { write, type Clients } from './clients.js'
import { ChainError } from './errors.js'
import type { OnchainPart } from './cheque-eip712.js'

/** SettlementEscrow.BURN_BPS: 20% of every settled fee is burned. */
export const BURN_BPS = 2000n

export interface CashableCheque { serial: bigint; expires: bigint; onchain?: OnchainPart }

export interface CashResult { txHash: Hex; paid: bigint; burned: bigint; gasUsed: bigint }

export async function cashCheque(c: Clients, arts: Artifacts, cheque: CashableCheque): Promise<CashResult> {
  const o = cheque.onchain
  if (o === undefined) throw new ChainError('bad_cheque', 'cheque has no on-chain part')
  const escrow = getAddress(bytesToHex(o.escrow)) as Address
  const abi = artifact(arts, 'SettlementEscrow').abi
  const receipt = await write(c, escrow, abi, 'cashCheque', [
    getAddress(bytesToHex(o.debtorEvm)), getAddress(bytesToHex(o.creditorEvm)), o.amountWei, cheque.serial, cheque.expires,
    bytesToHex(o.sig),
  ])
  for (const log of receipt.logs) {
    if (log.address.toLowerCase() !== escrow.toLowerCase()) continue
    try {
      const ev = decodeEventLog({ abi, data: log.data, topics: log.topics }) as unknown as { eventName: string; args: Record<string, unknown> }
      if (ev.eventName === 'ChequeCashed') {
        const paid = ev.args.paid as bigint
        return { txHash: receipt.transactionHash, paid, burned: (paid * BURN_BPS) / 10_000n, gasUsed: receipt.gasUsed }
      }
    } catch { /* another event */ }
  }
  throw new ChainError('tx_reverted', 'no ChequeCashed event in receipt')
}
