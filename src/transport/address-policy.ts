/** Builds the node's AddressPolicy (src/util/address-class.ts) from the `node` config section. */
import { AddressPolicy, hostOf } from '../util/address-class.js'
import type { TransportConfig } from './config.js'

export function addressPolicyFor(node: Pick<TransportConfig, 'privateAddresses' | 'bootstrap' | 'host'>): AddressPolicy {
  const hosts = node.bootstrap.map(hostOf)
  if (node.host !== '0.0.0.0' && node.host !== '::') hosts.push(node.host)
  return new AddressPolicy(node.privateAddresses, hosts)
}
