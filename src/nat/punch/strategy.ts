/**
 * Which ways to a direct path a classified NAT pair leaves open (issue 24 items 4, 6); the connect ladder
 * (../ladder.ts) skips what is ruled out and races the rest.
 *
 * - UDP punching needs at least one side whose mapping does not depend on the destination: two address(-port)-
 *   dependent mappings give each probe a fresh, unpredictable port on both sides (symmetric<->symmetric: 0 of N in
 *   the lab, and HyperDHT does not try it either).
 * - TCP simultaneous open connects to the peer's *predicted* port (its local port, kept by a port-preserving NAT):
 *   any destination-dependent mapping on either side breaks the prediction, so it needs both sides 'none' or
 *   endpoint-independent.
 * - 'unknown' rules nothing out.
 * What is ruled out is skipped (the caller goes straight to the relay or TURN); what remains runs in parallel: TCP
 * starts `tcpDelayMs` after UDP (so a UDX path, which beats TCP under loss, wins where both work) or at once when
 * UDP fails sooner, and the first path up cancels the other.
 */
import type { MappingBehavior } from '../discovery.js'

export interface StrategyPlan { udp: boolean; tcp: boolean }

const dependent = (m: MappingBehavior | string): boolean => m === 'address-dependent' || m === 'address-port-dependent'
const predictable = (m: MappingBehavior | string): boolean => m === 'none' || m === 'endpoint-independent' || m === 'unknown'

/** The strategies a pair of mappings leaves open. */
export function planFor(self: MappingBehavior, remote: MappingBehavior | string): StrategyPlan {
  return { udp: !(dependent(self) && dependent(remote)), tcp: predictable(self) && predictable(remote) }
}
