import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { StunServer } from '../../src/nat/stun/server.js'
import { attach as attachNat } from '../../src/nat/attach.js'
import type { AttachFn } from '../../src/interfaces/node-context.js'
import { commands } from '../../src/cli/commands/nat.js'

const layers: Array<[string, AttachFn]> = [['nat', attachNat]]

async function runCli(name: string, positionals: string[], flags: Record<string, string | boolean>): Promise<{ code: number; out: string; err: string }> {
  const cmd = commands.find((c) => c.name === name)!
  const stdout = new PassThrough(), stderr = new PassThrough()
  let out = '', err = ''
  stdout.on('data', (d: Buffer) => { out += d.toString() })
  stderr.on('data', (d: Buffer) => { err += d.toString() })
  const code = await cmd.run({ positionals, flags }, { stdout, stderr })
  return { code, out, err }
}

test('zeone nat / zeone connect against running nodes (control API)', async () => {
  const dirs: string[] = []
  const nodes: ZeoneNode[] = []
  const stun = new StunServer({ primary: { host: '127.0.0.1', port: 0 }, alternate: { host: '127.0.0.2', port: 0 } })
  await stun.start()
  const mk = async (bootstrap: string[], relay = false): Promise<ZeoneNode> => {
    const d = mkdtempSync(join(tmpdir(), 'zeone-natcli-')); dirs.push(d)
    const n = createNode(validateConfig({
      dataDir: d, node: { port: 0, host: '127.0.0.1', bootstrap, legacy: false }, ops: { httpPort: -1, logLevel: 'silent' },
      nat: { udpHost: '127.0.0.1', stunServers: [`127.0.0.1:${stun.addrs.primary.port}`], relay: { enabled: relay, allowPrivatePeers: true } },
    }), { layers })
    nodes.push(n)
    await n.start()
    return n
  }
  try {
    const r = await mk([], true)
    const a = await mk([]), b = await mk([])
    await Promise.all([a, b].map((n) => n.transport!.dial({ host: '127.0.0.1', port: r.listenAddress!.port })))
    for (let i = 0; i < 1000 && (a.transport!.links().length < 1 || b.transport!.links().length < 1); i++) await new Promise((res) => setTimeout(res, 20))
    const n = await runCli('nat', [], { 'data-dir': a.dataDir, json: true })
    assert.equal(n.code, 0, n.err)
    const info = JSON.parse(n.out) as { mapping: string; filtering: string; localPort: number }
    assert.equal(info.mapping, 'none')
    assert.equal(info.filtering, 'endpoint-independent')
    assert.equal(info.localPort, a.services.get('nat')!.socket!.address().port)
    const text = await runCli('nat', [], { 'data-dir': r.dataDir })
    assert.match(text.out, /mapping: +none\n/)
    assert.match(text.out, /relay: +serving \(0\/64 circuits\)/)
    const c = await runCli('connect', [b.identity.nodeIdB64], { 'data-dir': a.dataDir, json: true })
    assert.equal(c.code, 0, c.err)
    const res = JSON.parse(c.out) as { nodeId: string; path: string; wireVersion: number }
    assert.equal(res.nodeId, b.identity.nodeIdB64)
    assert.equal(res.path, 'direct')
    const usage = await runCli('connect', [], { 'data-dir': a.dataDir })
    assert.equal(usage.code, 2)
    await assert.rejects(runCli('connect', ['not-a-key'], { 'data-dir': a.dataDir }), /base64/)
  } finally {
    for (const x of nodes.reverse()) await x.stop()
    await stun.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  }
})
