import { AbortedError } from '../util/errors.js'
/**
 * One operation's signal: aborted when the caller's signal or the component's shutdown signal is. `detach()` (in a
 * `finally`) removes the listeners it put on both, so a long-lived shutdown signal carries none per finished
 * operation, however many ran (no setMaxListeners needed; AbortSignal.any keeps its sources' bookkeeping alive).
 */
export interface OpSignal { readonly signal: AbortSignal; detach(): void }

export function opSignal(shutdown: AbortSignal, caller?: AbortSignal): OpSignal {
  if (!caller) return { signal: shutdown, detach: () => {} }
  const ac = new AbortController()
  const sources = [shutdown, caller]
  const onAbort = (): void => { detach(); ac.abort(caller.aborted ? caller.reason : shutdown.reason) }
  const detach = (): void => { for (const s of sources) s.removeEventListener('abort', onAbort) }
  if (shutdown.aborted || caller.aborted) onAbort()
  else for (const s of sources) s.addEventListener('abort', onAbort, { once: true })
  return { signal: ac.signal, detach }
}

/**
 * `p` as one caller sees it: rejects with AbortedError when `signal` aborts first (the shared work `p` carries on for
 * its other waiters); the abort listener is removed once either settles.
 */
export function abandonable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new AbortedError())
  let onAbort = (): void => {}
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new AbortedError())
    signal.addEventListener('abort', onAbort, { once: true })
  })
  return Promise.race([p, aborted]).finally(() => signal.removeEventListener('abort', onAbort))
}
