/**
 * Carries a udx stream through a TURN allocation: a loopback datagram proxy stands in for the remote peer. The local
 * udx stream talks to the proxy; the proxy relays each datagram to the peer through TURN (ChannelData once the
 * peer's address is known and bound) and hands relayed datagrams back. The peer simply talks to the relayed address.
 */
import { NodeDatagramSocket, type Rinfo } from '../socket.js'
import type { TurnClient } from './client.js'

export class TurnBridge {
  readonly #turn: TurnClient
  readonly #peerHost: string
  #peer: Rinfo | undefined
  #proxy: NodeDatagramSocket | undefined
  #local: Rinfo | undefined
  #unsub: Array<() => void> = []
  #binding: Promise<unknown> | undefined

  /** `peerHost`: the peer's public IP (from its signed candidate set); its port is learned from its first datagram. */
  constructor(turn: TurnClient, peerHost: string) {
    this.#turn = turn
    this.#peerHost = peerHost
  }

  /**
   * Installs the permission and opens the proxy; returns the loopback address the local udx stream must target.
   * `local`: where the local udx socket receives on loopback (127.0.0.1 and its port).
   */
  async start(local: Rinfo): Promise<Rinfo> {
    this.#local = local
    await this.#turn.createPermission({ host: this.#peerHost, port: 9 })
    const proxy = await NodeDatagramSocket.bind(0, '127.0.0.1')
    this.#proxy = proxy
    this.#unsub.push(proxy.onMessage((buf, from) => {
      this.#local = from
      if (this.#peer) this.#turn.send(this.#peer, buf)
    }))
    this.#unsub.push(this.#turn.onData((d, from) => {
      if (from.host !== this.#peerHost) return
      if (!this.#peer) {
        this.#peer = from
        this.#binding = this.#turn.channelBind(from).catch(() => undefined)
      }
      if (this.#local && from.port === this.#peer.port) proxy.send(d, this.#local.port, this.#local.host)
    }))
    return proxy.address()
  }

  get peer(): Rinfo | undefined { return this.#peer }

  async close(): Promise<void> {
    for (const u of this.#unsub) u()
    this.#unsub = []
    await this.#binding
    await this.#proxy?.close()
  }
}
