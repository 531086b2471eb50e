/** What the DHT needs from the network: request/reply to a contact, and connecting to a bare address (bootstrap). */
import type { Endpoint, Message, TraceContext } from '../interfaces/link.js'
import type { Contact } from './contact.js'

export interface DhtReply extends Message {
  /** The contact as the handshake proved it (identity and dialable address). */
  from: Contact
}

export interface DhtNet {
  /**
   * Sends a DHT request to `c`, opening a link that must prove `c.nodeId` if none is open. Rejects on timeout,
   * abort, refusal or a remote ERROR.
   */
  request(c: Contact, type: number, body: Uint8Array, opts: { timeoutMs: number; signal?: AbortSignal; trace?: TraceContext }): Promise<DhtReply>
  /** Connects to an address whose identity we do not know yet (bootstrap); resolves with the proven contact. */
  connect(addr: Endpoint, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<Contact | undefined>
  /** Whether a link to `c` is open now (a request pays no connection setup); lookups ask such candidates first. */
  hasLink?(c: Contact): boolean
}
