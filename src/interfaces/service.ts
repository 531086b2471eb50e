/** What a service registers with the service router. Lives in interfaces so that a layer below services (cortex's embed service) can offer one without importing the services layer. */
import type { RemotePeer } from './link.js'

export interface ServeContext {
  peer: RemotePeer
  /** Aborted on timeout or node stop. */
  signal: AbortSignal
}

export interface Service {
  /** Registered name, e.g. 'echo'. */
  readonly name: string
  /** Price of serving `payload`, in micro-credits, known before serving; a call whose budget is lower is refused. */
  quote(payload: Uint8Array): bigint
  /** Usage units recorded with the usage meter after a successful call (bytes, tokens, requests). */
  units(payload: Uint8Array, result: Uint8Array): bigint
  serve(payload: Uint8Array, ctx: ServeContext): Promise<Uint8Array>
  /** Serves a legacy v0 SERVICE_REQUEST, whose payload is any JSON value. Absent = not offered to v0 peers. */
  serveJson?(payload: unknown, ctx: ServeContext): Promise<unknown>
}
