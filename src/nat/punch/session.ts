/**
 * One punch attempt between two nodes: builds and checks the signed offer/answer, derives the probe key, runs the
 * puncher and opens a udx stream over the punched path. Signalling transport is the caller's business (a rendezvous
 * link, see signalling.ts): this class only turns bytes into bytes and a path.
 */
import { randomBytes } from 'node:crypto'
import { networkInterfaces } from 'node:os'
import type { Identity } from '../../crypto/identity.js'
import { systemClock, type Clock } from '../../interfaces/clock.js'
import { NatError } from '../errors.js'
import type { NatBehavior } from '../discovery.js'
import { getUdx, UdxDatagramSocket, type DatagramSocket, type UdxStreamLike } from '../socket.js'
import {
  candidatePriority, decodeCandidateSet, deriveProbeKey, encodeCandidateSet, ephemeralKey,
  type Candidate, type CandidateSet, type EphemeralKey,
} from './candidates.js'
import { punch, type PunchOptions, type PunchResult } from './puncher.js'
import { tcpSimultaneousOpen } from './tcp-open.js'
import type { Socket } from 'node:net'
import type { Rinfo } from '../socket.js'

export interface PunchSessionInit {
  identity: Identity
  remoteId: Uint8Array
  /** The local udx socket that did the STUN discovery (its mapping is the one advertised). */
  socket: UdxDatagramSocket
  nat: NatBehavior
  /** Extra local candidates; host candidates of the local interfaces are added unless `hostCandidates` is false. */
  candidates?: Candidate[]
  /** @default true */
  hostCandidates?: boolean
  clock?: Clock
  punch?: PunchOptions
  /** Local TCP port for simultaneous open (advertised as `tcp` candidates); none = no TCP fallback. */
  tcpPort?: number
}

export interface PunchedPath extends PunchResult {
  stream: UdxStreamLike
  /** NAT mapping of the remote side, from its signed set. */
  remoteMapping: string
}

export class PunchSession {
  readonly #init: PunchSessionInit
  readonly #clock: Clock
  readonly #eph: EphemeralKey = ephemeralKey()
  readonly #streamId = randomBytes(4).readUInt32BE(0) >>> 1 || 1
  #role: 0 | 1 = 0
  #sid: Uint8Array | undefined
  #offerEph: Uint8Array | undefined
  #remote: CandidateSet | undefined

  constructor(init: PunchSessionInit) {
    this.#init = init
    this.#clock = init.clock ?? systemClock
  }

  localCandidates(): Candidate[] {
    const { host: bound, port } = this.#init.socket.address()
    const out: Candidate[] = [...(this.#init.candidates ?? [])]
    if (bound !== '0.0.0.0' && bound !== '::') out.push({ kind: 'host', host: bound, port, priority: candidatePriority('host') })
    if (this.#init.hostCandidates ?? true) {
      let pref = 65535
      for (const list of Object.values(networkInterfaces())) {
        for (const i of list ?? []) {
          if (i.family === 'IPv4' && !i.internal) out.push({ kind: 'host', host: i.address, port, priority: candidatePriority('host', pref--) })
        }
      }
    }
    const pub = this.#init.nat.publicAddr
    if (pub.port > 0 && !out.some((c) => c.host === pub.host && c.port === pub.port)) {
      out.push({ kind: 'srflx', host: pub.host, port: pub.port, priority: candidatePriority('srflx') })
    }
    const tcp = this.#init.tcpPort
    if (tcp && pub.port > 0) out.push({ kind: 'tcp', host: pub.host, port: tcp, priority: candidatePriority('tcp') })
    return out.slice(0, 16)
  }

  /** TCP simultaneous open towards the remote's `tcp` candidate (when UDP is blocked). */
  async tcpOpen(opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<{ socket: Socket; remote: Rinfo }> {
    const c = this.#remote?.candidates.find((x) => x.kind === 'tcp')
    if (!c || !this.#init.tcpPort) throw new NatError('nat_no_tcp', 'no TCP candidate on one side')
    const remote = { host: c.host, port: c.port }
    const socket = await tcpSimultaneousOpen({ localPort: this.#init.tcpPort, remote, ...opts })
    return { socket, remote }
  }

  #set(sid: Uint8Array): Uint8Array {
    return encodeCandidateSet({
      from: this.#init.identity.publicKey, to: this.#init.remoteId, sid, eph: this.#eph.publicKey,
      streamId: this.#streamId, mapping: this.#init.nat.mapping, filtering: this.#init.nat.filtering,
      candidates: this.localCandidates(), ts: this.#clock.now(),
    }, this.#init.identity)
  }

  /** Initiator: the signed offer to send to the remote through the rendezvous. */
  offer(): Uint8Array {
    this.#role = 0
    this.#sid = new Uint8Array(randomBytes(16))
    this.#offerEph = this.#eph.publicKey
    return this.#set(this.#sid)
  }

  /** Responder: verifies the offer and returns the signed answer. */
  answer(offer: Uint8Array): Uint8Array {
    this.#role = 1
    this.#remote = decodeCandidateSet(offer, this.#init.remoteId, this.#init.identity.publicKey, this.#clock.now())
    this.#sid = this.#remote.sid
    this.#offerEph = this.#remote.eph
    return this.#set(this.#sid)
  }

  /** Initiator: verifies the answer (same session id). */
  acceptAnswer(answer: Uint8Array): void {
    const set = decodeCandidateSet(answer, this.#init.remoteId, this.#init.identity.publicKey, this.#clock.now())
    if (!this.#sid || Buffer.compare(set.sid, this.#sid) !== 0) throw new NatError('nat_session', 'answer for another session')
    this.#remote = set
  }

  get remote(): CandidateSet | undefined { return this.#remote }

  /** Adds a local-only way to reach the remote (e.g. the loopback proxy of a TURN allocation). */
  addRemoteCandidate(c: Candidate): void {
    if (!this.#remote) throw new NatError('nat_session', 'signalling not complete')
    this.#remote = { ...this.#remote, candidates: [...this.#remote.candidates, c] }
  }

  /** Runs the checks and opens the udx stream on the punched path. */
  async connect(opts: { signal?: AbortSignal } = {}): Promise<PunchedPath> {
    const remote = this.#remote
    if (!remote || !this.#sid || !this.#offerEph) throw new NatError('nat_session', 'signalling not complete')
    const answerEph = this.#role === 0 ? remote.eph : this.#eph.publicKey
    const key = deriveProbeKey(this.#eph, remote.eph, this.#sid, this.#offerEph, answerEph)
    const r = await punch({
      ...this.#init.punch, role: this.#role, key, sid: this.#sid, primary: this.#init.socket,
      remote: { candidates: remote.candidates, mapping: remote.mapping }, selfMapping: this.#init.nat.mapping,
      openSocket: async () => UdxDatagramSocket.bind(0, '0.0.0.0'),
      clock: this.#clock, ...(opts.signal ? { signal: opts.signal } : {}),
    })
    const sock = r.socket as DatagramSocket
    if (!(sock instanceof UdxDatagramSocket)) throw new NatError('nat_socket', 'punched socket is not a udx socket')
    const stream = getUdx().createStream(this.#streamId)
    stream.connect(sock.raw, remote.streamId, r.remote.port, r.remote.host)
    return { ...r, stream, remoteMapping: remote.mapping }
  }
}
