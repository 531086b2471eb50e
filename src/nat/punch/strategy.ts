/**
 * Which ways to a direct path a classified NAT pair leaves open, and racing the ones that remain (issue 24 items 4, 6).
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
import type { Socket } from 'node:net'
import type { MappingBehavior } from '../discovery.js'
import type { Rinfo } from '../socket.js'
import type { PunchedPath } from './session.js'

export interface StrategyPlan { udp: boolean; tcp: boolean }

const dependent = (m: MappingBehavior | string): boolean => m === 'address-dependent' || m === 'address-port-dependent'
const predictable = (m: MappingBehavior | string): boolean => m === 'none' || m === 'endpoint-independent' || m === 'unknown'

/** The strategies a pair of mappings leaves open. */
export function planFor(self: MappingBehavior, remote: MappingBehavior | string): StrategyPlan {
  return { udp: !(dependent(self) && dependent(remote)), tcp: predictable(self) && predictable(remote) }
}

export type RaceResult = { path: PunchedPath } | { tcp: { socket: Socket; remote: Rinfo } }

export interface RaceInit {
  udp?: (signal: AbortSignal) => Promise<PunchedPath>
  tcp?: (signal: AbortSignal) => Promise<{ socket: Socket; remote: Rinfo }>
  /** Head start of UDP before TCP begins. */
  tcpDelayMs: number
  signal?: AbortSignal
  /** Frees a path that came up after another one won. */
  discardPath: (p: PunchedPath) => void
  setTimeout: (fn: () => void, ms: number) => { cancel(): void }
}

/** Runs the given strategies as described above; rejects with the UDP error (else TCP's) when all fail. */
export async function raceStrategies(r: RaceInit): Promise<RaceResult> {
  const ac = new AbortController()
  const onOuter = (): void => ac.abort()
  r.signal?.addEventListener('abort', onOuter, { once: true })
  let won = false
  const tries: Array<Promise<RaceResult>> = []
  let udpSettled: Promise<void> = Promise.resolve()
  if (r.udp) {
    const u = r.udp(ac.signal)
    udpSettled = u.then(() => {}, () => {})
    tries.push(u.then((path) => {
      if (won) { r.discardPath(path); throw new Error('lost the race') }
      won = true
      return { path }
    }))
  }
  if (r.tcp) {
    const tcp = r.tcp
    tries.push((async (): Promise<RaceResult> => {
      if (r.udp) {
        // wait for the head start, or less when UDP settles (fails) sooner
        await new Promise<void>((resolve) => {
          const t = r.setTimeout(resolve, r.tcpDelayMs)
          void udpSettled.then(() => { t.cancel(); resolve() })
        })
        if (won || ac.signal.aborted) throw new Error('not needed')
      }
      const got = await tcp(ac.signal)
      if (won) { got.socket.destroy(); throw new Error('lost the race') }
      won = true
      return { tcp: got }
    })())
  }
  try {
    const first = await Promise.any(tries)
    ac.abort() // the loser stops (a path it still produces is discarded above)
    return first
  } catch (err) {
    const errs = err instanceof AggregateError ? err.errors : [err]
    throw errs[0]
  } finally {
    r.signal?.removeEventListener('abort', onOuter)
  }
}
