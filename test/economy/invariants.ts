/** Ledger invariants checked after crashes: every account equals the sum of its log rows. */
import Database from 'better-sqlite3'

export interface InvariantReport { accounts: number; txRows: number; problems: string[] }

export function checkLedgerFile(file: string): InvariantReport {
  const db = new Database(file, { readonly: true })
  db.defaultSafeIntegers(true)
  try {
    const problems: string[] = []
    const integrity = db.pragma('integrity_check', { simple: true })
    if (integrity !== 'ok') problems.push(`integrity_check: ${String(integrity)}`)
    const sums = new Map<string, Record<string, bigint>>()
    const rows = db.prepare('SELECT hex(peer) AS p, kind, SUM(amount) AS s, COUNT(*) AS n FROM txlog GROUP BY p, kind').all() as Array<{ p: string; kind: string; s: bigint; n: bigint }>
    let txRows = 0
    for (const r of rows) {
      const m = sums.get(r.p) ?? {}
      m[r.kind] = r.s
      sums.set(r.p, m)
      txRows += Number(r.n)
    }
    const accts = db.prepare('SELECT hex(peer) AS p, * FROM accounts').all() as Array<Record<string, bigint> & { p: string }>
    for (const a of accts) {
      const m = sums.get(a.p) ?? {}
      const z = (k: string): bigint => m[k] ?? 0n
      if (a.served !== z('served') + z('adjust')) problems.push(`${a.p}: served ${a.served} != log ${z('served') + z('adjust')}`)
      if (a.consumed !== z('consumed')) problems.push(`${a.p}: consumed ${a.consumed} != log ${z('consumed')}`)
      if (a.charged !== z('charged')) problems.push(`${a.p}: charged ${a.charged} != log ${z('charged')}`)
      if (a.billed !== z('billed')) problems.push(`${a.p}: billed ${a.billed} != log ${z('billed')}`)
      // our own estimate: the metered billed rows only (provider statements carry a note)
      const est = (db.prepare("SELECT COALESCE(SUM(amount), 0) AS s FROM txlog WHERE peer = unhex(?) AND kind = 'billed' AND note = ''").get(a.p) as { s: bigint }).s
      if (a.billed_est !== est) problems.push(`${a.p}: billed_est ${a.billed_est} != metered ${est}`)
      if (a.paid_in !== z('cheque_in')) problems.push(`${a.p}: paid_in ${a.paid_in} != log ${z('cheque_in')}`)
      if (a.paid_out !== z('cheque_out')) problems.push(`${a.p}: paid_out ${a.paid_out} != log ${z('cheque_out')}`)
      const ch = db.prepare('SELECT amount, serial FROM cheques WHERE creditor = unhex(?)').get(a.p) as { amount: bigint; serial: bigint } | undefined
      if (ch && (ch.amount !== a.paid_out || ch.serial !== a.out_serial)) problems.push(`${a.p}: latest cheque ${ch.serial}/${ch.amount} != account ${a.out_serial}/${a.paid_out}`)
      sums.delete(a.p)
    }
    for (const p of sums.keys()) problems.push(`${p}: log rows without an account`)
    return { accounts: accts.length, txRows, problems }
  } finally { db.close() }
}
