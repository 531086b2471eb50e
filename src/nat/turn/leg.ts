/**
 * The TURN leg of a connection: an allocation whose relayed address is offered as a `relay` candidate, and the path
 * through it once the peer's signed set is known (permission for its public IP, a TurnBridge proxy as a local-only
 * remote candidate, the normal checks). Used with the first signed offer (the peer's checks towards the relayed
 * address start in the same round) and by the late fallback after punching and relays failed.
 */
import type { Clock } from '../../interfaces/clock.js'
import { tagTurn } from '../../transport/stream-adapter.js'
import { NatError } from '../errors.js'
import { candidatePriority, type Candidate } from '../punch/candidates.js'
import type { PunchedPath, PunchSession } from '../punch/session.js'
import type { Rinfo, UdxDatagramSocket } from '../socket.js'
import { TurnBridge } from './bridge.js'
import { TurnClient } from './client.js'

export interface TurnLeg {
  /** The relayed transport address as a signed-set candidate (kind `relay`). */
  candidate: Candidate
  /** The TURN server (what the link reports as its far end). */
  server: Rinfo
  /** Opens the path through the allocation once `session` holds the peer's answer (or offer). */
  connect(session: PunchSession, signal: AbortSignal): Promise<PunchedPath>
  /** Closes the bridge and releases the allocation (idempotent). */
  release(): Promise<void>
}

export async function allocateTurnLeg(o: {
  socket: UdxDatagramSocket; server: Rinfo; username: string; password: string; clock: Clock; signal: AbortSignal
}): Promise<TurnLeg> {
  const turn = new TurnClient({ socket: o.socket, server: o.server, username: o.username, password: o.password, clock: o.clock })
  let bridge: TurnBridge | undefined
  let released: Promise<void> | undefined
  const release = (): Promise<void> => (released ??= (async () => { await bridge?.close(); await turn.close() })())
  try {
    const alloc = await turn.allocate(o.signal)
    return {
      candidate: { kind: 'relay', host: alloc.relayed.host, port: alloc.relayed.port, priority: candidatePriority('relay') },
      server: o.server,
      release,
      async connect(session, signal) {
        if (bridge) throw new NatError('nat_turn', 'TURN leg already used')
        const peerHost = session.remote?.candidates.find((c) => c.kind === 'srflx')?.host
        if (!peerHost) throw new NatError('nat_turn', 'peer has no public address for a TURN permission')
        bridge = new TurnBridge(turn, peerHost)
        const proxy = await bridge.start({ host: '127.0.0.1', port: o.socket.address().port })
        session.addRemoteCandidate({ kind: 'relay', host: proxy.host, port: proxy.port, priority: 1 })
        // no birthday sockets: the allocation is one fixed address on our side, the peer's checks come to it
        const path = await session.connect({ signal, birthday: false })
        // its link reports kind 'turn' and the TURN server as its far end (not the loopback proxy it talks to)
        tagTurn(path.stream, o.server)
        return { ...path, remote: o.server }
      },
    }
  } catch (err) {
    await release()
    throw err
  }
}
