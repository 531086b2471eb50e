/**
 * The connect ladder as data (issue 23 item 1): an ordered list of steps (UDP punch, TCP simultaneous open, relay
 * node, TURN), each asked whether it applies when its turn comes (the classified NAT pair rules some out) and run
 * until one produces a link. Consecutive steps that share a `race` key run together: the first starts at once, a
 * later one `delayMs` after it (or as soon as every earlier one of the group failed), the first up wins, the others
 * are aborted and a result they still produce is discarded. Every step's signal is the caller's (the operation's,
 * which already carries the service's shutdown) and is detached when the ladder returns.
 */
export interface LadderStep<T, R = T> {
  readonly name: string
  readonly race?: string
  /** In a race: head start of the steps before this one. */
  readonly delayMs?: number
  /** False: ruled out, not run and not listed in `tried`. A throw counts as the step's failure. */
  applies(): boolean | Promise<boolean>
  run(signal: AbortSignal): Promise<R>
  /** The winner's result made into what the ladder returns (a path adopted as a link); a throw = the step failed. */
  use(result: R): Promise<T>
  /** Frees a result that came in after another step of its race had won. */
  discard?(result: R): void
}

/** A step of any intermediate type (each has its own: a punched path, a TCP socket, a relay circuit). */
export type AnyStep<T> = LadderStep<T, any>

export interface LadderOptions {
  signal: AbortSignal
  /** Filled with the names of the steps that ran, in order of start. */
  tried: string[]
  setTimeout(fn: () => void, ms: number): { cancel(): void }
  /** Every failed step (logged by the caller); the ladder goes on to the next. */
  onFailure?(name: string, err: unknown): void
  /** A failure that counts as the first one (what the caller declined before the ladder, e.g. relay-only). */
  seed?: unknown
}

/** Resolves with the first step's result that succeeds; rejects with the first failure when none does. */
export async function runLadder<T>(steps: ReadonlyArray<AnyStep<T>>, o: LadderOptions): Promise<T> {
  const errors: unknown[] = o.seed === undefined ? [] : [o.seed]
  const fail = (name: string, err: unknown): void => { errors.push(err); o.onFailure?.(name, err) }
  for (let i = 0; i < steps.length;) {
    const key = steps[i]!.race
    let j = i + 1
    while (key !== undefined && j < steps.length && steps[j]!.race === key) j++
    const group: Array<AnyStep<T>> = []
    for (const s of steps.slice(i, j)) {
      if (o.signal.aborted) break
      try { if (await s.applies()) group.push(s) } catch (err) { fail(s.name, err) }
    }
    i = j
    if (o.signal.aborted) break
    if (group.length === 0) continue
    for (const s of group) o.tried.push(s.name)
    let won: { step: AnyStep<T>; result: unknown }
    try {
      won = await race(group, o)
    } catch (err) {
      const all = err instanceof AggregateError ? err.errors : [err]
      all.forEach((e, k) => fail(group[k]?.name ?? '?', e))
      continue
    }
    try { return await won.step.use(won.result) } catch (err) { fail(won.step.name, err) }
  }
  throw errors[0] ?? o.signal.reason ?? new Error('no connect step applied')
}

/** One group: see the module comment. A group of one is just that step under the ladder's signal. */
async function race<T>(group: Array<AnyStep<T>>, o: LadderOptions): Promise<{ step: AnyStep<T>; result: unknown }> {
  if (group.length === 1) return { step: group[0]!, result: await group[0]!.run(o.signal) }
  const ac = new AbortController()
  const onOuter = (): void => ac.abort(o.signal.reason)
  o.signal.addEventListener('abort', onOuter, { once: true })
  let won = false
  const settled: Array<Promise<void>> = []
  const start = async (s: AnyStep<T>, earlier: Promise<unknown> | undefined): Promise<{ step: AnyStep<T>; result: unknown }> => {
    if (earlier) {
      // the head start, or less when every earlier step already settled (failed)
      await new Promise<void>((resolve) => {
        const t = o.setTimeout(resolve, s.delayMs ?? 0)
        void earlier.then(() => { t.cancel(); resolve() })
      })
      if (won || ac.signal.aborted) throw new Error(`${s.name}: not needed`)
    }
    const got = await s.run(ac.signal)
    if (won) { s.discard?.(got); throw new Error(`${s.name}: lost the race`) }
    won = true
    return { step: s, result: got }
  }
  const tries: Array<Promise<{ step: AnyStep<T>; result: unknown }>> = []
  for (const s of group) {
    const t = start(s, settled.length > 0 ? Promise.all(settled) : undefined)
    tries.push(t)
    settled.push(t.then(() => {}, () => {}))
  }
  try {
    const first = await Promise.any(tries)
    ac.abort() // the losers stop (a result they still produce is discarded above)
    return first
  } finally {
    o.signal.removeEventListener('abort', onOuter)
  }
}
