/**
 * Issue 14 part 9: a live node's databases (`dht.sqlite*`, `ledger.sqlite*`, WAL and shared-memory files included)
 * hold peers, records and the credit ledger; other local users must not read them. They are created 0600 whatever
 * the umask, and a file an older version left wider is narrowed at open.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { tempDir } from './misc-helpers.js'

test('dht.sqlite* and ledger.sqlite* of a live node are 0600 (also a 0644 file left by an older version)', async (t) => {
  const dataDir = tempDir(t)
  const old = process.umask(0o022)
  t.after(() => { process.umask(old) })
  const start = async (): Promise<void> => {
    const node = createNode(validateConfig({
      dataDir, node: { port: 0, host: '127.0.0.1', legacy: false }, ops: { httpPort: -1, logLevel: 'silent' },
      dht: { staticPuzzleBits: 0 },
    }))
    await node.start()
    // write through both stores so the WAL and shm files exist
    await node.services.get('dht')!.put(new Uint8Array(20).fill(7), new TextEncoder().encode('x'))
    node.services.get('dht')!.store.flush()
    const files = readdirSync(dataDir).filter((f) => /^(dht|ledger)\.sqlite/.test(f))
    assert.ok(files.some((f) => f.startsWith('dht.sqlite')) && files.some((f) => f.startsWith('ledger.sqlite')), files.join(', '))
    assert.ok(files.some((f) => f.endsWith('-wal')), `WAL files present: ${files.join(', ')}`)
    for (const f of files) assert.equal((statSync(join(dataDir, f)).mode & 0o777).toString(8), '600', `${f} mode`)
    await node.stop()
  }
  await start()
  // an older version's files, world-readable: narrowed when the node opens them
  for (const f of readdirSync(dataDir).filter((x) => /^(dht|ledger)\.sqlite/.test(x))) chmodSync(join(dataDir, f), 0o644)
  writeFileSync(join(dataDir, 'dht.sqlite-shm'), '', { flag: 'a', mode: 0o644 })
  chmodSync(join(dataDir, 'dht.sqlite-shm'), 0o644)
  await start()
})
