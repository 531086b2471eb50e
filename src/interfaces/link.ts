/**
 * The narrow contract between the transport and every layer above it. The DHT, content, economy, NAT signalling
 * and cortex see only `Link`s that carry typed messages, never sockets, so the in-memory transport (tests, the DHT
 * simulator) and the TCP/UDP transports drive the same code.
 */
export interface Endpoint { host: string; port: number }

/** What the handshake proved about the other side of a link. */
export interface RemotePeer {
  /** 32-byte Ed25519 public key, proven by the handshake (or by a signed legacy PONG for v0 peers). */
  readonly nodeId: Uint8Array
  /** base64 of nodeId */
  readonly nodeIdB64: string
  /** SHA-1(nodeId): the 160-bit DHT id. */
  readonly dhtId: Uint8Array
  /** Socket address the link is connected to (for an outbound link: the address we dialed). */
  readonly remoteAddr: Endpoint
  /**
   * Where the peer can be dialed: for an outbound link the address we dialed (verified by reaching it); for an
   * inbound link the listening port the peer advertised in its handshake, combined with the observed source IP.
   * Undefined if the peer does not listen. Never the ephemeral source port.
   */
  readonly listenAddr?: Endpoint
  /** Negotiated wire version: 0 legacy (JSON, unencrypted), 1 or 2. */
  readonly version: number
  /** Capabilities announced in the handshake, e.g. DHT, VPN, CORTEX, RELAY, CDN. */
  readonly capabilities: ReadonlySet<string>
  /** True when we dialed the link. */
  readonly outbound: boolean
  /**
   * What carries the link now ('tcp', 'udx', 'turn', 'relay') and its far end: the relay's or TURN server's address
   * for a relayed link, the peer's after an upgrade to a direct path. Absent for transports without streams.
   */
  readonly route?: { readonly via: string; readonly remote?: Endpoint }
}

export interface Message {
  type: number
  body: Uint8Array
  /**
   * Present on a reply or one-way message whose body fills a pooled receive buffer of its own (large frames on the
   * TCP transport):
   * call it once neither the body nor any view of it will be read again, and the memory serves later frames.
   * Calling it is optional (the GC frees the buffer otherwise) and calling it twice does nothing.
   */
  release?: () => void
}

export interface RequestOptions {
  /** @default 5000 */
  timeoutMs?: number
  signal?: AbortSignal
  /** W3C trace context to carry to the peer (sent only to peers that announced the TRACE capability). */
  trace?: TraceContext
}

/** A W3C trace context (traceparent version 00) in wire form: 16-byte trace id, 8-byte parent span id, flags. */
export interface TraceContext {
  readonly traceId: Uint8Array
  readonly spanId: Uint8Array
  /** bit 0: sampled */
  readonly flags: number
}

export interface Link {
  readonly peer: RemotePeer
  readonly closed: boolean
  /** Sends a one-way message. Returns false when the link's send buffer is above its high-water mark. */
  send(type: number, body: Uint8Array): boolean
  /**
   * Sends a one-way message whose body is the concatenation of `parts` (copied before this returns, so a bulk
   * sender needs no joined buffer of its own). Optional: transports without it get `send` of the joined parts.
   */
  sendParts?(type: number, parts: readonly Uint8Array[]): boolean
  /** Sends a request and resolves with the peer's reply (any message type), rejects on timeout/abort/close. */
  request(type: number, body: Uint8Array, opts?: RequestOptions): Promise<Message>
  /** Resolves when the send buffer has drained below its low-water mark (immediately if it already has). */
  whenWritable(): Promise<void>
  close(reason?: string): void
  /** Registers a close listener; returns a function that removes it. */
  onClose(cb: (reason: string) => void): () => void
}

/**
 * A reply body: one byte string, or parts sent as their concatenation (e.g. a message head, a pooled data buffer
 * and a tail), which the transport copies into the frame before `reply` returns, so the caller may reuse them.
 */
export type Body = Uint8Array | readonly Uint8Array[]

/** An inbound message as a handler sees it. */
export interface Inbound extends Message {
  readonly link: Link
  /** The sender's trace context, when it sent a traced request (envelope kind 3). */
  readonly trace?: TraceContext
  /** Present when the sender used `request`: sends the (single) reply. The body is copied before this returns. */
  readonly reply?: (type: number, body: Body) => boolean
}

export type Handler = (msg: Inbound) => void | Promise<void>

export interface MessageRouter {
  /** Registers the handler of one message type; returns an unregister function. One handler per type. */
  handle(type: number, handler: Handler): () => void
}

export interface DialOptions {
  signal?: AbortSignal
  /** Refuse the link unless the handshake proves this node id. */
  expectNodeId?: Uint8Array
}

/** The connection manager as upper layers see it. */
export interface LinkProvider {
  /** Returns the existing link to the peer at `addr` or opens one (one link per peer pair). */
  dial(addr: Endpoint, opts?: DialOptions): Promise<Link>
  /** The open link to a node id (raw key or base64), if any. */
  get(nodeId: Uint8Array | string): Link | undefined
  links(): Link[]
  /** Called for every new authenticated link, inbound or outbound. Returns an unsubscribe function. */
  onLink(cb: (link: Link) => void): () => void
}

// ---- legacy (v0) peers: JSON messages named by strings, see docs/protocol/legacy.md ----

export interface LegacyMessage {
  type: string
  payload: Record<string, unknown>
  senderId: string
  timestamp: number
  nonce: string
}

export interface LegacyLink {
  readonly peer: RemotePeer
  readonly closed: boolean
  send(type: string, payload: Record<string, unknown>): void
  /** Sends a DHT request inside DATA and resolves with the `dht_response` object carrying the same nonce. */
  dhtRequest(request: Record<string, unknown>, opts?: RequestOptions): Promise<Record<string, unknown>>
  close(reason?: string): void
  onClose(cb: (reason: string) => void): () => void
}

export type LegacyHandler = (msg: LegacyMessage, link: LegacyLink) => void | Promise<void>

export interface LegacyRouter {
  /** Handles v0 messages of a type name (e.g. 'SERVICE_REQUEST'). */
  handleLegacy(type: string, handler: LegacyHandler): () => void
  /** Handles v0 DHT requests carried in DATA; the returned object is sent back as `dht_response`. */
  handleLegacyDht(handler: (request: Record<string, unknown>, link: LegacyLink) => Promise<Record<string, unknown>>): () => void
  /** One ready link per connected v0 peer (absent or empty when the bridge is off). */
  legacyLinks?(): LegacyLink[]
}
