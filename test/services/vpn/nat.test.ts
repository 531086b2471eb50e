/**
 * Relayed and NAT'd exits (issue 20 item 4), in the NAT lab of test/nat/lab.ts built by this test under its own
 * namespace names (`v20-<pid>-*`, so it never meets a NAT lab test running beside it):
 *
 *   198.18.0.10  rendezvous node (STUN server role, relay on), public segment
 *   198.18.0.20  the "public" HTTP server (the lab's turn namespace, otherwise unused here)
 *   10.1.0.2     node A behind NAT A (198.18.0.101): SOCKS5 on 127.0.0.1, curl runs here
 *   10.2.0.2     node B behind NAT B (198.18.0.102): the VPN exit; nothing can dial it from outside its NAT
 *
 * A reaches B only through the NAT layer (punched path, or the rendezvous' relay when both NATs are symmetric), then
 * curl --socks5-hostname goes through A's SOCKS port and exit B to the server. Checked: the bytes, the method the NAT
 * layer used, and that the server saw NAT B's public address (the exit), never NAT A's.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import { canRunLab, labAvailable, NatLab, type NatMode } from '../../nat/lab.js'
import { pattern } from './helpers.js'
import { Proc } from './ns-proc.js'

const exec = promisify(execFile)
const SIZE = 3 * 1024 * 1024 + 7
const BODY = pattern(SIZE)
const RENDEZVOUS = '198.18.0.10:7000'
/** The policy line that opens the server; VPN_NAT_POLICY replaces it (to break the test on purpose). */
const POLICY = process.env.VPN_NAT_POLICY ?? 'accept 198.18.0.20:8080'

function hasCurl(): boolean { try { execFileSync('curl', ['--version'], { stdio: 'ignore' }); return true } catch { return false } }
const able = labAvailable() && hasCurl()
const skip = !canRunLab() || (!hasCurl() && process.env.REQUIRE_NATLAB !== '1') ? 'needs root, iptables, ip netns and curl (REQUIRE_NATLAB=1 makes this a failure)' : false

/** The NAT lab under this test's own namespace prefix. */
class VpnNatLab extends NatLab {
  constructor() {
    super('')
    ;(this as { prefix: string }).prefix = `v20-${process.pid}-`
  }
}

test('a client behind one NAT uses an exit behind another NAT through the NAT layer (punched, and relayed for symmetric <-> symmetric)', { skip, timeout: 300_000 }, async (t) => {
  assert.ok(able, 'REQUIRE_NATLAB=1 but this machine cannot build the lab (root, ip, iptables, curl)')
  const lab = new VpnNatLab()
  const procs: Proc[] = []
  const start = (ns: string, args: string[]): Proc => { const p = new Proc(ns, args); procs.push(p); return p }
  try {
    lab.up('cone', 'cone')
    const server = start(lab.ns('turn'), ['http', '198.18.0.20', '8080', String(SIZE)])
    await server.wait('listening')
    const rv = start(lab.ns('stun'), ['node', JSON.stringify({
      node: { host: '198.18.0.10', port: 7000 },
      nat: { stunServer: { enabled: true, primary: '198.18.0.10:3478', alternate: '198.18.0.11:3479' }, relay: { enabled: true, allowPrivatePeers: true } },
    })])
    const rid = String((await rv.wait('ready')).nodeId)
    const nat = { stunServers: ['198.18.0.10:3478'], rendezvous: [rid], punch: { timeoutMs: 12_000 } }

    const pair = async (ma: NatMode, mb: NatMode, method: (m: string) => boolean): Promise<void> => {
      lab.nat('A', ma); lab.nat('B', mb)
      const b = start(lab.ns('hostB'), ['node', JSON.stringify({
        node: { host: '0.0.0.0', port: 7100, bootstrap: [RENDEZVOUS] }, nat,
        vpn: { exit: { enabled: true, announce: false, policy: [POLICY] } },
      })])
      const rb = await b.wait('ready')
      const a = start(lab.ns('hostA'), ['node', JSON.stringify({
        node: { host: '0.0.0.0', port: 0, bootstrap: [RENDEZVOUS] }, nat,
        // B's own LAN address: unreachable from A, so only the link the NAT layer made can carry the streams
        vpn: { socks: { port: 0, exits: [`${String(rb.nodeId)}@10.2.0.2:7100`] } },
      })])
      try {
        await viaNat(a, b, rb, method)
      } finally {
        await Promise.all([a.stop(), b.stop()])
      }
    }
    const viaNat = async (a: Proc, b: Proc, rb: Record<string, unknown>, method: (m: string) => boolean): Promise<void> => {
      const socks = Number((await a.wait('ready')).socks)
      const from = a.lines.length
      a.send(`connect ${String(rb.nodeId)}`)
      const how = String((await a.wait('connected', from)).connected)
      assert.ok(method(how), `NAT layer method ${how}`)
      const seen = server.count('conn')
      const { stdout } = await exec('ip', ['netns', 'exec', lab.ns('hostA'), 'curl', '-sS', '--fail', '--max-time', '60',
        '--socks5-hostname', `127.0.0.1:${socks}`, `http://198.18.0.20:8080/bytes/${SIZE}`], { encoding: 'buffer', maxBuffer: 64 << 20 })
      assert.equal(stdout.length, SIZE)
      assert.ok(stdout.equals(BODY), 'the bytes curl got are the server\'s')
      const conns = server.lines.filter((m) => 'conn' in m).slice(seen).map((m) => m.conn)
      assert.deepEqual([...new Set(conns)], ['198.18.0.102'], 'the server saw exit B (NAT B\'s public address), never A')
      const st = b.lines.length
      b.send('stats')
      assert.equal(((await b.wait('stats', st)).stats as { opened: number }).opened, 1)
    }

    await t.test('cone <-> cone: punched path', () => pair('cone', 'cone', (m) => m !== 'relay'))
    await t.test('symmetric <-> symmetric: through the rendezvous relay', () => pair('symmetric', 'symmetric', (m) => m === 'relay'))
  } finally {
    await Promise.all(procs.map((p) => p.stop()))
    lab.down()
  }
})
