/**
 * Synchronised fresh pairs, for two endpoint-independent NATs that both let unsolicited input reach their conntrack
 * (issue 24 item 8). There, the first packet of a 4-tuple to reach a NAT before its own host sent on that tuple
 * becomes an entry to the NAT itself, and the host's packet to that peer is then source-port remapped (a clash): on
 * both sides, for every socket and every sprayed port. The only tuple that opens is one whose two first packets cross
 * in flight, so both sides must send their first packet on it within the one-way delay between the NATs.
 *
 * Each side therefore opens `pairs` fresh sockets on ports both derive from the session's probe key (nothing new on
 * the wire; a port-preserving NAT maps them to the same public ports) and sends the first check on pair j at
 * `at + (j - mid) * spacingMs` (controlling) or `at - (j - mid) * spacingMs` (controlled), where `at` is the time both
 * agreed in the signalling: the controlled side counts from the moment it sent its answer, the controlling side from
 * the moment it received it less half the round trip (as libp2p DCUtR times its simultaneous connect). The offsets
 * between the two sides' first packets then sweep `±(pairs - 1) * spacingMs` in steps of `2 * spacingMs`, so one pair
 * crosses when the sync error is inside that range and the one-way delay is over `spacingMs`.
 *
 * On a zero-delay path (veths on one machine) the window is the kernel's forwarding time (~10 us), which no
 * user-space timer on a loaded machine hits (measured: 0 of 128 pairs cross); real networks have milliseconds.
 */
import { createHmac } from 'node:crypto'

/** Fresh pairs per attempt (each side opens this many sockets). */
export const SYNC_PAIRS = 16
/** Step between two pairs' first checks on one side, ms. */
export const SYNC_SPACING_MS = 4
/** The derived ports stay above the well-known and registered-by-convention low range. */
const PORT_BASE = 20_000
const PORT_SPAN = 60_000 - PORT_BASE

export interface SyncPair {
  /** Our fresh socket's port. */
  local: number
  /** The peer's fresh socket's port (its public port under a port-preserving NAT). */
  remote: number
  /** Offset of this pair's first check from the agreed time, ms. */
  offsetMs: number
}

/** The port of side `role`'s socket j, from the session's probe key (both sides compute the same). */
export function syncPort(key: Uint8Array, role: 0 | 1, j: number): number {
  const h = createHmac('sha256', key).update(`zeone-nat-sync/${role}/${j}`).digest()
  return PORT_BASE + (h.readUInt32BE(0) % PORT_SPAN)
}

/** This side's pairs, in the order their first checks go out. */
export function syncPlan(key: Uint8Array, role: 0 | 1, pairs = SYNC_PAIRS, spacingMs = SYNC_SPACING_MS): SyncPair[] {
  const other: 0 | 1 = role === 0 ? 1 : 0
  const mid = (pairs - 1) / 2
  const sign = role === 0 ? 1 : -1
  const out: SyncPair[] = []
  for (let j = 0; j < pairs; j++) {
    out.push({ local: syncPort(key, role, j), remote: syncPort(key, other, j), offsetMs: sign * (j - mid) * spacingMs })
  }
  return out.sort((a, b) => a.offsetMs - b.offsetMs)
}

/** How long after the agreed time the last pair's first check goes out, ms. */
export function syncSpanMs(pairs = SYNC_PAIRS, spacingMs = SYNC_SPACING_MS): number {
  return ((pairs - 1) / 2) * spacingMs
}

/**
 * The agreed start on the controlling side: `receivedAt` (the answer arrived) less half the signalling round trip
 * (`sentAt` to `receivedAt`), plus the delay both sides add (`afterMs`).
 */
export function controllingSyncAt(sentAt: number, receivedAt: number, afterMs: number): number {
  return receivedAt - Math.max(0, receivedAt - sentAt) / 2 + afterMs
}
