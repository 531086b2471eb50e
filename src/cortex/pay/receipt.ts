/**
 * Token receipts (CORTEX_RECEIPT, docs/protocol/cortex.md §Pay per token): the client of a remote generation signs,
 * for every token that arrived, "I received n tokens of generation gid from server S at price p per token". The
 * server meters only what a receipt covers and stops streaming when more than `window` tokens are unreceipted, so
 * a client that under-reports keeps at most `window` tokens unpaid, and the server holds a signed cumulative count
 * it can show in a dispute. Receipts are cumulative: the latest one supersedes all earlier ones.
 */
import { decode, encode } from '../../wire/cbor.js'
import { verify, SIGNATURE_BYTES } from '../../crypto/sign.js'
import { InvalidInputError } from '../../util/errors.js'
import { PROTOCOL_VERSION, SID_BYTES } from '../messages.js'

const DOMAIN = new TextEncoder().encode('ZEONE-CORTEX-RECEIPT-v1')
/** Largest token count or price a receipt carries (fits the ledger's int64). */
const MAX_U63 = (1n << 63n) - 1n

export interface Receipt { gid: Uint8Array; n: number; price: bigint; sig: Uint8Array }
export interface ReceiptSigner { publicKey: Uint8Array; sign(...parts: Uint8Array[]): Uint8Array }

function u64(x: bigint): Uint8Array {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, x)
  return b
}

/** The signed bytes: domain || server key || client key || gid || n (u64) || price (u64). */
export function receiptMessage(server: Uint8Array, client: Uint8Array, gid: Uint8Array, n: number, price: bigint): Uint8Array[] {
  return [DOMAIN, server, client, gid, u64(BigInt(n)), u64(price)]
}

export function signReceipt(signer: ReceiptSigner, server: Uint8Array, gid: Uint8Array, n: number, price: bigint): Receipt {
  return { gid, n, price, sig: signer.sign(...receiptMessage(server, signer.publicKey, gid, n, price)) }
}

export function verifyReceipt(r: Receipt, server: Uint8Array, client: Uint8Array): boolean {
  return verify(client, r.sig, ...receiptMessage(server, client, r.gid, r.n, r.price))
}

export const encodeReceipt = (r: Receipt): Uint8Array => encode({ v: PROTOCOL_VERSION, gid: r.gid, n: r.n, price: r.price, sig: r.sig })

export function decodeReceipt(b: Uint8Array): Receipt {
  const bad = (m: string): never => { throw new InvalidInputError('bad_message', m) }
  if (b.byteLength > 256) bad('receipt too large')
  const o = decode(b, { maxDepth: 1, maxItems: 8, maxStringBytes: 128 }) as Record<string, unknown>
  if (!o || typeof o !== 'object' || Array.isArray(o) || o instanceof Uint8Array || o instanceof Map) bad('receipt is not a map')
  if (o.v !== PROTOCOL_VERSION) bad('unsupported receipt version')
  const gid = o.gid, sig = o.sig, n = o.n, price = o.price
  if (!(gid instanceof Uint8Array) || gid.byteLength !== SID_BYTES) bad('gid must be 16 bytes')
  if (!(sig instanceof Uint8Array) || sig.byteLength !== SIGNATURE_BYTES) bad('sig must be 64 bytes')
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) bad('n must be an unsigned 32-bit integer')
  const p = typeof price === 'number' && Number.isInteger(price) && price >= 0 ? BigInt(price) : typeof price === 'bigint' && price >= 0n ? price : bad('price must be an unsigned integer')
  if (p > MAX_U63) bad('price too large')
  return { gid: gid as Uint8Array, n: n as number, price: p, sig: sig as Uint8Array }
}
