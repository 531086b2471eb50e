import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Agent, canRunLab, NatLab } from './lab.js'
import { toHex } from '../../src/util/bytes.js'
import { randomBytes } from '../../src/crypto/sign.js'

const hasCoturn = (): boolean => { try { execFileSync('sh', ['-c', 'command -v turnserver'], { stdio: 'ignore' }); return true } catch { return false } }
const TURN = { host: '198.18.0.20', port: 3478 }

test('TURN client interop with coturn: 401 auth, allocate, permission, Send/Data indications, ChannelData, refresh, udx stream over TURN', { skip: !(canRunLab() && hasCoturn()) && 'needs root, netns, iptables and coturn', timeout: 400_000 }, async () => {
  const lab = new NatLab('t')
  const agents: Agent[] = []
  const dir = mkdtempSync(join(tmpdir(), 'zeone-coturn-'))
  let coturn: ReturnType<typeof spawn> | undefined
  try {
    lab.up('symmetric', 'symmetric')
    coturn = spawn('ip', ['netns', 'exec', lab.ns('turn'), 'turnserver', '-n', '--listening-ip=198.18.0.20', '--relay-ip=198.18.0.20',
      '--listening-port=3478', '--min-port=49152', '--max-port=65535', '--lt-cred-mech', '--user=natlab:natlab', '--realm=natlab.test',
      '--fingerprint', '--no-tls', '--no-dtls', '--no-cli', `--userdb=${dir}/turndb`, `--pidfile=${dir}/turn.pid`, '--log-file=stdout', '--simple-log'],
    { stdio: 'ignore' })
    const a = new Agent(lab.ns('hostA'), 'A'); agents.push(a)
    const b = new Agent(lab.ns('hostB'), 'B'); agents.push(b)
    const third = new Agent(lab.ns('stun'), 'third'); agents.push(third)
    await Promise.all([a, b, third].map((x) => x.call('init', { seed: toHex(randomBytes(32)) })))
    // wrong password: 401 after the realm/nonce round
    let wrong: Error | undefined
    for (let i = 0; i < 20; i++) { // coturn may still be starting: its first requests go unanswered
      try { await a.call('turn', { server: TURN, user: 'natlab', pass: 'nope' }) } catch (e) { wrong = e as Error }
      if (wrong && !/timed out/.test(wrong.message)) break
      await new Promise((r) => setTimeout(r, 250))
    }
    assert.match(String(wrong?.message), /401/)
    const { allocation } = await a.call('turn', { server: TURN, user: 'natlab', pass: 'natlab' }) as { allocation: { relayed: { host: string; port: number }; mapped: { host: string } } }
    assert.equal(allocation.relayed.host, '198.18.0.20')
    assert.equal(allocation.mapped.host, '198.18.0.101')
    const relayed = allocation.relayed
    await a.call('turn-permit', { peer: { host: '198.18.0.102', port: 9 } })
    // a peer without permission is filtered by the server
    await third.call('udp-send', { to: relayed, text: 'T from a stranger' })
    // B (behind a symmetric NAT) sends to the relayed address; A gets a Data indication naming B's mapped address
    await b.call('udp-send', { to: relayed, text: 'T hello from B' })
    const got = await a.call('wait', { via: 'turn' }) as { text: string; peer: { host: string; port: number } }
    assert.equal(got.text, 'T hello from B')
    assert.equal(got.peer.host, '198.18.0.102')
    // A answers with a Send indication, then over a bound channel (ChannelData both ways)
    await a.call('turn-send', { peer: got.peer, text: 'T send indication' })
    const r1 = await b.call('wait', { via: 'udp' }) as { text: string; peer: { host: string; port: number } }
    assert.equal(r1.text, 'T send indication')
    assert.deepEqual(r1.peer, relayed)
    const { channel } = await a.call('turn-bind', { peer: got.peer }) as { channel: number }
    assert.ok(channel >= 0x4000 && channel <= 0x4fff)
    await a.call('turn-send', { peer: got.peer, text: 'T channel data' })
    assert.equal((await b.call('wait', { via: 'udp' })).text, 'T channel data')
    await b.call('udp-send', { to: relayed, text: 'T back over the channel' })
    assert.equal((await a.call('wait', { via: 'turn' })).text, 'T back over the channel')
    const none = await a.call('wait', { via: 'turn', ms: 300 })
    assert.equal(none.timeout, true, 'the stranger\'s datagram was never relayed')
    await a.call('reset') // Refresh LIFETIME 0 releases the allocation
    // a reliable udx stream between two hosts behind symmetric NATs, carried by TURN (A's allocation)
    await Promise.all([a.call('init', { seed: toHex(randomBytes(32)) }), b.call('init', { seed: toHex(randomBytes(32)) })])
    const al = (await a.call('turn', { server: TURN, user: 'natlab', pass: 'natlab' })).allocation as { relayed: { host: string; port: number } }
    await a.call('turn-stream', { peerHost: '198.18.0.102', localId: 11, remoteId: 22 })
    await b.call('udx-stream', { to: al.relayed, localId: 22, remoteId: 11 })
    await a.call('raw-echo')
    const echoed = await b.call('raw-send', { bytes: 256 * 1024 }, 60_000)
    assert.equal(echoed.ok, true, '256 KiB echoed intact over udx through coturn')
    await a.call('reset')
    // full nodes behind two symmetric NATs, no relay node: the pair rules out direct paths, so A's first signed offer
    // already carries its TURN relayed address and the TURN path comes up after ONE signalling round trip (counted
    // at B: the offers it received), without trying a punch first
    const r = await third.call('node-start', { config: {
      node: { host: '198.18.0.10', port: 7000 },
      nat: { stunServer: { enabled: true, primary: '198.18.0.10:3478', alternate: '198.18.0.11:3479' } },
    } })
    const boot = { node: { host: '0.0.0.0', bootstrap: ['198.18.0.10:7000'] }, nat: {
      stunServers: ['198.18.0.10:3478'], rendezvous: [r.nodeId], punch: { timeoutMs: 3000 },
      turn: { servers: [{ server: '198.18.0.20:3478', username: 'natlab', password: 'natlab' }] },
    } }
    const [, nb] = await Promise.all([a.call('node-start', { config: boot, links: 1 }), b.call('node-start', { config: boot, links: 1 })])
    const res = await a.call('node-connect', { nodeId: nb.nodeId, bytes: 50_000 }, 60_000)
    assert.equal(res.method, 'turn')
    assert.equal((await b.call('node-offers')).offers, 1, 'one signalling round trip to the TURN path')
    assert.deepEqual(res.tried, ['turn'], 'neither a punch nor a relay node tried first for a pair that rules out direct paths')
    assert.equal(res.echoOk, true, 'echo over the authenticated link through coturn')
    // a multi-MiB content download over the TURN path, bytes checked
    const pub = await b.call('content-publish', { mib: 4 })
    const fetched = await a.call('content-fetch', { cid: pub.cid, nodeId: nb.nodeId }, 120_000)
    assert.equal(fetched.sha, pub.sha, 'the file fetched through coturn is the published one')
    // the answer side offers its TURN address too (issue 24): A has no TURN server and no relay node to fall back on,
    // B has a TURN server; B's first answer carries its relayed address and A's checks reach B through it, in the
    // same single signalling round
    const bare = { node: boot.node, nat: { ...boot.nat, turn: { servers: [] }, relay: { useRelays: false } } }
    const [, nb2] = await Promise.all([a.call('node-start', { config: bare, links: 1 }), b.call('node-start', { config: boot, links: 1 })])
    const res2 = await a.call('node-connect', { nodeId: nb2.nodeId, bytes: 50_000 }, 60_000) as { method: string; tried: string[]; remote: { host: string }; echoOk: boolean }
    assert.equal(res2.method, 'turn', 'a path through the addressee\'s allocation')
    assert.equal(res2.remote.host, TURN.host, 'A reaches B at B\'s relayed address')
    assert.deepEqual(res2.tried, ['udp'])
    assert.equal((await b.call('node-offers')).offers, 1, 'one signalling round trip')
    assert.equal(res2.echoOk, true)
    const pub2 = await b.call('content-publish', { mib: 4 })
    const fetched2 = await a.call('content-fetch', { cid: pub2.cid, nodeId: nb2.nodeId }, 120_000)
    assert.equal(fetched2.sha, pub2.sha, 'the file fetched through the addressee\'s TURN allocation is the published one')
  } finally {
    await Promise.all(agents.map((x) => x.stop()))
    coturn?.kill('SIGKILL')
    lab.down()
    rmSync(dir, { recursive: true, force: true })
  }
})
