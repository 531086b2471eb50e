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
import { isIP } from 'node:net'
import { addressClass } from '../../util/address-class.js'
import type { NatErrorSink } from '../guard.js'
import {
  candidateFamily, candidatePriority, decodeCandidateSet, deriveProbeKey, encodeCandidateSet, ephemeralKey,
  type Candidate, type CandidateSet, type EphemeralKey,
} from './candidates.js'
import { punch, type PunchOptions, type PunchResult } from './puncher.js'
import { tcpSimultaneousOpen } from './tcp-open.js'
import type { Socket } from 'node:net'
import type { Rinfo } from '../socket.js'

/** Most private host candidates of a peer behind our own NAT that we check towards (see targets()). */
export const SAME_NAT_HOST_CANDIDATES = 2

/** Most birthday sockets the controlled side opens for a peer that called it (our own calls use birthdaySockets). */
export const INBOUND_BIRTHDAY_SOCKETS = 64

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
  /** May we send to this remote candidate host at all (the node's AddressPolicy)? @default every host */
  allowTarget?: (host: string) => boolean
  /**
   * Controlled side only: the IPs the signalling peer was observed at (by the rendezvous or over our own link). Only
   * candidates at these IPs get unsolicited checks or a TCP connect; any other address is answered only after an
   * authenticated check came from it. Absent: nothing is proven, we only answer.
   */
  provenHosts?: readonly string[]
  /**
   * Controlled side: TURN servers we know ourselves (our own turn.servers). A `relay` candidate at one of these IPs
   * is probed like a proven one (the peer's checks through a TURN allocation reach a symmetric NAT only after we sent
   * to the allocation first); a relay candidate elsewhere is, like any unproven address, only answered.
   */
  trustedRelayHosts?: readonly string[]
  /** Checks the controlled side sends to not-yet-heard addresses. @default 50 */
  unsolicitedChecks?: number
  /** Controlled side: give up when the peer sent no authenticated check within this long. @default 4000 */
  idleMs?: number
  /** Controlled side: take part in the birthday approach towards the proven IP (bounded). @default true */
  inboundBirthday?: boolean
  /** Errors contained in punch callbacks. */
  onError?: NatErrorSink
  /** Every probe sent (metrics). */
  onSent?: (role: 0 | 1) => void
  /** Every extra socket opened for the birthday approach (metrics). */
  onSocket?: () => void
  /** Binds the extra sockets of the birthday approach and synchronised pairs. @default UdxDatagramSocket.bind */
  bindUdp?: (port: number, host: string) => UdxDatagramSocket
  /** Session and stream ids. @default node:crypto randomBytes */
  random?: (n: number) => Uint8Array
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
  readonly #streamId: number
  #role: 0 | 1 = 0
  #sid: Uint8Array | undefined
  #offerEph: Uint8Array | undefined
  #remote: CandidateSet | undefined
  /** Remote candidates we added ourselves (a TURN proxy on loopback): not subject to the address rules. */
  readonly #ownRemotes: Candidate[] = []

  constructor(init: PunchSessionInit) {
    this.#init = init
    this.#clock = init.clock ?? systemClock
    this.#random = init.random ?? ((n) => new Uint8Array(randomBytes(n)))
    this.#streamId = Buffer.from(this.#random(4)).readUInt32BE(0) >>> 1 || 1
  }

  readonly #random: (n: number) => Uint8Array

  localCandidates(): Candidate[] {
    const { host: bound, port } = this.#init.socket.address()
    const out: Candidate[] = [...(this.#init.candidates ?? []), ...this.#extraLocal]
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

  /**
   * The remote candidates we may send to: same IP family as our socket, allowed by the address policy and, on the
   * controlled side, at an IP the signalling peer was observed at (what a caller names is otherwise unproven: a
   * third party's address, which we must not probe or connect to on the caller's word).
   */
  targets(): Candidate[] {
    const fam = isIP(this.#init.socket.address().host) === 6 ? 6 : 4
    const allow = this.#init.allowTarget ?? (() => true)
    const proven = this.#role === 1 ? new Set(this.#init.provenHosts ?? []) : undefined
    const turn = new Set(this.#init.trustedRelayHosts ?? [])
    const lan = this.#sameNatLan()
    const named = (this.#remote?.candidates ?? []).filter((c) =>
      candidateFamily(c.host) === fam && (allow(c.host) || lan.has(c)) && (!proven || proven.has(c.host) || (c.kind === 'relay' && turn.has(c.host))))
    return [...named, ...this.#ownRemotes]
  }

  /**
   * Two nodes behind one NAT (the peer's srflx address is at our own public IP, and the NAT need not hairpin): its
   * private-range host candidates are on our side of the NAT, so the caller checks towards them although the address
   * policy refuses private addresses a peer names. Bounded (SAME_NAT_HOST_CANDIDATES) and only RFC 1918 / ULA ranges:
   * a peer claiming our public IP gets a few MACed checks to LAN addresses, no more (ICE sends as much to any host
   * candidate).
   */
  #sameNatLan(): Set<Candidate> {
    const cands = this.#remote?.candidates ?? []
    const ours = this.#init.nat.publicAddr.host
    if (this.#init.nat.mapping === 'none' || !cands.some((c) => c.kind === 'srflx' && c.host === ours)) return new Set()
    return new Set(cands.filter((c) => c.kind === 'host' && addressClass(c.host) === 'private').slice(0, SAME_NAT_HOST_CANDIDATES))
  }

  /** TCP simultaneous open towards the remote's `tcp` candidate (when UDP is blocked). */
  async tcpOpen(opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<{ socket: Socket; remote: Rinfo }> {
    const c = this.targets().find((x) => x.kind === 'tcp')
    if (!c || !this.#init.tcpPort) throw new NatError('nat_no_tcp', 'no TCP candidate on one side')
    const remote = { host: c.host, port: c.port }
    const socket = await tcpSimultaneousOpen({ localPort: this.#init.tcpPort, remote, clock: this.#clock, ...opts })
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
    this.#sid = this.#random(16)
    this.#offerEph = this.#eph.publicKey
    return this.#set(this.#sid)
  }

  /** Responder: verifies the offer and returns the signed answer. */
  answer(offer: Uint8Array): Uint8Array {
    this.receiveOffer(offer)
    return this.signedAnswer()
  }

  /** Responder, first half: verifies the offer (the pair is then known: `remote`). */
  receiveOffer(offer: Uint8Array): CandidateSet {
    this.#role = 1
    this.#remote = decodeCandidateSet(offer, this.#init.remoteId, this.#init.identity.publicKey, this.#clock.now())
    this.#sid = this.#remote.sid
    this.#offerEph = this.#remote.eph
    return this.#remote
  }

  /**
   * Responder, second half: the signed answer, with `extra` local candidates (a TURN relayed address allocated once
   * the offer showed the pair needs one).
   */
  signedAnswer(extra: Candidate[] = []): Uint8Array {
    if (this.#role !== 1 || !this.#sid) throw new NatError('nat_session', 'no offer received')
    this.#extraLocal.push(...extra)
    return this.#set(this.#sid)
  }

  readonly #extraLocal: Candidate[] = []

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
    this.#ownRemotes.push(c)
  }

  /** Runs the checks and opens the udx stream on the punched path. */
  async connect(opts: { signal?: AbortSignal; syncAt?: number; birthday?: false } = {}): Promise<PunchedPath> {
    const remote = this.#remote
    if (!remote || !this.#sid || !this.#offerEph) throw new NatError('nat_session', 'signalling not complete')
    const answerEph = this.#role === 0 ? remote.eph : this.#eph.publicKey
    const key = deriveProbeKey(this.#eph, remote.eph, this.#sid, this.#offerEph, answerEph)
    const role = this.#role
    const init = this.#init
    const r = await punch({
      ...init.punch, role, key, sid: this.#sid, primary: init.socket,
      remote: { candidates: this.targets(), mapping: remote.mapping }, selfMapping: init.nat.mapping,
      // the birthday approach (hundreds of sockets, thousands of probes) only for a connection we chose to make
      // (or, when configured, a bounded part towards the proven IP only: targets() holds nothing else)
      ...(role === 1 ? {
        birthday: (init.inboundBirthday ?? true) && (init.punch?.birthday ?? true),
        birthdaySockets: Math.min(init.punch?.birthdaySockets ?? 256, INBOUND_BIRTHDAY_SOCKETS), maxSprayProbes: Math.min(init.punch?.maxSprayProbes ?? 8000, 2000),
        unsolicitedChecks: init.unsolicitedChecks ?? 50, idleMs: init.idleMs ?? 4000,
      } : {
        // the controlled peer opens at most INBOUND_BIRTHDAY_SOCKETS (a quarter of the default 256): spraying
        // proportionally faster keeps the expected time to a hit; the total stays maxSprayProbes
        sprayPps: (init.punch?.sprayPps ?? 250) * (256 / INBOUND_BIRTHDAY_SOCKETS),
      }),
      ...(opts.birthday === false ? { birthday: false } : {}),
      openSocket: async (port = 0) => {
        const s = (init.bindUdp ?? UdxDatagramSocket.bind)(port, '0.0.0.0')
        if (init.onError) s.errorSink = init.onError
        init.onSocket?.()
        return s
      },
      clock: this.#clock, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.syncAt !== undefined ? { syncAt: opts.syncAt } : {}),
      ...(init.onError ? { onError: init.onError } : {}), onSent: () => init.onSent?.(role),
    })
    const sock = r.socket as DatagramSocket
    if (!(sock instanceof UdxDatagramSocket)) throw new NatError('nat_socket', 'punched socket is not a udx socket')
    const stream = getUdx().createStream(this.#streamId)
    stream.connect(sock.raw, remote.streamId, r.remote.port, r.remote.host)
    return { ...r, stream, remoteMapping: remote.mapping }
  }
}
