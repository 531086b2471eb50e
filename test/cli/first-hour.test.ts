// Issue 18: user mistakes name the fix; the CLI finds a node's HTTP API through <dataDir>/ports.json.
import { after, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { main } from '../../src/cli/main.js'
import { PORTS_FILE, runningHttpUrl, writePortsFile } from '../../src/cli/ports-file.js'

const dir = mkdtempSync(join(tmpdir(), 'zeone-first-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function sink(): { w: Writable; text: () => string } {
  let s = ''
  return { w: new Writable({ write(c, _e, cb) { s += String(c); cb() } }), text: () => s }
}

it('zeone infer without a node names the address and how to start one', async () => {
  // a port nobody listens on: bind one, note it, close it
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const port = (srv.address() as { port: number }).port
  await new Promise<void>((r) => srv.close(() => r()))
  const out = sink(), err = sink()
  const code = await main(['infer', '--model', 'm', 'hello', '--url', `http://127.0.0.1:${port}`, '--token', 't'], { stdout: out.w, stderr: err.w })
  assert.equal(code, 1)
  assert.match(err.text(), new RegExp(`no node answers at http://127.0.0.1:${port}`))
  assert.match(err.text(), /zeone start/)
  assert.doesNotMatch(err.text(), /internal|^fetch failed/)
})

it('ports.json: the chosen HTTP port of a live node is found; a dead pid or garbage is ignored', () => {
  writePortsFile(dir, { p2p: { host: '0.0.0.0', port: 40000 }, http: { host: '127.0.0.1', port: 40001 } })
  assert.equal(runningHttpUrl(dir), 'http://127.0.0.1:40001')
  writeFileSync(join(dir, PORTS_FILE), JSON.stringify({ http: { host: '127.0.0.1', port: 40001 }, pid: 2 ** 22 + 12345 }))
  assert.equal(runningHttpUrl(dir), undefined)
  writeFileSync(join(dir, PORTS_FILE), '{"http": {"host": "127.0.0.1", "port": 99999}, "pid": 1}')
  assert.equal(runningHttpUrl(dir), undefined)
  writeFileSync(join(dir, PORTS_FILE), 'not json')
  assert.equal(runningHttpUrl(dir), undefined)
})
