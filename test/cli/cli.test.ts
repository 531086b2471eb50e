import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createHash } from 'node:crypto'
import { Writable } from 'node:stream'
import { findCommand, main } from '../../src/cli/main.js'
import { parseArgs } from '../../src/cli/args.js'

const fromSource = import.meta.url.endsWith('.ts')
const fixture = fileURLToPath(new URL(`./fixtures/zeone-cli.${fromSource ? 'ts' : 'js'}`, import.meta.url))
const nodeArgs = fromSource ? ['--import', 'tsx', fixture] : [fixture]
const dirs: string[] = []
const children = new Set<ChildProcess>()
const tmp = (): string => { const d = mkdtempSync(join(tmpdir(), 'zeone-cli-')); dirs.push(d); return d }
after(() => {
  for (const c of children) c.kill('SIGKILL')
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

const env = (): NodeJS.ProcessEnv => {
  const e = { ...process.env }
  for (const k of Object.keys(e)) if (k.startsWith('ZEONE_')) delete e[k]
  return e
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [...nodeArgs, ...args], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(c)
    let stdout = ''
    let stderr = ''
    c.stdout.on('data', (b: Buffer) => { stdout += b.toString() })
    c.stderr.on('data', (b: Buffer) => { stderr += b.toString() })
    c.on('error', reject)
    c.on('close', (code) => { children.delete(c); resolve({ code, stdout, stderr }) })
  })
}

interface Running { proc: ChildProcess; port: number; http: number; out: () => string; exited: Promise<number | null> }

/** Starts `zeone start` and waits for the line that shows it is up. */
function startNode(args: string[]): Promise<Running> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...nodeArgs, 'start', '--port', '0', '--host', '127.0.0.1', '--http-port', '0', '--log-level', 'warn', '--set', 'dht.staticPuzzleBits=0', ...args],
      { env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(proc)
    let out = ''
    let err = ''
    const exited = new Promise<number | null>((r) => proc.on('close', (code) => { children.delete(proc); r(code) }))
    exited.then((code) => reject(new Error(`node exited early (${code}): ${err}`)))
    proc.stderr!.on('data', (b: Buffer) => { err += b.toString() })
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString()
      const m = /listening: [^\n]*:(\d+)\nhttp: [^\n]*:(\d+)\n/.exec(out)
      if (m && /legacy: /.test(out)) resolve({ proc, port: Number(m[1]), http: Number(m[2]), out: () => out, exited })
    })
  })
}

