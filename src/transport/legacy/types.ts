/** What the node needs from a transport: a LinkProvider with a lifecycle, a listening address and a wire tap. */
import type { Socket } from 'node:net'
import type { Endpoint, Link, LinkProvider } from '../../interfaces/link.js'
import type { WireTap } from '../../interfaces/node-context.js'

/** Receives a stream that did not start with the ZE magic, with the bytes already read from it. */
export type LegacyAcceptor = (socket: Socket, firstBytes: Buffer) => void

export interface NodeTransport extends LinkProvider, WireTap {
  start(): Promise<void>
  stop(): Promise<void>
  readonly listenAddress: Endpoint | undefined
  /** Round-trip time of a PING on `link`, in ms (when the transport supports it). */
  ping?(link: Link): Promise<number>
}
