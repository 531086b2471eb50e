/**
 * One end of a relay circuit as a Duplex: writes become NAT_RELAY_DATA messages on the link to the relay (split
 * into chunks, respecting the link's backpressure); NAT_RELAY_DATA for this circuit is pushed as readable data.
 * The transport runs its handshake and frames over it, so the relay only ever sees ciphertext.
 */
import { Duplex } from 'node:stream'
import type { Link } from '../../interfaces/link.js'
import { duplexAdapter, STREAM_ADAPTER, type AdaptableStream, type StreamAdapter } from '../../transport/stream-adapter.js'
import { encodeRelayCtl, encodeRelayData, MAX_RELAY_CHUNK, NatMessageType } from '../messages.js'

export class CircuitStream extends Duplex implements AdaptableStream {
  readonly relay: Link
  readonly circuit: number
  #unClose: () => void
  #closedByPeer = false

  constructor(relay: Link, circuit: number) {
    super({ allowHalfOpen: true })
    this.relay = relay
    this.circuit = circuit
    this.#unClose = relay.onClose(() => this.destroy())
  }

  /** Called by the endpoint manager with data the relay delivered for this circuit. */
  deliver(d: Uint8Array): void { if (!this.destroyed) this.push(Buffer.from(d)) }

  /** No more data from us on this circuit (we moved to a direct path); DATA already sent stays ahead of it. */
  sendSwitch(): void {
    if (!this.relay.closed) this.relay.send(NatMessageType.NAT_RELAY_SWITCH, encodeRelayCtl({ v: 1, c: this.circuit }))
  }

  /** Both sides switched: drop the circuit locally without telling the relay (it dropped it already). */
  release(): void { this.#closedByPeer = true; this.destroy() }

  /** The relay or the peer closed the circuit. */
  remoteClose(): void { this.#closedByPeer = true; this.destroy() }

  /** The peer sent NAT_RELAY_SWITCH: its relayed bytes end here ('end' fires after the last one is read). */
  remoteSwitch(): void { if (!this.destroyed) this.push(null) }

  override _read(): void { /* data is pushed as it arrives */ }

  /** A node Duplex of our own: writableLength counts what waits for the relay link; writes are called back. */
  [STREAM_ADAPTER](): StreamAdapter { return duplexAdapter(this, 'circuit', () => ({ via: 'relay', remote: this.relay.peer.remoteAddr })) }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    void this.#send(chunk).then(() => cb(), (err: Error) => cb(err))
  }

  async #send(chunk: Buffer): Promise<void> {
    for (let off = 0; off < chunk.length; off += MAX_RELAY_CHUNK) {
      if (this.relay.closed) throw new Error('relay link closed')
      const ok = this.relay.send(NatMessageType.NAT_RELAY_DATA, encodeRelayData(this.circuit, chunk.subarray(off, off + MAX_RELAY_CHUNK)))
      if (!ok) await this.relay.whenWritable()
    }
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#unClose()
    if (!this.#closedByPeer && !this.relay.closed) this.relay.send(NatMessageType.NAT_RELAY_CLOSE, encodeRelayCtl({ v: 1, c: this.circuit }))
    cb(err)
  }
}
