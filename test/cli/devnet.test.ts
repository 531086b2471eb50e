// `zeone devnet`: one command starts a chain with the contracts and N staked, bound nodes; node 0's dashboard sees
// the others and its stake; SIGINT stops it all with exit 0 and nothing left running. Waits on the CLI's output.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseEther } from 'viem'
import type { Snapshot } from '../../src/ops/dashboard/snapshot.js'

const fromSource = import.meta.url.endsWith('.ts')
const fixture = fileURLToPath(new URL(`./fixtures/zeone-cli.${fromSource ? 'ts' : 'js'}`, import.meta.url))
const nodeArgs = fromSource ? ['--import', 'tsx', fixture] : [fixture]

/** Pids whose parent is `pid` (read from /proc), so we can check none outlives the CLI. */
function childrenOf(pid: number): number[] {
  const out: number[] = []
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(e))
    } catch { /* gone meanwhile */ }
  }
  return out
}

const refused = (port: number): Promise<boolean> => new Promise((res) => {
  const s = connect(port, '127.0.0.1')
  s.once('connect', () => { s.destroy(); res(false) })
  s.once('error', () => res(true))
})

test('zeone devnet --nodes 3: ready line, dashboard of node 0 sees the other two and its stake, SIGINT exits 0 leaving nothing', { timeout: 300_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'zeone-devnet-cli-'))
  const env = { ...process.env }
  for (const k of Object.keys(env)) if (k.startsWith('ZEONE_')) delete env[k]
  const child = spawn(process.execPath, [...nodeArgs, 'devnet', '--nodes', '3', '--dir', dir], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }) })
  let stdout = '', stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)))
  await new Promise<void>((res, rej) => {
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); if (/^devnet ready/m.test(stdout)) res() })
    void exited.then((code) => rej(new Error(`devnet exited ${code} before ready:\n${stdout}\n${stderr}`)))
  })

  const ids = [...stdout.matchAll(/^node (\d+): (\S+) p2p 127\.0\.0\.1:(\d+) http 127\.0\.0\.1:(\d+)/gm)]
  assert.equal(ids.length, 3, stdout)
  const m = /^dashboard: (http:\/\/127\.0\.0\.1:(\d+))\/dashboard#token=([0-9a-f]+)$/m.exec(stdout)
  assert.ok(m, `dashboard URL printed:\n${stdout}`)
  assert.match(stdout, /\(model tiny layers 0:1\)/)
  assert.match(stdout, /\(model tiny layers 1:2\)/)
  assert.match(stdout, /vpn exit/)
  const [, base, port, token] = m
  assert.equal((await fetch(`${base}/dashboard`)).status, 200)

  // the others connect to node 0 and the chain read of its stake lands in the background: wait for both
  const others = new Set(ids.slice(1).map((x) => x[2]!))
  let s: Snapshot | undefined
  for (;;) {
    const r = await fetch(`${base}/v1/dashboard/snapshot`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(r.status, 200)
    s = await r.json() as Snapshot
    if ([...others].every((id) => s!.peers.some((p) => p.id === id)) && s.chain?.stakeWei != null) break
    await new Promise((res) => setTimeout(res, 100))
  }
  assert.equal(s.node.id, ids[0]![2])
  assert.equal(s.chain!.stakeWei, parseEther('1000').toString())
  assert.ok(s.peerCount >= 2)
  assert.ok(s.vpn!.exits.some((e) => e.id === ids[2]![2] && e.usable), 'node 0 knows the exit (node 2)')

  // the model split over nodes 0 and 1 answers through node 0 (the tail is found through the DHT: retried until it is)
  for (;;) {
    const r = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'hello' }], max_tokens: 3 }),
    })
    const body = await r.json() as { usage?: { completion_tokens: number } }
    if (r.status === 200) { assert.equal(body.usage?.completion_tokens, 3); break }
    await new Promise((res) => setTimeout(res, 200))
  }

  const kids = childrenOf(child.pid!)
  child.kill('SIGINT')
  assert.equal(await exited, 0, stderr)
  assert.match(stdout, /^devnet stopped$/m)
  for (const k of kids) assert.ok(!existsSync(`/proc/${k}`), `process ${k} started by the CLI is left running`)
  assert.equal(childrenOf(child.pid!).length, 0)
  assert.ok(await refused(Number(port)), "node 0's HTTP port is closed")
  for (const x of ids) assert.ok(await refused(Number(x[3])), `node ${x[1]}'s p2p port is closed`)
})

test('zeone devnet refuses a node count outside 1..32 before starting anything', async () => {
  const { main } = await import('../../src/cli/main.js')
  const { Writable } = await import('node:stream')
  for (const bad of [['--nodes', '0'], ['--nodes', '33'], ['--nodes', 'x'], ['--nodes']]) {
    let err = ''
    const sink = new Writable({ write(_c, _e, cb) { cb() } })
    const errs = new Writable({ write(c, _e, cb) { err += String(c); cb() } })
    assert.equal(await main(['devnet', ...bad], { stdout: sink, stderr: errs }), 1, bad.join(' '))
    assert.match(err, /--nodes expects 1\.\.32/)
  }
})
