// User mistakes must name the argument and the fix, with a user-error code, never `[internal]` (issue 18 item 3).
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Writable } from 'node:stream'
import { main } from '../../src/cli/main.js'
import { controlCall } from '../../src/cli/control-client.js'
import { bytesArg } from '../../src/dht/control.js'
import { InvalidInputError, ZeoneError } from '../../src/util/errors.js'

const fromSource = import.meta.url.endsWith('.ts')
const fixture = fileURLToPath(new URL(`./fixtures/zeone-cli.${fromSource ? 'ts' : 'js'}`, import.meta.url))
const dirs: string[] = []
const children = new Set<ChildProcess>()
const tmp = (): string => { const d = mkdtempSync(join(tmpdir(), 'zeone-errs-')); dirs.push(d); return d }
after(() => {
  for (const c of children) c.kill('SIGKILL')
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

const refusal = (code: string, re: RegExp) => (err: unknown) => {
  assert.ok(err instanceof InvalidInputError, `an InvalidInputError, got ${String(err)}`)
  assert.equal(err.code, code)
  assert.match(err.message, re)
  return true
}

describe('dht value decoding (bytesArg)', () => {
  it('bad hex names the value and the fix', () => {
    assert.throws(() => bytesArg('zz', 'hex', 'value', 100), refusal('bad_request', /'value' is not hex.*--encoding utf8/))
    assert.throws(() => bytesArg('abc', 'hex', 'value', 100), refusal('bad_request', /even number/))
    assert.deepEqual([...bytesArg('0xff00', 'hex', 'value', 100)], [0xff, 0])
  })
  it('bad base64 names the value and the fix', () => {
    assert.throws(() => bytesArg('%%%%', 'base64', 'value', 100), refusal('bad_request', /'value' is not base64/))
    assert.throws(() => bytesArg('abc', 'base64', 'value', 100), refusal('bad_request', /multiple of 4/))
    assert.deepEqual([...bytesArg('AAE=', 'base64', 'value', 100)], [0, 1])
  })
  it('hostile: non-string values and encodings, unknown encodings, huge values refused before decoding', () => {
    for (const v of [12, null, {}, ['ab'], true]) assert.throws(() => bytesArg(v, 'hex', 'value', 100), refusal('bad_request', /'value' must be a string/))
    for (const e of [1, {}, 'rot13', 'HEX']) assert.throws(() => bytesArg('ab', e, 'value', 100), refusal('bad_request', /'encoding' must be one of utf8, hex, base64/))
    // 64 MiB of hex digits: refused on the length alone (a decode would allocate 32 MiB)
    const huge = 'a'.repeat(64 << 20)
    assert.throws(() => bytesArg(huge, 'hex', 'value', 1024), refusal('too_large', /exceeds 1024 bytes/))
    assert.throws(() => bytesArg(huge, 'base64', 'value', 1024), refusal('too_large', /exceeds 1024 bytes/))
    assert.throws(() => bytesArg('é'.repeat(600), 'utf8', 'value', 1024), refusal('too_large', /exceeds/))
    assert.equal(bytesArg('é'.repeat(500), undefined, 'value', 1024).byteLength, 1000)
  })
})

function capture(): { io: { stdout: Writable; stderr: Writable }; err: () => string } {
  let err = ''
  const sink = (f: (s: string) => void) => new Writable({ write(c, _e, cb) { f(String(c)); cb() } })
  return { io: { stdout: sink(() => undefined), stderr: sink((s) => { err += s }) }, err: () => err }
}

function startNode(dataDir: string): Promise<{ proc: ChildProcess; exited: Promise<number | null> }> {
  const env = { ...process.env }
  for (const k of Object.keys(env)) if (k.startsWith('ZEONE_')) delete env[k]
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [...(fromSource ? ['--import', 'tsx'] : []), fixture, 'start', '--data-dir', dataDir, '--port', '0', '--host', '127.0.0.1',
      '--http-port', '0', '--log-level', 'warn', '--set', 'dht.staticPuzzleBits=0'], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    children.add(proc)
    let out = ''
    const exited = new Promise<number | null>((r) => proc.on('close', (code) => { children.delete(proc); r(code) }))
    exited.then((code) => reject(new Error(`node exited early (${code})`)))
    proc.stdout!.on('data', (b: Buffer) => { out += b.toString(); if (/http: [^\n]*:\d+\n/.test(out) && /legacy: /.test(out)) resolve({ proc, exited }) })
  })
}

describe('user mistakes against a running node', () => {
  it('publish of a missing file, bad hex/base64/encoding in dht put: named, with a fix, never [internal]', async () => {
    const d = tmp()
    const node = await startNode(d)
    try {
      const cli = async (...argv: string[]): Promise<string> => {
        const c = capture()
        assert.equal(await main([...argv, '--data-dir', d], c.io), 1, argv.join(' '))
        assert.doesNotMatch(c.err(), /internal/)
        return c.err()
      }
      const missing = join(d, 'no-such-file.bin')
      assert.match(await cli('publish', missing), new RegExp(`'path' \\(${missing.replace(/[.]/g, '\\.')}\\) does not exist: give an existing file or directory to publish \\[not_found\\]`))
      assert.match(await cli('publish', d, '--version', 'two'), /--version expects a whole number like 2, got 'two' \[bad_flag\]/)
      assert.match(await cli('dht', 'put', 'k', 'zz', '--encoding', 'hex'), /'value' is not hex.*\[bad_request\]/)
      assert.match(await cli('dht', 'put', 'k', '%%%', '--encoding', 'base64'), /'value' is not base64.*\[bad_request\]/)
      assert.match(await cli('dht', 'put', 'k', 'v', '--encoding', 'rot13'), /'encoding' must be one of utf8, hex, base64.*\[bad_request\]/)
      // hostile bodies straight to the control API
      const put = (body: unknown) => controlCall(d, 'POST', '/v1/dht/put', { body })
      const code = (c: string) => (e: unknown) => { assert.ok(e instanceof ZeoneError); assert.equal(e.code, c, e.message); return true }
      await assert.rejects(put({ key: 'k', value: 12, encoding: 'hex' }), code('bad_request'))
      await assert.rejects(put({ key: 'k', value: 'ab', encoding: ['hex'] }), code('bad_request'))
      await assert.rejects(put({ key: 'k', value: 'ab'.repeat(400_000), encoding: 'hex' }), code('too_large'))
      await assert.rejects(controlCall(d, 'POST', '/v1/content/publish', { body: { path: 12 } }), code('bad_request'))
      // node ids that are not base64 (these threw a bare TypeError, shown as [internal])
      for (const nodeId of ['%%%%', 'not base64!', 'A'.repeat(100_000), 7, { a: 1 }]) {
        await assert.rejects(controlCall(d, 'POST', '/v1/nat/connect', { body: { nodeId } }), code('bad_node_id'))
      }
      await assert.rejects(controlCall(d, 'POST', '/v1/nat/connect', { body: { nodeId: Buffer.alloc(32).toString('base64'), via: '***' } }), code('bad_node_id'))
      await assert.rejects(controlCall(d, 'POST', '/v1/vpn/use', { body: { exit: '%%%%@127.0.0.1:1' } }), code('bad_exit'))
    } finally { node.proc.kill('SIGTERM'); await node.exited.catch(() => undefined) }
  })
})
