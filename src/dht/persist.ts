/**
 * What the DHT keeps across restarts, written as it changes (not only on a clean stop, which kill -9 never reaches):
 * the routing-table contacts (re-validated by ping before they re-enter the table) and our own publications (values
 * and provider records we republish). SqliteRecordStore implements it in `dht.sqlite`.
 */
import type { Contact } from './contact.js'

/** A value (`kind` 'value', with its last seq) or a provider record ('provider', optional data) we republish. */
export interface PublishedEntry {
  kind: 'value' | 'provider'
  key: Uint8Array
  /** The value, or the provider record's data. */
  data: Uint8Array | undefined
  /** Last seq signed (0 for providers). */
  seq: number
}

export interface DhtPersistence {
  /** A contact entered the table (may be written behind; a few lost on a crash only cost re-learning them). */
  peerAdded(c: Contact): void
  /** A contact left the table. */
  peerRemoved(nodeId: Uint8Array): void
  /** Records a publication durably before returning (a put acknowledged to the user must survive a crash). */
  savePublished(e: PublishedEntry): void
  deletePublished(kind: PublishedEntry['kind'], key: Uint8Array): void
  loadPublished(): PublishedEntry[]
}
