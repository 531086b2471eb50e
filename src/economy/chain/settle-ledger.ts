/**
 * `zeone settle`: finds the latest cheques we hold as creditor (E's ledger SQLite, table `cheques`) or takes encoded
 * cheques, verifies each one's Ed25519 and EIP-712 parts, and cashes them on-chain. A ledger cheque whose amount
 * the escrow now shows as fully paid is marked `redeemed` in the ledger (one conditional UPDATE per cheque, on the
 * exact serial and only while still `active`, with a busy timeout so a running node's writer is waited for).
 */
import { existsSync } from 'node:fs'
import Database from 'better-sqlite3'
import { bytesToHex, hexToBytes } from 'viem'
import { decodeCheque, verifyChequeSignature, type Cheque } from '../cheque.js'
import { equalBytes } from '../../util/bytes.js'
import type { ChainClient } from './client.js'
import { makeOnchainVerifier } from './cheque-eip712.js'
import { cashCheque } from './settle.js'
import { ChainError } from './errors.js'
import { describeChainError } from './revert.js'

export interface SettleResult {
  debtor: string; serial: bigint; paid?: bigint; burned?: bigint; txHash?: string; skipped?: string; error?: string
  /** The ledger row was marked redeemed (settleFromLedger only). */
  redeemed?: boolean
  /** paid: cashed in full; partial: the debtor's deposit covered only `paid` (the rest stays due, the cheque active);
   *  already paid: nothing was due; failed: see `error`. */
  outcome?: 'paid' | 'partial' | 'already paid' | 'failed'
}

const MAX_ROWS = 10_000

export async function settleEncoded(cl: ChainClient, encoded: Uint8Array[]): Promise<SettleResult[]> {
  const verify = makeOnchainVerifier({ chainId: BigInt(cl.dep.chainId), escrow: hexToBytes(cl.dep.escrow) })
  const out: SettleResult[] = []
  for (const b of encoded) {
    let c: Cheque
    try { c = decodeCheque(b) } catch (err) { out.push({ debtor: '?', serial: 0n, outcome: 'failed', error: (err as Error).message }); continue }
    const r: SettleResult = { debtor: bytesToHex(c.debtor), serial: c.serial }
    out.push(r)
    r.outcome = 'failed'
    if (!verifyChequeSignature(c)) { r.error = 'bad Ed25519 signature'; continue }
    if (c.onchain === undefined || !verify(c)) { r.error = 'no valid on-chain part for this chain/escrow'; continue }
    try {
      // a cheque whose cumulative amount is already paid (cashed before, or superseded) costs no transaction
      const paid = await cl.read<bigint>(cl.dep.escrow, 'SettlementEscrow', 'paidOut', [bytesToHex(c.onchain.debtorEvm), bytesToHex(c.onchain.creditorEvm)])
      if (paid >= c.onchain.amountWei) { r.skipped = 'already cashed'; r.outcome = 'already paid'; continue }
      const res = await cashCheque(cl.c, cl.arts, c)
      Object.assign(r, { paid: res.paid, burned: res.burned, txHash: res.txHash })
      r.outcome = paid + res.paid >= c.onchain.amountWei ? 'paid' : 'partial'
    } catch (err) {
      // a revert as the escrow's error name and args (one line, the hint on a second), not viem's selector dump
      const decoded = await describeChainError(err).catch(() => undefined)
      r.error = decoded?.replace(/^chain: /, '') ?? (err as { shortMessage?: string }).shortMessage ?? (err as Error).message
    }
  }
  return out
}

export async function settleFromLedger(cl: ChainClient, ledgerFile: string, self: Uint8Array): Promise<SettleResult[]> {
  if (!existsSync(ledgerFile)) throw new ChainError('not_configured', `no ledger at ${ledgerFile}`)
  const db = new Database(ledgerFile, { fileMustExist: true })
  try {
    db.pragma('busy_timeout = 5000')
    const rows = (db.prepare(`SELECT creditor, bytes FROM cheques WHERE status = 'active' LIMIT ${MAX_ROWS}`).all() as { creditor: Uint8Array; bytes: Uint8Array }[])
      .filter((r) => equalBytes(r.creditor, self)).map((r) => new Uint8Array(r.bytes))
    const results = await settleEncoded(cl, rows)
    const mark = db.prepare(`UPDATE cheques SET status = 'redeemed', updated = ? WHERE debtor = ? AND creditor = ? AND serial = ? AND status = 'active'`)
    for (let i = 0; i < rows.length; i++) {
      const r = results[i]!
      if (r.error !== undefined) continue
      const c = decodeCheque(rows[i]!)
      if (c.onchain === undefined) continue
      // fully paid on-chain (by this run or an earlier one): a partial payment (short deposit) stays active
      const paid = await cl.read<bigint>(cl.dep.escrow, 'SettlementEscrow', 'paidOut', [bytesToHex(c.onchain.debtorEvm), bytesToHex(c.onchain.creditorEvm)])
      if (paid < c.onchain.amountWei) continue
      r.redeemed = mark.run(Date.now(), c.debtor, c.creditor, c.serial).changes === 1
    }
    return results
  } finally {
    db.close()
  }
}
