/**
 * Hole punching: ICE-style prioritised, paced connectivity checks (RFC 8445 §6.1.4: one check per Ta), and the
 * birthday approach when one side's NAT maps per destination (the hard side opens many sockets towards the easy
 * side, the easy side probes random ports at the hard side's public IP). When both NATs claim endpoint-independent
 * mapping but plain checks fail (e.g. an early packet made a NAT remap our port), it escalates to the birthday
 * approach with the controlled side as the hard side. Probes are MAC-authenticated (probe.ts). The controlling side
 * nominates the first pair that answered; the controlled side adopts the nominated (socket, address).
 */
import { systemClock, type Clock } from '../../interfaces/clock.js'
import { AbortedError } from '../../util/errors.js'
import { NatError } from '../errors.js'
import { contain, unownedErrorSink, type NatErrorSink } from '../guard.js'
import type { DatagramSocket, Rinfo } from '../socket.js'
import type { Candidate } from './candidates.js'
import { decodeProbe, encodeProbe, ProbeKind, type Probe } from './probe.js'
import { syncPlan, syncSpanMs } from './sync.js'

export interface PunchOptions {
  /** Pacing between two checks (RFC 8445 Ta). @default 20 */
  paceMs?: number
  /** Sockets the hard side opens for the birthday approach. @default 256 */
  birthdaySockets?: number
  /** Random-port probes per second from the easy side (polite default). @default 250 */
  sprayPps?: number
  /** Most random-port probes in one attempt. @default 8000 */
  maxSprayProbes?: number
  /** How long plain checks run between two endpoint-independent NATs before escalating. @default 1500 */
  escalateAfterMs?: number
  /** Give up after this long. @default 15000 */
  timeoutMs?: number
  /** Try the birthday approach at all. @default true */
  birthday?: boolean
  /**
   * Checks sent, in total, to remote addresses no authenticated probe has come from yet (the controlled side uses a
   * small budget: what a peer that called us names is not proven, so we open our NAT towards it briefly and then
   * only answer). @default Infinity
   */
  unsolicitedChecks?: number
  /** Give up when no authenticated probe arrived within this long (0 = only `timeoutMs`). @default 0 */
  idleMs?: number
}

export interface PunchInit extends PunchOptions {
  /** 0 = controlling (initiator), 1 = controlled. */
  role: 0 | 1
  key: Uint8Array
  sid: Uint8Array
  primary: DatagramSocket
  remote: { candidates: Candidate[]; mapping: string }
  selfMapping: string
  /** Opens one extra socket: on any port for the birthday approach (the hard side), on `port` for a synchronised pair. */
  openSocket: (port?: number) => Promise<DatagramSocket>
  /**
   * When both mappings are endpoint-independent: the clock time both sides agreed in the signalling for the
   * escalation (sync.ts), instead of `escalateAfterMs` after this call. Synchronised fresh pairs run only with it.
   */
  syncAt?: number
  clock?: Clock
  random?: () => number
  signal?: AbortSignal
  /** A throw inside a timer, socket callback or send ends this attempt and is reported here. */
  onError?: NatErrorSink
  /** Called for every datagram sent (metrics). */
  onSent?: () => void
}

export type PunchMethod = 'direct' | 'birthday' | 'sync'

export interface PunchResult {
  socket: DatagramSocket
  remote: Rinfo
  method: PunchMethod
  /** Checks and random-port probes sent. */
  probesSent: number
  /** Stops answering late nominations on the chosen socket. */
  dispose(): void
}

/** A NAT that keeps one mapping for all destinations (or none, or unknown: try as if it did). */
const easy = (m: string): boolean => m !== 'address-dependent' && m !== 'address-port-dependent'

