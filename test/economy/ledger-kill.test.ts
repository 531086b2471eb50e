/** kill -9 at random points while a child writes the ledger: every reopen finds a consistent ledger. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LedgerStore } from '../../src/economy/ledger-store.js'
import { tempDir } from './helpers.js'
import { checkLedgerFile } from './invariants.js'

const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js'
const fixture = fileURLToPath(new URL(`./fixtures/ledger-writer${ext}`, import.meta.url))
const ROUNDS = 12

function runAndKill(file: string, delayMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, fixture, file], { stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    let timer: NodeJS.Timeout | undefined
    child.stderr.on('data', (d) => { err += String(d) })
    child.stdout.on('data', (d) => {
      if (String(d).includes('ready') && !timer) timer = setTimeout(() => child.kill('SIGKILL'), delayMs)
    })
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer)
      if (signal === 'SIGKILL') resolve()
      else reject(new Error(`writer exited early (code ${code}): ${err.slice(0, 2000)}`))
    })
  })
}

test(`ledger stays consistent through ${ROUNDS} SIGKILLs at random points`, { timeout: 120_000 }, async () => {
  const { dir, cleanup } = tempDir()
  try {
    const file = join(dir, 'ledger.sqlite')
    let lastRows = 0
    let grew = 0
    for (let r = 0; r < ROUNDS; r++) {
      await runAndKill(file, 30 + Math.floor(Math.random() * 250))
      const rep = checkLedgerFile(file)
      assert.deepEqual(rep.problems, [], `round ${r}`)
      assert.ok(rep.txRows >= lastRows, 'committed history never shrinks')
      if (rep.txRows > lastRows) grew++
      lastRows = rep.txRows
    }
    assert.ok(grew > 0, 'the writer committed work between kills')
    const s = LedgerStore.open(file)
    assert.equal(s.recoveries, BigInt(ROUNDS), 'every kill was detected as an unclean shutdown')
    s.close()
  } finally { cleanup() }
})
