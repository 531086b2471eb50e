/**
 * The VPN across network namespaces made by this test (names `zvpn<pid>-*`, all removed at the end):
 *
 *   client ns  C: eth0 198.18.1.2/24, node A with the SOCKS5 port on 127.0.0.1; no route to anything but B
 *   exit ns    X: cli 198.18.1.1/24 (node B, vpn.exit.enabled), wan 198.18.2.1/24, lan 10.77.0.1/24; no forwarding
 *   server ns  S: eth0 198.18.2.2/24, the "public" HTTP server on :8080
 *   lan ns     L: eth0 10.77.0.2/24, a service on B's own private LAN (:8080), reachable from B
 *
 * X has its own /etc/hosts (`ip netns exec` bind-mounts /etc/netns/X/hosts): www.public.test -> the server,
 * intranet.test -> the LAN service, rebind.test -> 127.0.0.1, so names are resolved at the exit as a client's
 * `--socks5-hostname` asks. 198.18.0.0/15 (benchmarking) is a built-in refused range of the exit policy
 * (policy.ts, class 'reserved'), so B's config opens exactly the server: `accept 198.18.2.2:8080`, and for UDP
 * ASSOCIATE its echo port `accept 198.18.2.2:9090` (S and L each run a UDP echo server on :9090).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, execFileSync } from 'node:child_process'
import { mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { labAvailable } from '../../nat/lab.js'
import { pattern } from './helpers.js'
import { Proc } from './ns-proc.js'

const exec = promisify(execFile)
const SIZE = 2 * 1024 * 1024 + 13
const BODY = pattern(SIZE)
const B_PORT = 7000
/** The policy line under test; VPN_NETNS_POLICY replaces it (to break the test on purpose, e.g. `accept 10.77.0.0/24`). */
const EXTRA_POLICY = process.env.VPN_NETNS_POLICY ? [process.env.VPN_NETNS_POLICY] : []

function hasCurl(): boolean { try { execFileSync('curl', ['--version'], { stdio: 'ignore' }); return true } catch { return false } }
const able = labAvailable() && hasCurl()
// CI sets REQUIRE_NATLAB=1 so a runner that cannot build namespaces fails instead of skipping silently
const skip = !able && process.env.REQUIRE_NATLAB !== '1' ? 'needs root, ip netns and curl (REQUIRE_NATLAB=1 makes this a failure)' : false

const sh = (args: string[]): void => { execFileSync(args[0]!, args.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] }) }

class Lab {
  readonly p = `zvpn${process.pid}-`
  readonly c = this.p + 'c'
  readonly x = this.p + 'x'
  readonly s = this.p + 's'
  readonly l = this.p + 'l'
  get all(): string[] { return [this.c, this.x, this.s, this.l] }
  get etc(): string { return `/etc/netns/${this.x}` }

  up(): void {
    this.down()
    for (const n of this.all) { sh(['ip', 'netns', 'add', n]); sh(['ip', '-n', n, 'link', 'set', 'lo', 'up']) }
    for (const [ns, xdev, net] of [[this.c, 'cli', '198.18.1'], [this.s, 'wan', '198.18.2'], [this.l, 'lan', '10.77.0']] as const) {
      sh(['ip', '-n', this.x, 'link', 'add', xdev, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
      sh(['ip', '-n', this.x, 'addr', 'add', `${net}.1/24`, 'dev', xdev])
      sh(['ip', '-n', this.x, 'link', 'set', xdev, 'up'])
      sh(['ip', '-n', ns, 'addr', 'add', `${net}.2/24`, 'dev', 'eth0'])
      sh(['ip', '-n', ns, 'link', 'set', 'eth0', 'up'])
    }
    sh(['ip', 'netns', 'exec', this.x, 'sysctl', '-qw', 'net.ipv4.ip_forward=0'])
    mkdirSync(this.etc, { recursive: true })
    writeFileSync(`${this.etc}/hosts`, ['127.0.0.1 localhost', '::1 localhost', '198.18.2.2 www.public.test',
      '10.77.0.2 intranet.test', '127.0.0.1 rebind.test', ''].join('\n'))
  }

  down(): void {
    for (const n of this.all) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', n], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().split(/\s+/).filter(Boolean)
        for (const pid of pids) { try { process.kill(Number(pid), 'SIGKILL') } catch { /* gone */ } }
      } catch { /* no such namespace */ }
      try { sh(['ip', 'netns', 'del', n]) } catch { /* absent */ }
    }
    rmSync(this.etc, { recursive: true, force: true })
    try { rmdirSync('/etc/netns') } catch { /* absent, or holds other namespaces' files */ }
  }
}