describe('zeone CLI (real processes)', () => {
  it('start banner says when the P2P port listens on all interfaces, and not when it is local', async () => {
    const all = await startNode(['--data-dir', tmp(), '--host', '0.0.0.0'])
    try {
      assert.match(all.out(), new RegExp(`note: P2P port ${all.port} listens on all interfaces \\(0\\.0\\.0\\.0\\)`))
    } finally { all.proc.kill('SIGTERM'); await all.exited.catch(() => undefined) }
    const local = await startNode(['--data-dir', tmp()])
    try {
      assert.doesNotMatch(local.out(), /all interfaces/)
    } finally { local.proc.kill('SIGTERM'); await local.exited.catch(() => undefined) }
  })

  it('id creates the identity once and prints node id and DHT id', async () => {
    const d = tmp()
    const a = await run(['id', '--data-dir', d])
    assert.equal(a.code, 0, a.stderr)
    const m = /node id: (\S+)\ndht id: ([0-9a-f]{40})\n/.exec(a.stdout)
    assert.ok(m, a.stdout)
    const pk = Buffer.from(m[1]!, 'base64')
    assert.equal(pk.length, 32)
    assert.equal(createHash('sha1').update(pk).digest('hex'), m[2])
    // the default config mints a key that solves the S/Kademlia static puzzle (15 leading zero bits)
    const sha1 = (b: Buffer): Buffer => createHash('sha1').update(b).digest()
    const dd = sha1(sha1(pk))
    assert.ok(dd.readUInt16BE(0) >> 1 === 0, `puzzle not solved: ${dd.toString('hex')}`)
    const b = await run(['id', '--data-dir', d, '--json'])
    const j = JSON.parse(b.stdout) as { nodeId: string; dhtId: string; created: boolean }
    assert.equal(j.nodeId, m[1])
    assert.equal(j.created, false)
  })

  it('start, peers, ping (v2 and legacy), then SIGINT stops cleanly', async () => {
    const da = tmp()
    const db = tmp()
    const a = await startNode(['--data-dir', da])
    const b = await startNode(['--data-dir', db, '--bootstrap', `127.0.0.1:${a.port}`, '--bootstrap', `legacy://127.0.0.1:${a.port}`])
    const idB = /node id: (\S+)/.exec(b.out())![1]
    let peers: Array<{ nodeId: string; version: number; outbound: boolean; listen: string | null }> = []
    for (let i = 0; i < 50; i++) {
      const r = await run(['peers', '--data-dir', da, '--json'])
      assert.equal(r.code, 0, r.stderr)
      peers = JSON.parse(r.stdout)
      if (peers.length >= 2) break
      await new Promise((res) => setTimeout(res, 100))
    }
    assert.deepEqual(peers.map((p) => `${p.nodeId}/v${p.version}`).sort(), [`${idB}/v0`, `${idB}/v2`])
    const v0 = peers.find((p) => p.version === 0)!
    // b dialled a, and its FIND_NODE named b's listening address, which a verified by dialling it (a second v0 link)
    assert.equal(v0.listen, `127.0.0.1:${b.port}`, 'only a listening address we dialled is shown')
    const text = await run(['peers', '--data-dir', da])
    assert.match(text.stdout, new RegExp(`${idB!.replace(/[+/]/g, '\\$&')}\\s+v2\\s+in`))

    const ping = await run(['ping', `127.0.0.1:${a.port}`, '--count', '2', '--json'])
    assert.equal(ping.code, 0, ping.stderr)
    const pr = JSON.parse(ping.stdout) as { nodeId: string; version: number; handshakeMs: number; rttMs: number[] }
    assert.equal(pr.version, 2)
    assert.equal(pr.rttMs.length, 2)
    assert.ok(pr.handshakeMs > 0)
    const lp = await run(['ping', `legacy://127.0.0.1:${a.port}`])
    assert.equal(lp.code, 0, lp.stderr)
    assert.match(lp.stdout, /\(v0\)[\s\S]*handshake: [\d.]+ ms\nrtt: [\d.]+ ms\n/)

    a.proc.kill('SIGINT')
    b.proc.kill('SIGTERM')
    assert.equal(await a.exited, 0)
    assert.equal(await b.exited, 0)
    assert.equal(existsSync(join(da, 'control.sock')), false)
  })

  it('peers without a running node fails clearly', async () => {
    const p = await run(['peers', '--data-dir', tmp()])
    assert.equal(p.code, 1)
    assert.match(p.stderr, /no running node/)
  })
})

describe('zeone CLI dispatch (in process)', () => {
  const capture = () => {
    let out = ''
    let err = ''
    const io = {
      stdout: new Writable({ write(c: Buffer, _e, cb) { out += c.toString(); cb() } }),
      stderr: new Writable({ write(c: Buffer, _e, cb) { err += c.toString(); cb() } }),
    }
    return { io, out: () => out, err: () => err }
  }

  it('unknown commands, bad config and help', async () => {
    const u = capture()
    assert.equal(await main(['frobnicate'], u.io), 2)
    assert.match(u.err(), /unknown command/)
    const d = tmp()
    const cfg = join(d, 'bad.toml')
    writeFileSync(cfg, '[node]\nport = "x"\n')
    const bad = capture()
    assert.equal(await main(['id', '--config', cfg], bad.io), 1)
    assert.match(bad.err(), /node\.port/)
    const h = capture()
    assert.equal(await main(['help'], h.io), 0)
    for (const c of ['start', 'id', 'ping', 'peers']) assert.match(h.out(), new RegExp(`\\n  ${c} `))
    const hp = capture()
    assert.equal(await main(['help', 'ping'], hp.io), 0)
    assert.match(hp.out(), /usage: zeone ping host:port/)
  })

  it('finds the longest matching command and parses flags', () => {
    const cmds = [{ name: 'dht', summary: '', usage: '', run: async () => 0 }, { name: 'dht get', summary: '', usage: '', run: async () => 0 }]
    assert.equal(findCommand(['dht', 'get', 'k'], cmds)?.command.name, 'dht get')
    assert.deepEqual(findCommand(['dht', 'get', 'k'], cmds)?.rest, ['k'])
    assert.equal(findCommand(['dh'], cmds), undefined)
    const a = parseArgs(['x', '--port', '9', '--bootstrap', 'a:1', '--bootstrap=b:2', '--no-legacy', '--json', '--', '--raw'])
    assert.deepEqual(a, { positionals: ['x', '--raw'], flags: { port: '9', bootstrap: ['a:1', 'b:2'], legacy: false, json: true } })
  })
})
