/**
 * A Duplex that starts on a relay circuit and can move to a direct (punched udx) stream without the transport above
 * noticing: the session, its keys and sequence numbers continue. Switch protocol: a side stops writing to the circuit
 * (after its last DATA reached the link), sends NAT_RELAY_SWITCH on the circuit, and writes to the direct stream from
 * then on. The reader takes circuit bytes until the peer's SWITCH arrives (the relay forwards DATA and SWITCH in
 * order), then the direct stream's bytes (buffered until then). The circuit is released once both sides switched.
 */
import { Duplex } from 'node:stream'
import type { CircuitStream } from './circuit-stream.js'
import { adaptStream, duplexAdapter, STREAM_ADAPTER, type AdaptableStream, type StreamAdapter } from '../../transport/stream-adapter.js'

/** Direct-path bytes buffered while the peer's relayed bytes are still draining. */
const MAX_PENDING_BYTES = 64 * 1024 * 1024

export class SwitchableStream extends Duplex implements AdaptableStream {
  readonly circuit: CircuitStream
  #direct: Duplex | undefined
  #writing = false
  #switchedOut = false
  #switchedIn = false
  #pending: Buffer[] = []
  #pendingBytes = 0

  constructor(circuit: CircuitStream) {
    super({ allowHalfOpen: false })
    this.circuit = circuit
    circuit.on('data', (d: Buffer) => this.push(d))
    // 'end' comes after the last relayed byte was read: only then may direct bytes follow
    circuit.on('end', () => this.#onRemoteSwitch())
    circuit.on('error', () => {})
    circuit.on('close', () => { if (!this.#switchedIn && !this.destroyed) this.destroy() })
  }

  get upgraded(): boolean { return this.#direct !== undefined }
  get direct(): Duplex | undefined { return this.#direct }

  /** Moves to `direct`. Idempotent: a second call is ignored (the new stream is destroyed). */
  upgrade(direct: Duplex): boolean {
    if (this.#direct || this.destroyed) { direct.destroy(); return false }
    this.#direct = direct
    direct.on('data', (d: Buffer) => {
      if (this.#switchedIn) { this.push(d); return }
      this.#pendingBytes += d.length
      if (this.#pendingBytes > MAX_PENDING_BYTES) { this.destroy(new Error('peer never switched')); return }
      this.#pending.push(d)
    })
    direct.on('error', () => {})
    direct.on('close', () => { if (!this.destroyed) this.destroy() })
    if (!this.#writing) this.#switchOut()
    return true
  }

  #switchOut(): void {
    if (this.#switchedOut) return
    this.#switchedOut = true
    this.circuit.sendSwitch()
    this.#maybeRelease()
  }

  #onRemoteSwitch(): void {
    if (this.#switchedIn) return
    this.#switchedIn = true
    for (const d of this.#pending) this.push(d)
    this.#pending = []
    this.#pendingBytes = 0
    this.#maybeRelease()
  }

  #maybeRelease(): void {
    if (this.#switchedIn && this.#switchedOut) this.circuit.release()
  }

  override _read(): void { /* pushed as it arrives */ }

  /** Writes are called back once the circuit or the direct stream took them; writableLength counts the rest. */
  [STREAM_ADAPTER](): StreamAdapter {
    // the route follows the switch: the relay until the upgrade, the direct stream's path after it
    return duplexAdapter(this, 'switchable', () => this.#direct ? adaptStream(this.#direct).route : adaptStream(this.circuit).route)
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.#switchedOut) {
      // the direct stream's own adapter says when it wants us to wait (a udx stream takes no write callback)
      const d = adaptStream(this.#direct!)
      if (d.write(chunk)) cb(); else void d.whenDrained().then(() => cb())
      return
    }
    this.#writing = true
    this.circuit.write(chunk, (err) => {
      this.#writing = false
      if (!err && this.#direct) this.#switchOut()
      cb(err)
    })
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.circuit.destroy()
    this.#direct?.destroy()
    cb(err)
  }
}
