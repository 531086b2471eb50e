/** The record store suite against the in-memory and the SQLite store; the usage meter suite against the economy. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryRecordStore } from '../../src/dht/store.js'
import { SqliteRecordStore } from '../../src/dht/store-sqlite.js'
import { config, idFrom, ManualClock, makeEconomy } from '../economy/helpers.js'
import type { TestContext } from './link-provider.js'
import { recordStoreSuite } from './record-store.js'
import { usageMeterSuite } from './usage-meter.js'

const dir = (t: TestContext, prefix: string): string => {
  const d = mkdtempSync(join(tmpdir(), prefix))
  t.after(() => rmSync(d, { recursive: true, force: true }))
  return d
}

recordStoreSuite('memory', (_t, init) => ({ store: new MemoryRecordStore(init) }), { persistent: false })

recordStoreSuite('sqlite', (t, init) => {
  const file = join(dir(t, 'zeone-store-'), 'dht.sqlite')
  let store = new SqliteRecordStore(file, init)
  t.after(() => store.close())
  return {
    store,
    reopen: () => { store.close(); store = new SqliteRecordStore(file, init); return store },
  }
})

let seed = 40
for (const [name, debtLimit] of [['economy', 100_000n], ['economy, ledger disabled', undefined]] as const) {
  usageMeterSuite(name, (t) => {
    const clock = new ManualClock()
    const cfg = config(debtLimit === undefined ? { enabled: false } : { debtLimit: Number(debtLimit) })
    const eco = makeEconomy(join(dir(t, 'zeone-meter-'), 'ledger.sqlite'), idFrom(seed++), clock, cfg)
    t.after(() => eco.close())
    return { meter: eco, service: 'vpn', debtLimit }
  })
}
