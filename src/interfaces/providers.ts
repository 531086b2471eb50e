/**
 * Provider discovery as upper layers (content, cortex, services, NAT rendezvous) see it. The DHT implements it with
 * signed provider records; without a DHT a node can fall back to configured peers.
 */
import type { Endpoint } from './link.js'

export interface ProviderRecord {
  /** 20-byte DHT key (SHA-1 of the key string, e.g. `provider:<content root hex>` or `service:vpn_exit`). */
  key: Uint8Array
  /** Publisher's Ed25519 public key (the record is signed by it). */
  nodeId: Uint8Array
  /** Where the publisher can be dialed. */
  addrs: Endpoint[]
  /** Small publisher-defined metadata (<= 1 KiB), e.g. CBOR `{model, layers, capacity}`. */
  data?: Uint8Array
  /** Expiry, Unix ms. */
  expires: number
}

export interface FindProvidersOptions { limit?: number; signal?: AbortSignal }

export interface ProviderDirectory {
  /** Announces that this node provides `key`, and keeps re-announcing until `unprovide` or the node stops. */
  provide(key: Uint8Array, data?: Uint8Array): Promise<void>
  unprovide(key: Uint8Array): void
  findProviders(key: Uint8Array, opts?: FindProvidersOptions): Promise<ProviderRecord[]>
}