test('VPN in network namespaces: curl in the client namespace through A and exit B to a public server; B\'s LAN and loopback refused', { skip, timeout: 360_000 }, async (t) => {
  assert.ok(able, 'REQUIRE_NATLAB=1 but this machine cannot build network namespaces (root, ip, iptables, curl)')
  const lab = new Lab()
  const procs: Proc[] = []
  const start = (ns: string, args: string[]): Proc => { const p = new Proc(ns, args); procs.push(p); return p }
  try {
    lab.up()
    const pub = start(lab.s, ['http', '198.18.2.2', '8080', String(SIZE)])
    const lan = start(lab.l, ['http', '10.77.0.2', '8080', String(SIZE)])
    const pubUdp = start(lab.s, ['udpecho', '198.18.2.2', '9090'])
    const lanUdp = start(lab.l, ['udpecho', '10.77.0.2', '9090'])
    await Promise.all([pub.wait('listening'), lan.wait('listening'), pubUdp.wait('listening'), lanUdp.wait('listening')])
    const b = start(lab.x, ['node', JSON.stringify({
      node: { host: '198.18.1.1', port: B_PORT },
      vpn: { exit: { enabled: true, announce: false, policy: [...EXTRA_POLICY, 'accept 198.18.2.2:8080', 'accept 198.18.2.2:9090'] } },
    })])
    const rb = await b.wait('ready')
    const a = start(lab.c, ['node', JSON.stringify({
      node: { host: '198.18.1.2', port: 0 },
      vpn: { socks: { port: 0, exits: [`${String(rb.nodeId)}@198.18.1.1:${B_PORT}`] } },
    })])
    const socks = Number((await a.wait('ready')).socks)
    assert.ok(socks > 0)
    const curlIn = (ns: string, ...args: string[]): Promise<{ stdout: Buffer }> =>
      exec('ip', ['netns', 'exec', ns, 'curl', '-sS', '--max-time', '30', ...args], { encoding: 'buffer', maxBuffer: 64 << 20 })
    const viaA = (url: string): Promise<{ stdout: Buffer }> => curlIn(lab.c, '--fail', '--socks5-hostname', `127.0.0.1:${socks}`, url)
    type Stats = { opened: number; refused: Record<string, number>; udp: { sent: number; received: number; dropped: Record<string, number> } }
    const statsOfB = async (): Promise<Stats> => {
      const from = b.lines.length
      b.send('stats')
      return (await b.wait('stats', from)).stats as Stats
    }

    await t.test('the lab is what it claims: C cannot reach the server by itself; B reaches its LAN service', async () => {
      await assert.rejects(curlIn(lab.c, '--max-time', '5', 'http://198.18.2.2:8080/bytes/10'))
      const { stdout } = await curlIn(lab.x, '--fail', 'http://10.77.0.2:8080/bytes/10')
      assert.ok(stdout.equals(BODY.subarray(0, 10)))
      assert.equal(lan.count('conn'), 1)
    })

    await t.test('curl --socks5-hostname through A and exit B reaches the public server (name resolved at the exit), bytes identical', async () => {
      for (const url of [`http://www.public.test:8080/bytes/${SIZE}`, `http://198.18.2.2:8080/bytes/${SIZE}`]) {
        const { stdout } = await viaA(url)
        assert.equal(stdout.length, SIZE, url)
        assert.ok(stdout.equals(BODY), url)
      }
      // the server saw the exit's address, never the client's
      assert.ok(pub.count('conn') >= 2)
      assert.deepEqual([...new Set(pub.lines.filter((m) => 'conn' in m).map((m) => m.conn))], ['198.18.2.1'])
    })

    await t.test('destinations in B\'s own private range are refused: curl fails, SOCKS reply 2, the LAN service sees nothing', async () => {
      const lanBefore = lan.count('conn')
      for (const url of ['http://10.77.0.2:8080/bytes/10', 'http://intranet.test:8080/bytes/10', 'http://10.77.0.1:8080/']) {
        // curl 97: the proxy refused the CONNECT
        await assert.rejects(viaA(url), (e: { code?: number }) => e.code === 97, url)
      }
      for (const [host, literal] of [['10.77.0.2', '1'], ['intranet.test', '0']] as const) {
        const r = await start(lab.c, ['socks', String(socks), host, '8080', literal]).wait('rep')
        assert.equal(r.rep, 2, `${host}: SOCKS5 reply 2, connection not allowed by ruleset`)
      }
      assert.equal(lan.count('conn'), lanBefore, 'no connection reached the LAN service')
    })

    await t.test('a name that resolves to loopback is refused, and so is localhost and B\'s own address', async () => {
      for (const [host, literal, port] of [['rebind.test', '0', B_PORT], ['localhost', '0', B_PORT], ['127.0.0.1', '1', B_PORT],
        ['198.18.1.1', '1', B_PORT], ['198.18.2.2', '1', 8081]] as const) {
        const r = await start(lab.c, ['socks', String(socks), host, String(port), literal]).wait('rep')
        assert.equal(r.rep, 2, `${host}:${port}`)
      }
      await assert.rejects(viaA(`http://rebind.test:${B_PORT}/`), (e: { code?: number }) => e.code === 97)
      const st = await statsOfB()
      assert.ok((st.refused.policy ?? 0) >= 10, JSON.stringify(st))
      assert.ok(st.opened >= 2, JSON.stringify(st))
    })

    await t.test('UDP ASSOCIATE through A and exit B reaches the UDP echo server in S; a datagram to B\'s LAN is dropped by the policy', async () => {
      for (const host of ['198.18.2.2', 'www.public.test']) {
        const u = start(lab.c, ['socksudp', String(socks), host, '9090', `hello ${host}`])
        assert.equal((await u.wait('rep')).rep, 0)
        const r = await u.wait('reply')
        assert.equal(r.reply, `echo:hello ${host}`)
        assert.equal(r.from, '198.18.2.2:9090')
        await u.stop()
      }
      // the echo server saw the exit's address only
      assert.deepEqual([...new Set(pubUdp.lines.filter((m) => 'udp' in m).map((m) => m.udp))], ['198.18.2.1'])
      const before = (await statsOfB()).udp.dropped.policy ?? 0
      const held: Proc[] = []
      for (const host of ['10.77.0.2', 'intranet.test', '198.18.2.2']) {
        // 198.18.2.2 on a port no rule opens
        const u = start(lab.c, ['socksudp', String(socks), host, host === '198.18.2.2' ? '9091' : '9090', 'refuse me'])
        assert.equal((await u.wait('rep')).rep, 0)
        await u.wait('sent')
        held.push(u)
      }
      for (let i = 0; i < 2000 && ((await statsOfB()).udp.dropped.policy ?? 0) < before + 3; i++) await new Promise((r) => setTimeout(r, 10))
      assert.equal((await statsOfB()).udp.dropped.policy ?? 0, before + 3)
      await Promise.all(held.map((u) => u.stop()))
      assert.ok(held.every((u) => u.count('reply') === 0), 'no reply came back')
      assert.equal(lanUdp.count('udp'), 0, 'no datagram reached the LAN')
    })
  } finally {
    await Promise.all(procs.map((p) => p.stop()))
    lab.down()
  }
})
