import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ChunkScheduler, type ChunkResult } from '../../src/content/chunk-scheduler.js'

/** Drives the scheduler the way the download lanes do, round robin over providers, with a per-provider answer. */
function drive(s: ChunkScheduler<string>, answer: Record<string, (i: number) => ChunkResult>, maxSteps = 10_000): { steps: number; got: Record<string, number[]> } {
  const got: Record<string, number[]> = Object.fromEntries(Object.keys(answer).map((p) => [p, []]))
  let steps = 0
  for (; steps < maxSteps && !s.complete; steps++) {
    let handed = 0
    for (const [p, f] of Object.entries(answer)) {
      const i = s.next(p)
      if (i === undefined) continue
      handed++
      got[p]!.push(i)
      assert.equal(s.onResult(i, f(i)), true)
    }
    if (handed === 0) break
  }
  return { steps, got }
}

test('chunk scheduler: hands out missing chunks in order, each to one provider at a time, and completes', () => {
  const s = new ChunkScheduler<string>([5, 1, 3, 3, 0])
  assert.equal(s.total, 4)
  assert.deepEqual([s.next('a'), s.next('b'), s.next('a'), s.next('b')], [0, 1, 3, 5])
  assert.equal(s.next('a'), undefined)
  assert.equal(s.inFlight, 4)
  for (const i of [3, 0, 5, 1]) assert.equal(s.onResult(i, 'ok'), true)
  assert.equal(s.complete, true)
  assert.equal(s.inFlight, 0)
  assert.equal(s.remaining, 0)
})

test('chunk scheduler: failed chunks come back first, lowest index first, before new ones', () => {
  const s = new ChunkScheduler<string>([0, 1, 2, 3, 4, 5])
  const out = [s.next('a'), s.next('a'), s.next('a'), s.next('a')]
  assert.deepEqual(out, [0, 1, 2, 3])
  s.onResult(2, 'failed')
  s.onResult(0, 'failed')
  s.onResult(1, 'ok')
  assert.deepEqual([s.next('b'), s.next('b'), s.next('b')], [0, 2, 4])
})

test('chunk scheduler: duplicate results and results for chunks never handed out change nothing', () => {
  const s = new ChunkScheduler<string>([0, 1, 2])
  assert.equal(s.onResult(1, 'ok'), false, 'never handed out')
  assert.equal(s.onResult(7, 'ok'), false, 'not wanted')
  assert.equal(s.onResult(-1, 'bad'), false)
  assert.equal(s.onResult(Number.NaN, 'ok'), false)
  assert.equal(s.done, 0)
  const i = s.next('a')!
  assert.equal(s.onResult(i, 'ok'), true)
  assert.equal(s.onResult(i, 'ok'), false, 'duplicate ok')
  assert.equal(s.onResult(i, 'failed'), false, 'a failure after ok must not requeue it')
  assert.equal(s.done, 1)
  const j = s.next('a')!
  assert.equal(s.onResult(j, 'failed'), true)
  assert.equal(s.onResult(j, 'failed'), false, 'duplicate failure must not queue the chunk twice')
  assert.deepEqual([s.next('a'), s.next('a'), s.next('a')], [j, 2, undefined])
  // bogus constructor input is dropped, not scheduled
  assert.equal(new ChunkScheduler([-1, 1.5, Number.NaN, 2 ** 60, 4]).total, 1)
})

test('chunk scheduler: a provider that always fails neither loses chunks nor starves the good one', () => {
  const s = new ChunkScheduler<string>(Array.from({ length: 50 }, (_, i) => i))
  const { got } = drive(s, { flaky: () => 'failed', good: () => 'ok' })
  assert.equal(s.complete, true)
  assert.equal(s.done, 50)
  assert.equal(got.good!.length, 50, 'every chunk ended with the good provider')
  // with only the failing provider nothing is lost: every chunk stays wanted and is offered again
  const alone = new ChunkScheduler<string>([0, 1, 2])
  drive(alone, { flaky: () => 'failed' }, 30)
  assert.equal(alone.complete, false)
  assert.equal(alone.remaining, 3)
  assert.equal(alone.inFlight, 0)
  assert.deepEqual([alone.next('other'), alone.next('other'), alone.next('other')], [0, 1, 2])
})

test('chunk scheduler: a provider is never asked again for a chunk it sent bad data for; all bad ends without a loop', () => {
  const s = new ChunkScheduler<string>([0, 1, 2])
  assert.equal(s.next('liar'), 0)
  s.onResult(0, 'bad')
  assert.equal(s.next('liar'), 1, 'chunk 0 is not handed back to the provider that lied about it')
  assert.equal(s.next('honest'), 0, 'another provider gets it')
  s.onResult(0, 'failed') // the honest provider timed out on it: queued again, still refused to the liar
  s.onResult(1, 'ok')
  assert.equal(s.next('liar'), 2)
  assert.equal(s.next('liar'), undefined, 'only chunk 0 is left and the liar may not have it')
  assert.equal(s.next('honest'), 0)
  s.onResult(0, 'ok')
  s.onResult(2, 'ok')
  assert.equal(s.complete, true)
  // every provider lies: each chunk is refused by each provider once, then nothing is handed out and nothing is in flight
  const all = new ChunkScheduler<string>([0, 1, 2])
  const r = drive(all, { a: () => 'bad', b: () => 'bad' })
  assert.equal(all.complete, false)
  assert.equal(all.inFlight, 0)
  assert.equal(all.next('a'), undefined)
  assert.equal(all.next('b'), undefined)
  assert.equal(r.got.a!.length + r.got.b!.length, 6, 'each chunk tried once per provider')
  // a third provider still gets them
  assert.deepEqual([all.next('c'), all.next('c'), all.next('c')], [0, 1, 2])
})

test('chunk scheduler: nothing wanted is complete at once', () => {
  const s = new ChunkScheduler<string>([])
  assert.equal(s.complete, true)
  assert.equal(s.next('a'), undefined)
})
