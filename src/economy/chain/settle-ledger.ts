/**
 * `zeone settle`: finds the latest cheques we hold as creditor (E's ledger SQLite, table `cheques`, opened
 * read-only so a running node is not disturbed) or takes encoded cheques, verifies each one's Ed25519 and EIP-712
 * parts, and cashes them on-chain.
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

export interface SettleResult { debtor: string; serial: bigint; paid?: bigint; burned?: bigint; txHash?: string; skipped?: string; error?: string }

const MAX_ROWS = 10_000

export async function settleEncoded(cl: ChainClient, encoded: Uint8Array[]): Promise<SettleResult[]> {
  const verify = makeOnchainVerifier({ chainId: BigInt(cl.dep.chainId), escrow: hexToBytes(cl.dep.escrow) })
  const out: SettleResult[] = []
  for (const b of encoded) {
    let c: Cheque
    try { c = decodeCheque(b) } catch (err) { out.push({ debtor: '?', serial: 0n, error: (err as Error).message }); continue }
    const r: SettleResult = { debtor: bytesToHex(c.debtor), serial: c.serial }
    out.push(r)
    if (!verifyChequeSignature(c)) { r.error = 'bad Ed25519 signature'; continue }
    if (c.onchain === undefined || !verify(c)) { r.error = 'no valid on-chain part for this chain/escrow'; continue }
    try {
      // a cheque whose cumulative amount is already paid (cashed before, or superseded) costs no transaction
      const paid = await cl.read<bigint>(cl.dep.escrow, 'SettlementEscrow', 'paidOut', [bytesToHex(c.onchain.debtorEvm), bytesToHex(c.onchain.creditorEvm)])
      if (paid >= c.onchain.amountWei) { r.skipped = 'already cashed'; continue }
      const res = await cashCheque(cl.c, cl.arts, c)
      Object.assign(r, { paid: res.paid, burned: res.burned, txHash: res.txHash })
    } catch (err) {
      r.error = (err as { shortMessage?: string }).shortMessage ?? (err as Error).message
    }
  }
  return out
}

export async function settleFromLedger(cl: ChainClient, ledgerFile: string, self: Uint8Array): Promise<SettleResult[]> {
  if (!existsSync(ledgerFile)) throw new ChainError('not_configured', `no ledger at ${ledgerFile}`)
  const db = new Database(ledgerFile, { readonly: true, fileMustExist: true })
  let rows: { creditor: Uint8Array; bytes: Uint8Array }[]
  try {
    rows = db.prepare(`SELECT creditor, bytes FROM cheques WHERE status = 'active' LIMIT ${MAX_ROWS}`).all() as typeof rows
  } finally {
    db.close()
  }
  return settleEncoded(cl, rows.filter((r) => equalBytes(r.creditor, self)).map((r) => new Uint8Array(r.bytes)))
}
