/**
 * Binding of a node's Ed25519 identity to an EVM address (docs/contracts.md, trust model). The EVM key proves
 * itself by sending `IdentityRegistry.bind(nodeId, edSig)` (inherited by the escrow); the Ed25519 key signs
 * "ZEONE-BIND-v1" || uint256 chainId || registry (20) || account (20). Ed25519 is not verifiable on-chain, so every
 * client checks `verifyBinding` before trusting a debtor's address.
 */
import { hexToBytes, type Address } from 'viem'
import { sign, verify } from '../../crypto/sign.js'
import { concatBytes } from '../../util/bytes.js'

const PREFIX = new TextEncoder().encode('ZEONE-BIND-v1')

export function bindingMessage(chainId: bigint, registry: Address, account: Address): Uint8Array {
  const id = new Uint8Array(32)
  let v = chainId
  for (let i = 31; i >= 0; i--) { id[i] = Number(v & 0xffn); v >>= 8n }
  return concatBytes(PREFIX, id, hexToBytes(registry), hexToBytes(account))
}

export function signBinding(edSecretKey: Uint8Array, chainId: bigint, registry: Address, account: Address): Uint8Array {
  return sign(edSecretKey, bindingMessage(chainId, registry, account))
}

export function verifyBinding(nodeId: Uint8Array, edSig: Uint8Array, chainId: bigint, registry: Address, account: Address): boolean {
  if (nodeId.length !== 32 || edSig.length !== 64) return false
  return verify(nodeId, edSig, bindingMessage(chainId, registry, account))
}
