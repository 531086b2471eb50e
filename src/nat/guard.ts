/**
 * Containment for callbacks the NAT layer hands to timers and sockets. A throw there has no caller to catch it and
 * would end the process (Node's default for an uncaught exception); instead it is reported to an error sink (the
 * service logs it and counts it in zeone_nat_errors_total{op}) and the caller ends only the operation concerned.
 */
import type { Clock } from '../interfaces/clock.js'

/** Receives an error thrown by a callback; `op` names where (e.g. 'timer', 'socket.message', 'punch.send'). */
export type NatErrorSink = (op: string, err: unknown) => void

/**
 * Sink for sockets and clocks no service configured (a TURN bridge's proxy socket, a test's socket): counts, so an
 * error is never lost without a trace, and keeps the process alive.
 */
export const unownedErrorSink: NatErrorSink = () => {}

/** Runs `fn`; a throw goes to `sink` (never further) and `onError` (to end the operation). */
export function contain(op: string, sink: NatErrorSink, fn: () => void, onError?: (err: unknown) => void): void {
  try {
    fn()
  } catch (err) {
    try { sink(op, err) } catch { /* a sink that throws must not undo the containment */ }
    if (onError) contain(`${op}.onError`, sink, () => onError(err))
  }
}

/** A clock whose timer callbacks cannot throw past it (reported to `sink` as op 'timer'). */
export function guardedClock(clock: Clock, sink: NatErrorSink): Clock {
  return {
    now: () => clock.now(),
    setTimeout: (cb, ms) => clock.setTimeout(() => contain('timer', sink, cb), ms),
  }
}
