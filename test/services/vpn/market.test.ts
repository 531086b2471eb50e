/**
 * The market over real nodes: two exits announce signed provider records under service:vpn_exit in the DHT, the
 * client finds and ranks them (zeone vpn exits), pins one (zeone vpn use), and when that exit dies the next
 * stream goes to the other one at once.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import type { ZeoneNode } from '../../../src/node.js'
import { commands } from '../../../src/cli/commands/vpn.js'
import { decodeAnnouncement, encodeAnnouncement, ineligible, requiredStake, score, ZEO } from '../../../src/services/vpn/market.js'
import { httpGet, httpServer, pattern, socksConnect, socksPort, startVpnNode, tempDir } from './helpers.js'

function io() {
  let out = ''
  const w = new Writable({ write(c, _e, cb) { out += String(c); cb() } })
  return { io: { stdout: w, stderr: w }, out: () => out }
}
const cmd = (name: string) => commands.find((c) => c.name === name)!

test_pure()
function test_pure(): void {
  describe('market ranking (pure)', () => {
    it('announcements round-trip; malformed ones are ignored', () => {
      const a = { pricePerMiB: 123n, capacityMbps: 10, region: 'eu-west', policyDigest: 'ab'.repeat(32), stake: 1000n * ZEO }
      assert.deepEqual(decodeAnnouncement(encodeAnnouncement(a)), a)
      assert.equal(decodeAnnouncement(Uint8Array.of(0xff)), null)
      assert.equal(decodeAnnouncement(encodeAnnouncement({ ...a, policyDigest: 'ab' })), null)
    })
    it('filters by price and stake (capacity * 100 ZEO), ranks by rtt, price and trust', () => {
      const ann = { pricePerMiB: 100n, capacityMbps: 10, region: '', policyDigest: '', stake: 1000n * ZEO }
      assert.equal(requiredStake(10), 1000n * ZEO)
      assert.equal(ineligible({ ann }, 100n, true), undefined)
      assert.match(ineligible({ ann }, 99n, true)!, /price/)
      assert.match(ineligible({ ann: { ...ann, stake: 999n * ZEO } }, 100n, true)!, /stake/)
      assert.equal(ineligible({ ann: { ...ann, stake: 0n } }, 100n, false), undefined)
      // the chain's figure wins over the announced one
      assert.match(ineligible({ ann, verifiedStake: 0n }, 100n, true)!, /stake/)
      assert.match(ineligible({ ann, dead: true }, 100n, true)!, /dead/)
      assert.ok(score({ ann, rttMs: 5 }, 200n) < score({ ann, rttMs: 50 }, 200n))
      assert.ok(score({ ann: { ...ann, pricePerMiB: 10n }, rttMs: 5 }, 200n) < score({ ann, rttMs: 5 }, 200n))
      assert.ok(score({ ann, rttMs: 5, trust: 0.9 }, 200n) < score({ ann, rttMs: 5, trust: 0.1 }, 200n))
    })
  })
}

describe('VPN market over the DHT with failover', () => {
  let http: Awaited<ReturnType<typeof httpServer>>
  let a: ZeoneNode, b: ZeoneNode, c: ZeoneNode
  const dirs: Array<{ cleanup: () => void }> = []
  const BODY = pattern(200_000)

  before(async () => {
    http = await httpServer(BODY)
    const [db, dc, da] = [tempDir('mb'), tempDir('mc'), tempDir('ma')]
    dirs.push(db, dc, da)
    const exitCfg = { exit: { enabled: true, policy: [`accept 127.0.0.1:${http.port}`], capacityMbps: 1 } }
    b = await startVpnNode(db.dir, { dht: true, vpn: exitCfg })
    c = await startVpnNode(dc.dir, { dht: true, vpn: exitCfg, bootstrap: [`127.0.0.1:${b.listenAddress!.port}`] })
    a = await startVpnNode(da.dir, {
      dht: true, bootstrap: [`127.0.0.1:${b.listenAddress!.port}`, `127.0.0.1:${c.listenAddress!.port}`],
      vpn: { socks: { port: 0, requireStake: false } },
    })
  })
  after(async () => { await a?.stop(); await b?.stop(); await c?.stop(); await http?.close(); for (const d of dirs) d.cleanup() })

  it('finds both exits, pins one, fails over to the other when it dies', async () => {
    let rows: Array<{ nodeId: string; source: string; score: number | null; rttMs: number | null; pricePerMiB: string | null }> = []
    for (let i = 0; i < 50 && rows.length < 2; i++) {
      const o = io()
      assert.equal(await cmd('vpn exits').run({ positionals: [], flags: { 'data-dir': a.dataDir, refresh: true, json: true } }, o.io), 0)
      rows = JSON.parse(o.out())
      if (rows.length < 2) await new Promise((r) => setTimeout(r, 100))
    }
    assert.equal(rows.length, 2, JSON.stringify(rows))
    for (const r of rows) { assert.equal(r.source, 'dht'); assert.ok(r.score !== null && r.rttMs !== null); assert.equal(r.pricePerMiB, `${1024 * 1024}`) }
    const ids = new Set(rows.map((r) => r.nodeId))
    assert.ok(ids.has(b.identity.nodeIdB64) && ids.has(c.identity.nodeIdB64))

    const u = io()
    assert.equal(await cmd('vpn use').run({ positionals: [b.identity.nodeIdB64], flags: { 'data-dir': a.dataDir } }, u.io), 0)
    const get = async (): Promise<void> => {
      const s = await socksConnect(socksPort(a), '127.0.0.1', http.port, { literal: true })
      assert.equal(s.rep, 0)
      assert.ok((await httpGet(s.s, '/bytes/200000')).equals(BODY))
      s.s.destroy()
    }
    await get()
    assert.ok(b.services.get('vpnExit')!.counts.opened >= 1)
    assert.equal(c.services.get('vpnExit')!.counts.opened, 0)

    await b.stop()
    await get()
    assert.equal(c.services.get('vpnExit')!.counts.opened, 1)
    const st = io()
    assert.equal(await cmd('vpn status').run({ positionals: [], flags: { 'data-dir': a.dataDir } }, st.io), 0)
    assert.match(st.out(), /pinned/)
    const ex = io()
    await cmd('vpn exits').run({ positionals: [], flags: { 'data-dir': a.dataDir, json: true } }, ex.io)
    const after = JSON.parse(ex.out()) as Array<{ nodeId: string; dead: boolean }>
    assert.ok(after.find((r) => r.nodeId === b.identity.nodeIdB64)!.dead)
  })
})
