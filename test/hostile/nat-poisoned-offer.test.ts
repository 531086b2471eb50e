/**
 * Hostile peer, issue 14 part 1: one signed offer whose candidate host is not an IP literal. Before the fix the offer
 * passed the check (host length only), the punch timer sent to it ~20 ms later, udx-native threw inside the timer and
 * the node process exited. The victim V is a real node process; the attacker never links to it, it signals through a
 * rendezvous R (`{to: V}`), then once more directly. An honest peer H linked to V must keep getting PONGs.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { attach as attachNat } from '../../src/nat/attach.js'
import { decodeAnswer, encodeSignal, NatMessageType } from '../../src/nat/messages.js'
import { candidatePriority, encodeCandidateSet, type Candidate } from '../../src/nat/punch/candidates.js'
import { fromB64 } from '../../src/util/bytes.js'
import type { AttachFn } from '../../src/interfaces/node-context.js'
import { sleep, waitLink } from './nat-helpers.js'

const here = fileURLToPath(new URL('.', import.meta.url))
const fromSource = import.meta.url.endsWith('.ts')
const fixture = join(here, 'fixtures', fromSource ? 'nat-node.ts' : 'nat-node.js')

interface Victim { child: ChildProcess; port: number; id: Uint8Array; exited: Promise<number | null> }

function spawnVictim(dir: string): Promise<Victim> {
  const config = {
    dataDir: dir, node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap: [] },
    ops: { httpPort: -1, logLevel: 'silent' }, nat: { udpHost: '127.0.0.1' },
  }
  const child = spawn(process.execPath, [...(fromSource ? ['--import', 'tsx'] : []), fixture, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    child.stderr!.on('data', (c: Buffer) => { err += c.toString() })
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString()
      const m = /\{"port":(\d+),"id":"([^"]+)"/.exec(out)
      if (m) resolve({ child, port: Number(m[1]), id: fromB64(m[2]!), exited })
    })
    void exited.then((code) => reject(new Error(`victim exited early (${code}): ${err.slice(-500)}`)))
  })
}


test('a signed offer with a non-IP candidate host, sent through a rendezvous and directly, does not take the victim process down', { timeout: 120_000 }, async (t) => {
  const dirs: string[] = []
  const nodes: ZeoneNode[] = []
  let victim: Victim | undefined
  t.after(async () => {
    if (victim && victim.child.exitCode === null) victim.child.kill('SIGKILL')
    for (const n of nodes.reverse()) await n.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })
  const mkDir = (): string => { const d = mkdtempSync(join(tmpdir(), 'zeone-hostile-nat-')); dirs.push(d); return d }
  const mk = async (layers: Array<[string, AttachFn]>): Promise<ZeoneNode> => {
    const n = createNode(validateConfig({
      dataDir: mkDir(), node: { port: 0, host: '127.0.0.1', bootstrap: [], legacy: false }, ops: { httpPort: -1, logLevel: 'silent' },
      nat: { udpHost: '127.0.0.1' },
    }), { layers })
    nodes.push(n)
    await n.start()
    return n
  }
  victim = await spawnVictim(mkDir())
  const v = victim
  let died = false
  void v.exited.then(() => { died = true })
  const rendezvous = await mk([['nat', attachNat]])
  const attacker = await mk([])
  const honest = await mk([])
  await rendezvous.transport!.dial({ host: '127.0.0.1', port: v.port })
  await honest.transport!.dial({ host: '127.0.0.1', port: v.port })
  await attacker.transport!.dial({ host: '127.0.0.1', port: rendezvous.listenAddress!.port })
  await waitLink(rendezvous, v.id)
  const hv = await waitLink(honest, v.id)
  assert.ok(await honest.transport!.ping!(hv) >= 0, 'the honest peer is served before the attack')

  const poisoned = (): Uint8Array => {
    const cands: Candidate[] = [
      { kind: 'host', host: '127.0.0.1', port: 9, priority: candidatePriority('host') },
      { kind: 'srflx', host: 'not-an-ip.invalid', port: 40000, priority: candidatePriority('srflx') },
    ]
    return encodeCandidateSet({
      from: attacker.identity.publicKey, to: v.id, sid: new Uint8Array(16).fill(7), eph: new Uint8Array(32).fill(9),
      streamId: 5, mapping: 'endpoint-independent', filtering: 'endpoint-independent', candidates: cands, ts: Date.now(),
    }, attacker.identity)
  }
  // 1. through the rendezvous: the attacker has no link to V at all
  const ar = await waitLink(attacker, rendezvous.identity.publicKey)
  const viaR = decodeAnswer((await ar.request(NatMessageType.NAT_SIGNAL, encodeSignal({ v: 1, to: v.id, offer: poisoned() }), { timeoutMs: 10_000 })).body)
  // the old code's punch timer fired ~20 ms after answering; give it far longer (the exit is watched, not raced)
  await Promise.race([sleep(1500), v.exited])
  assert.equal(died, false, 'the victim process is still running after the offer through the rendezvous')
  assert.equal(viaR.answer, undefined, 'the poisoned offer is refused, not answered')
  assert.match(viaR.error ?? '', /nat_bad_candidates/)
  assert.ok(await honest.transport!.ping!(hv) >= 0, 'the honest peer is still served')

  // 2. directly: the attacker links to V and sends NAT_SIGNAL_DELIVER itself
  await attacker.transport!.dial({ host: '127.0.0.1', port: v.port })
  const av = await waitLink(attacker, v.id)
  const direct = decodeAnswer((await av.request(NatMessageType.NAT_SIGNAL_DELIVER, encodeSignal({ v: 1, offer: poisoned() }), { timeoutMs: 10_000 })).body)
  await Promise.race([sleep(1500), v.exited])
  assert.equal(died, false, 'the victim process is still running after the direct offer')
  assert.match(direct.error ?? '', /nat_bad_candidates/)
  assert.ok(await honest.transport!.ping!(hv) >= 0, 'the honest peer is still served')
})
