/** JSON views of the ledger for the control API and CLI (bigints as decimal strings). */
import { toB64, toHex } from '../util/bytes.js'
import { InvalidInputError } from '../util/errors.js'
import type { Economy } from './economy.js'

/** Parses a node id given as base64 (44 chars) or 64 hex digits. */
export function parsePeer(s: string): Uint8Array {
  const b = /^[0-9a-fA-F]{64}$/.test(s) ? Buffer.from(s, 'hex') : /^[A-Za-z0-9+/]{43}=$/.test(s) ? Buffer.from(s, 'base64') : undefined
  if (!b || b.length !== 32) throw new InvalidInputError('bad_peer', 'peer must be a node id: base64 (44 chars) or 64 hex digits')
  return new Uint8Array(b)
}

const LIMIT = 1000

export function balanceReport(eco: Economy, peer?: Uint8Array): unknown {
  const one = (p: Uint8Array): Record<string, string> => {
    const b = eco.balance(p)
    return { peer: b.peer, served: `${b.served}`, consumed: `${b.consumed}`, charged: `${b.charged}`, billed: `${b.billed}`, paidIn: `${b.paidIn}`, paidOut: `${b.paidOut}`, balance: `${b.balance}` }
  }
  if (peer) return { unit: 'micro-credits', debtLimit: `${eco.debtLimit}`, peers: [one(peer)] }
  const rows = eco.store.query<{ peer: Uint8Array }>(`SELECT peer FROM accounts ORDER BY updated DESC LIMIT ${LIMIT}`)
  const peers = rows.map((r) => one(new Uint8Array(r.peer)))
  let total = 0n
  for (const p of peers) total += BigInt(p.balance!)
  return { unit: 'micro-credits', debtLimit: `${eco.debtLimit}`, total: `${total}`, peers }
}

/** What the most recently active peers (up to the report limit) owe us, and what we owe them. */
export function balanceTotals(eco: Economy): { owedToUs: bigint; weOwe: bigint } {
  let owedToUs = 0n, weOwe = 0n
  for (const r of eco.store.query<{ peer: Uint8Array }>(`SELECT peer FROM accounts ORDER BY updated DESC LIMIT ${LIMIT}`)) {
    const b = eco.owed(new Uint8Array(r.peer))
    if (b > 0n) owedToUs += b
    else weOwe -= b
  }
  return { owedToUs, weOwe }
}

export function trustReport(eco: Economy, peer?: Uint8Array): unknown {
  const one = (p: Uint8Array): Record<string, unknown> => {
    const v = eco.trust.view(p)
    // whether authorize() would serve it without collateral, and why not: the number alone did not say
    const serving = v.blacklisted ? 'no: blacklisted' : v.effective >= eco.trustMin ? 'yes'
      : v.stake <= 0n ? 'no: no stake (collateral only)' : 'no: below min (collateral only)'
    return { peer: toB64(p), behavior: +v.behavior.toFixed(6), effective: +v.effective.toFixed(6), stakeWei: `${v.stake}`, serving, blacklisted: v.blacklisted, events: v.events, reason: v.reason || undefined }
  }
  if (peer) return { minTrust: eco.trustMin, peers: [one(peer)] }
  const rows = eco.store.query<{ peer: Uint8Array }>(`SELECT peer FROM trust ORDER BY last_ms DESC LIMIT ${LIMIT}`)
  return { minTrust: eco.trustMin, peers: rows.map((r) => one(new Uint8Array(r.peer))) }
}

export function iouReport(eco: Economy, self: Uint8Array): unknown {
  const selfHex = toHex(self)
  return {
    cheques: eco.store.listCheques().slice(0, LIMIT).map((c) => ({
      direction: toHex(c.debtor) === selfHex ? 'out' : 'in',
      debtor: toB64(c.debtor), creditor: toB64(c.creditor), amount: `${c.amount}`, serial: `${c.serial}`,
      expires: Number(c.expires), status: c.status, zeoWei: eco.pricing.toZeoWei(c.amount)?.toString(),
    })),
  }
}