export function punch(init: PunchInit): Promise<PunchResult> {
  const clock = init.clock ?? systemClock
  const random = init.random ?? Math.random
  const pace = init.paceMs ?? 20
  const remoteRole: 0 | 1 = init.role === 0 ? 1 : 0
  const selfEasy = easy(init.selfMapping)
  const remoteEasy = easy(init.remote.mapping)
  const cands = [...init.remote.candidates].filter((c) => c.kind !== 'tcp')
    .sort((a, b) => b.priority - a.priority)
  const srflx = cands.filter((c) => c.kind === 'srflx')
  const sockets: { s: DatagramSocket; primary: boolean; unsub: () => void; sync?: boolean }[] = []
  const timers = new Set<{ cancel(): void }>()
  let seq = 1
  let probesSent = 0
  let done = false
  let nominating: { s: DatagramSocket; to: Rinfo } | undefined
  const sink = init.onError ?? unownedErrorSink
  /** "host:port" of every remote address an authenticated probe came from (proven to be the peer's). */
  const heard = new Set<string>()
  let unsolicited = init.unsolicitedChecks ?? Infinity
  /**
   * A birthday role is running: no check can arrive before a random-port probe hits one of the hard side's mappings
   * (seconds at the polite rates), so the idle cutoff waits for `timeoutMs` instead (what is sent stays bounded by
   * the socket and probe caps, and aimed only at the remote's srflx addresses).
   */
  let birthdayRunning = false
  /** Ports our random-port spray aimed at: a path to one of them is the birthday approach's, any other is not. */
  const sprayed = new Set<number>()

  return new Promise<PunchResult>((resolve, reject) => {
    const later = (ms: number, fn: () => void): void => {
      const t = clock.setTimeout(() => { timers.delete(t); if (!done) contain('punch.timer', sink, fn, fail) }, ms)
      timers.add(t)
    }
    const send = (s: DatagramSocket, to: Rinfo, kind: number, echo = 0): void => {
      probesSent++
      init.onSent?.()
      s.send(encodeProbe(init.key, init.sid, init.role, { kind, seq: seq++, echo }), to.port, to.host)
    }
    const cleanup = (keep?: DatagramSocket): void => {
      done = true
      init.signal?.removeEventListener('abort', onAbort)
      for (const t of timers) t.cancel()
      timers.clear()
      for (const x of sockets) {
        x.unsub()
        if (x.s !== keep && !x.primary) void x.s.close()
      }
    }
    const finish = (s: DatagramSocket, to: Rinfo): void => {
      if (done) return
      const own = sockets.find((x) => x.s === s)
      const primary = own?.primary ?? true
      const known = cands.some((c) => c.host === to.host && c.port === to.port)
      cleanup(s)
      // keep answering a late NOMINATE (our NOMINATE_ACK may be lost) until the caller disposes
      const unsub = s.onMessage((buf, from) => contain('punch.message', sink, () => {
        const p = decodeProbe(buf, init.key, init.sid, remoteRole)
        if (p?.kind === ProbeKind.nominate) send(s, from, ProbeKind.nominateAck, p.seq)
      }))
      // 'birthday' only when it took the birthday approach: one of our extra sockets, or a port our spray guessed;
      // a peer-reflexive port we merely answered (full cone <-> symmetric) is a plain punch
      const guessed = !known && srflx.some((c) => c.host === to.host) && sprayed.has(to.port)
      const method: PunchMethod = own?.sync ? 'sync' : !primary || guessed ? 'birthday' : 'direct'
      resolve({ socket: s, remote: to, method, probesSent, dispose: unsub })
    }
    function fail(err: unknown): void {
      if (done) return
      cleanup()
      reject(err instanceof Error ? err : new NatError('nat_punch_failed', String(err)))
    }
    const onAbort = (): void => fail(new AbortedError('punch aborted'))
    if (init.signal?.aborted) { reject(new AbortedError('punch aborted')); return }
    init.signal?.addEventListener('abort', onAbort, { once: true })

    const onProbe = (s: DatagramSocket, p: Probe, from: Rinfo): void => {
      switch (p.kind) {
        case ProbeKind.check:
          send(s, from, ProbeKind.ack, p.seq)
          // triggered check (RFC 8445 §7.3.1.4): the controlling side needs an ACK on this pair to nominate it
          if (init.role === 0 && !nominating) send(s, from, ProbeKind.check)
          return
        case ProbeKind.ack:
          if (init.role === 0 && !nominating) {
            nominating = { s, to: from }
            const nominate = (n: number): void => {
              if (n === 0) return
              send(s, from, ProbeKind.nominate)
              later(50, () => nominate(n - 1))
            }
            nominate(40)
          }
          return
        case ProbeKind.nominate:
          if (init.role === 1) { send(s, from, ProbeKind.nominateAck, p.seq); finish(s, from) }
          return
        case ProbeKind.nominateAck:
          if (init.role === 0 && nominating && nominating.s === s) finish(s, from)
          return
      }
    }
    const watch = (s: DatagramSocket, primary: boolean, sync = false): void => {
      const unsub = s.onMessage((buf, from) => {
        if (done) return
        contain('punch.message', sink, () => {
          const p = decodeProbe(buf, init.key, init.sid, remoteRole)
          if (!p) return
          heard.add(`${from.host}:${from.port}`)
          onProbe(s, p, from)
        }, fail)
      })
      sockets.push({ s, primary, unsub, sync })
    }
    watch(init.primary, true)

    // 1. paced ordinary checks from the primary socket, round robin over the remote candidates by priority
    let next = 0
    const checkLoop = (): void => {
      if (cands.length === 0 || nominating) return
      for (let i = 0; i < cands.length; i++) {
        const c = cands[next++ % cands.length]!
        if (heard.has(`${c.host}:${c.port}`)) { send(init.primary, c, ProbeKind.check); break }
        if (unsolicited > 0) { unsolicited--; send(init.primary, c, ProbeKind.check); break }
      }
      later(pace, checkLoop)
    }
    contain('punch.check', sink, checkLoop, fail)

    // 2. birthday roles
    const startHard = async (): Promise<void> => {
      birthdayRunning = true
      const n = init.birthdaySockets ?? 256
      for (let i = 0; i < n && !done; i++) {
        let s: DatagramSocket
        try { s = await init.openSocket() } catch { break }
        if (done) { void s.close(); return }
        watch(s, false)
        for (const c of srflx) send(s, c, ProbeKind.check)
      }
      const refresh = (): void => {
        if (nominating) return
        for (const x of sockets) if (!x.primary) for (const c of srflx) send(x.s, c, ProbeKind.check)
        later(2000, refresh)
      }
      later(2000, refresh)
    }
    const startEasy = (): void => {
      const host = srflx[0]?.host
      if (!host) return
      birthdayRunning = true
      const pps = init.sprayPps ?? 250
      const tick = Math.max(pace, 10)
      let budget = init.maxSprayProbes ?? 8000
      let carry = 0
      const spray = (): void => {
        if (nominating || budget <= 0) return
        carry += (pps * tick) / 1000
        while (carry >= 1 && budget > 0) {
          carry--; budget--
          const port = 1024 + Math.floor(random() * (65536 - 1024))
          sprayed.add(port)
          send(init.primary, { host, port }, ProbeKind.check)
        }
        later(tick, spray)
      }
      spray()
    }
    // 3. synchronised fresh pairs (sync.ts): their first checks cross in flight at the agreed time
    const startSync = async (at: number): Promise<void> => {
      const host = srflx[0]?.host
      if (!host) return
      for (const p of syncPlan(init.key, init.role)) {
        let s: DatagramSocket
        try { s = await init.openSocket(p.local) } catch { continue }
        if (done) { void s.close(); return }
        watch(s, false, true)
        const to = { host, port: p.remote }
        // a few checks: the first opens (or clashes) the tuple, the others carry the check if the first was lost
        const first = Math.max(0, at + p.offsetMs - clock.now())
        for (const k of [0, 30, 300, 1000]) later(first + k, () => { if (!nominating) send(s, to, ProbeKind.check) })
      }
    }
    const birthday = init.birthday ?? true
    if (birthday && srflx.length > 0) {
      if (!selfEasy && remoteEasy) startHard().catch(fail)
      else if (selfEasy && !remoteEasy) contain('punch.spray', sink, startEasy, fail)
      else if (selfEasy && remoteEasy) {
        // Both claim endpoint-independent mapping yet no check got through: an early packet may have made one NAT
        // remap our port (conntrack clash). Each side then plays both birthday roles: whichever NAT was affected,
        // one combination (its fresh sockets, the other's spray) avoids the clashed mapping.
        const after = init.escalateAfterMs ?? 1500
        const at = init.syncAt
        // the pairs' sockets open a little before the agreed time, so binding them does not delay their first checks
        if (at !== undefined) later(Math.max(0, at - 100 - clock.now()), () => { if (!nominating) startSync(at).catch(fail) })
        // the birthday roles open hundreds of sockets in one go (tens of ms without yielding): they start once the
        // synchronised pairs have all sent their first check, or the stall would shift the pairs around `at`
        later(at !== undefined ? Math.max(0, at + syncSpanMs() + 20 - clock.now()) : after, () => {
          if (nominating) return
          startHard().catch(fail); startEasy()
        })
      }
    }
    // both NATs map per destination: no technique here finds a path, give up early so a relay takes over
    const hopeless = !selfEasy && !remoteEasy
    const timeout = hopeless ? Math.min(init.timeoutMs ?? 15000, 3000) : init.timeoutMs ?? 15000
    const idle = init.idleMs ?? 0
    const silent = (): NatError => new NatError('nat_punch_failed', 'the peer sent no check')
    later(timeout, () => fail(idle > 0 && birthdayRunning && heard.size === 0 ? silent() : new NatError('nat_punch_failed', 'no direct path found')))
    if (idle > 0) later(idle, () => { if (heard.size === 0 && !birthdayRunning) fail(silent()) })
  })
}
