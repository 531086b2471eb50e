// Issue 18 item 2: several nodes on one machine with only --data-dir apart; a clash on a port the operator set names
// the listener and the flag. Real `zeone start` processes.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { choosePorts, derivedPorts, explicitPorts } from '../../src/cli/port-choice.js'
import { loadConfig } from '../../src/ops/config.js'

const fromSource = import.meta.url.endsWith('.ts')
const fixture = fileURLToPath(new URL(`./fixtures/zeone-cli.${fromSource ? 'ts' : 'js'}`, import.meta.url))
const nodeArgs = fromSource ? ['--import', 'tsx', fixture] : [fixture]
const dirs: string[] = []
const children = new Set<ChildProcess>()
const servers: Server[] = []
const tmp = (): string => { const d = mkdtempSync(join(tmpdir(), 'zeone-ports-')); dirs.push(d); return d }
after(() => {
  for (const c of children) c.kill('SIGKILL')
  for (const s of servers) s.close()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})
const env = (): NodeJS.ProcessEnv => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ZEONE_')))

interface Started { proc: ChildProcess; p2p: number; http: number; out: string }
/** `zeone start ARGS`; resolves with the banner once it is printed, or with the exit code and stderr if it ends. */
function start(args: string[]): Promise<Started | { code: number | null; err: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [...nodeArgs, 'start', ...args], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(proc)
    let out = ''
    let err = ''
    proc.stderr!.on('data', (b: Buffer) => { err += b.toString() })
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString()
      const m = /listening: [^\n]*:(\d+)\nhttp: [^\n]*:(\d+)\n[\s\S]*legacy: [^\n]*\n/.exec(out)
      if (m) setTimeout(() => resolve({ proc, p2p: Number(m[1]), http: Number(m[2]), out }), 50) // the note lines follow
    })
    proc.on('close', (code) => { children.delete(proc); resolve({ code, err }) })
  })
}
const stop = async (s: Started): Promise<void> => {
  const closed = new Promise((r) => s.proc.once('close', r))
  s.proc.kill('SIGTERM')
  await closed
}
async function hold(host: string): Promise<number> {
  const s = createServer()
  servers.push(s)
  await new Promise<void>((r) => s.listen(0, host, r))
  return (s.address() as { port: number }).port
}

describe('ports (issue 18 item 2)', () => {
  it('two nodes started with only a different --data-dir both run, on different ports recorded in ports.json', async () => {
    const [a, b] = [tmp(), tmp()]
    const [na, nb] = await Promise.all([start(['--data-dir', a]), start(['--data-dir', b])])
    assert.ok('proc' in na, `node A did not start: ${JSON.stringify(na)}`)
    assert.ok('proc' in nb, `node B did not start: ${JSON.stringify(nb)}`)
    try {
      assert.notEqual(na.p2p, nb.p2p)
      assert.notEqual(na.http, nb.http)
      for (const [dir, n] of [[a, na], [b, nb]] as const) {
        const ports = JSON.parse(readFileSync(join(dir, 'ports.json'), 'utf8')) as { p2p: { host: string; port: number }; http: { port: number } }
        assert.equal(ports.p2p.port, n.p2p)
        assert.equal(ports.http.port, n.http)
        // the default host is every interface, and the banner says so
        assert.equal(ports.p2p.host, '0.0.0.0')
        assert.match(n.out, new RegExp(`P2P port ${n.p2p} listens on all interfaces`))
      }
      // a --data-dir node leaves the defaults to the main node and says which ports it took and why
      for (const n of [na, nb]) {
        assert.notEqual(n.p2p, 8468)
        assert.notEqual(n.http, 9468)
        assert.match(n.out, /note: P2P port \d+ instead of 8468: --data-dir names a second node/)
        assert.match(n.out, /note: HTTP API port \d+ instead of 9468: --data-dir names a second node/)
      }
    } finally { await Promise.all([stop(na), stop(nb)]) }
    // a restart keeps the P2P port the data dir had
    const again = await start(['--data-dir', a])
    assert.ok('proc' in again, JSON.stringify(again))
    try { assert.equal(again.p2p, na.p2p); assert.equal(again.http, na.http) } finally { await stop(again) }
  })

  it('a port the operator set that is taken fails naming the listener and the flag', async () => {
    const busy = await hold('0.0.0.0')
    const r = await start(['--data-dir', tmp(), '--port', String(busy)])
    assert.ok(!('proc' in r), 'node started on a taken --port')
    assert.notEqual(r.code, 0)
    assert.match(r.err, new RegExp(`P2P listener could not listen on 0\\.0\\.0\\.0:${busy}: the address is already in use`))
    assert.match(r.err, /--port N/)
    const busyHttp = await hold('127.0.0.1')
    const h = await start(['--data-dir', tmp(), '--port', '0', '--http-port', String(busyHttp)])
    assert.ok(!('proc' in h), 'node started on a taken --http-port')
    assert.match(h.err, new RegExp(`HTTP API could not listen on 127\\.0\\.0\\.1:${busyHttp}`))
    assert.match(h.err, /--http-port N/)
  })

  it('choosePorts: --data-dir prefers derived ports; a default port that is taken moves; one that was set stays', async () => {
    const dir = tmp()
    const cfgFor = (port: number, httpPort: number) => loadConfig({ flags: { dataDir: dir, node: { port, host: '127.0.0.1' }, ops: { httpPort } } })
    const p2pBusy = await hold('127.0.0.1')
    const httpBusy = await hold('127.0.0.1')
    const d = derivedPorts(dir)
    const own = await choosePorts(cfgFor(p2pBusy, httpBusy), { p2p: false, http: false, dataDirFlag: true })
    assert.deepEqual(own.flags, { node: { port: d.p2p }, ops: { httpPort: d.http } })
    const moved = await choosePorts(cfgFor(p2pBusy, httpBusy), { p2p: false, http: false, dataDirFlag: false })
    assert.deepEqual(moved.flags, { node: { port: 0 }, ops: { httpPort: 0 } })
    assert.match(moved.notes.join('\n'), new RegExp(`P2P port above instead of ${p2pBusy}: ${p2pBusy} is taken`))
    const kept = await choosePorts(cfgFor(p2pBusy, httpBusy), { p2p: true, http: true, dataDirFlag: true })
    assert.deepEqual(kept.flags, {})
    assert.deepEqual(kept.movable, { p2p: false, http: false })
    assert.deepEqual(explicitPorts(undefined, { ZEONE_NODE__PORT: '9000' }, {}), { p2p: true, http: false, dataDirFlag: false })
    assert.deepEqual(explicitPorts(undefined, {}, { dataDir: 'x', ops: { httpPort: 1 } }), { p2p: false, http: true, dataDirFlag: true })
  })
})
