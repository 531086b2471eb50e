/**
 * First start: mint the node's identity on a worker thread while the main thread loads the node (issue 18: `npm
 * start` to a listening node <= 5 s). Both are seconds of CPU on this machine kind; run one after the other they add
 * up, side by side the first start costs about the longer of the two on a machine with a free core. Without an
 * identity file the worker writes one (crypto/identity.ts, atomically); the node then loads it as on any restart.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { IDENTITY_FILE } from '../crypto/identity.js'

export interface IdentityAhead {
  /** Settles when the worker has written the identity (or failed: the node then mints it itself, as before). */
  done: Promise<void>
  /** Stops the worker (a signal while minting); nothing is written. */
  cancel(): Promise<void>
}

/** Starts minting when `dataDir` has no identity yet; undefined when there is one (or workers cannot run here). */
export async function mintIdentityAhead(dataDir: string, puzzleBits: number): Promise<IdentityAhead | undefined> {
  if (existsSync(join(dataDir, IDENTITY_FILE))) return undefined
  const script = new URL('./mint-worker.js', import.meta.url)
  // from the TypeScript sources (tsx) there is no compiled worker next to this module: mint in the node as before
  if (!existsSync(script)) return undefined
  const { Worker } = await import('node:worker_threads')
  const w = new Worker(script, { workerData: { dataDir, puzzleBits } })
  const done = new Promise<void>((res) => {
    w.once('message', () => res())
    w.once('error', () => res())
    w.once('exit', () => res())
  })
  return { done, cancel: async () => { await w.terminate() } }
}
