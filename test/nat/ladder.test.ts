/**
 * The connect ladder (src/nat/ladder.ts) on its own, with an injected timer: which steps run and in what order, the
 * race of a group (head start, early start when the earlier step failed, the loser's late result discarded), the
 * first failure as the error, a failing `use` falling through to the next step, and the abort.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runLadder, type AnyStep } from '../../src/nat/ladder.js'

/** Timers that fire only when the test says so. */
function manualTimers(): { setTimeout: (fn: () => void, ms: number) => { cancel(): void }; fire: () => void; pending: () => number[] } {
  const t = new Set<{ fn: () => void; ms: number }>()
  return {
    setTimeout: (fn, ms) => { const e = { fn, ms }; t.add(e); return { cancel: () => { t.delete(e) } } },
    fire: () => { for (const e of [...t]) { t.delete(e); e.fn() } },
    pending: () => [...t].map((e) => e.ms),
  }
}

/** A step whose run the test settles by hand. */
function step(name: string, o: { race?: string; delayMs?: number; applies?: boolean | (() => boolean); log: string[] }) {
  let resolve!: (v: string) => void
  let reject!: (e: Error) => void
  let started = false
  const discarded: string[] = []
  const s: AnyStep<string> = {
    name, ...(o.race ? { race: o.race } : {}), ...(o.delayMs !== undefined ? { delayMs: o.delayMs } : {}),
    applies: () => (typeof o.applies === 'function' ? o.applies() : o.applies ?? true),
    run: (signal) => {
      started = true
      o.log.push(`run ${name}`)
      return new Promise<string>((res, rej) => {
        resolve = res; reject = rej
        signal.addEventListener('abort', () => o.log.push(`abort ${name}`), { once: true })
      })
    },
    use: async (r: string) => { if (r === 'unusable') throw new Error(`${name}: unusable`); return `${name}:${r}` },
    discard: (r: string) => { discarded.push(r) },
  }
  return { s, resolve: (v: string) => resolve(v), reject: (e: Error) => reject(e), started: () => started, discarded }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r))

test('ladder: ruled-out steps are skipped (not in tried); the later step of a race waits for its head start; the loser is aborted', async () => {
  const log: string[] = []
  const timers = manualTimers()
  const turn = step('turn', { applies: false, log })
  const udp = step('udp', { race: 'direct', log })
  const tcp = step('tcp', { race: 'direct', delayMs: 400, log })
  const relay = step('relay', { log })
  const tried: string[] = []
  const p = runLadder([turn.s, udp.s, tcp.s, relay.s], { signal: new AbortController().signal, tried, setTimeout: timers.setTimeout })
  await tick(); await tick()
  assert.deepEqual(tried, ['udp', 'tcp'])
  assert.equal(udp.started(), true)
  assert.equal(tcp.started(), false, 'tcp waits for its head start')
  assert.deepEqual(timers.pending(), [400])
  timers.fire()
  await tick()
  assert.equal(tcp.started(), true)
  tcp.resolve('path')
  assert.equal(await p, 'tcp:path')
  assert.ok(log.includes('abort udp'), 'the loser is aborted')
  udp.resolve('late')
  await tick()
  assert.deepEqual(udp.discarded, ['late'], 'a result that comes in after the race was won is discarded')
  assert.equal(relay.started(), false)
})

test('ladder: an earlier failure starts the next racer at once; all failing falls to the next step; the first failure is the error', async () => {
  const log: string[] = []
  const timers = manualTimers()
  const udp = step('udp', { race: 'direct', log })
  const tcp = step('tcp', { race: 'direct', delayMs: 10_000, log })
  const relay = step('relay', { log })
  const failures: string[] = []
  const tried: string[] = []
  const p = runLadder([udp.s, tcp.s, relay.s], { signal: new AbortController().signal, tried, setTimeout: timers.setTimeout, onFailure: (n) => failures.push(n) })
  await tick()
  udp.reject(new Error('udp failed'))
  await tick(); await tick()
  assert.equal(tcp.started(), true, 'no waiting out the head start once udp failed')
  assert.deepEqual(timers.pending(), [], 'its timer was cancelled')
  tcp.reject(new Error('tcp failed'))
  await tick(); await tick()
  assert.equal(relay.started(), true)
  relay.reject(new Error('relay failed'))
  await assert.rejects(p, /udp failed/)
  assert.deepEqual(tried, ['udp', 'tcp', 'relay'])
  assert.deepEqual(failures, ['udp', 'tcp', 'relay'])
})

test('ladder: a step whose result cannot be used falls through; a throwing applies() counts as a failure; a seed is the first error', async () => {
  const log: string[] = []
  const timers = manualTimers()
  const a = step('a', { log, applies: () => { throw new Error('a: cannot decide') } })
  const b = step('b', { log })
  const c = step('c', { log })
  const p = runLadder([a.s, b.s, c.s], { signal: new AbortController().signal, tried: [], setTimeout: timers.setTimeout, seed: new Error('declined') })
  await tick()
  b.resolve('unusable')
  await tick(); await tick()
  assert.equal(c.started(), true, 'b produced a result its use() refused: the ladder went on')
  c.reject(new Error('c failed'))
  await assert.rejects(p, /declined/)
})

test('ladder: an abort stops the running step and no later one starts', async () => {
  const log: string[] = []
  const ac = new AbortController()
  const a = step('a', { log })
  const b = step('b', { log })
  const p = runLadder([a.s, b.s], { signal: ac.signal, tried: [], setTimeout: manualTimers().setTimeout })
  await tick()
  ac.abort(new Error('stopped'))
  a.reject(new Error('a aborted'))
  await assert.rejects(p, /a aborted/)
  assert.equal(b.started(), false)
})
