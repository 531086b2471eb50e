/**
 * Worker thread for a node's first start: mints the identity (the S/Kademlia static puzzle, 2^15 Ed25519 keys on
 * average, most of a first start's CPU) while the main thread loads the node's modules, and writes it to
 * `<dataDir>/identity.key` the way the node would (crypto/identity.ts). See ./identity-ahead.ts.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { loadOrCreateIdentity } from '../crypto/identity.js'

const { dataDir, puzzleBits } = workerData as { dataDir: string; puzzleBits: number }
const { created } = loadOrCreateIdentity(dataDir, { puzzleBits })
parentPort?.postMessage({ created })
