/**
 * The network side of one file's download: the hash layer (tried provider by provider, checked against the Merkle
 * root), then the chunk lanes, `window` pipelined requests per provider, driven by the ChunkScheduler and feeding
 * a ChunkSink. Every chunk is checked against its leaf hash before the sink sees it.
 */
import type { Message } from '../interfaces/link.js'
import { equalBytes } from '../util/bytes.js'
import { AbortedError } from '../util/errors.js'
import type { Bitfield } from './bitfield.js'
import { ChunkScheduler, type ChunkResult } from './chunk-scheduler.js'
import type { ChunkSink, Fetched } from './chunk-sink.js'
import { DownloadError } from './errors.js'
import type { FileJob } from './file-download.js'
import type { HashThread } from './hash-thread.js'
import { HASH_BYTES, leafHash, rootOfLeafHashes } from './merkle.js'
import {
  ContentMessageType as T, decodeCacheResponse, decodeChunkReply, decodeHashesReply, encodeCacheRequest, encodeGetChunk, encodeGetHashes, MAX_HASH_BATCH,
} from './messages.js'
import type { ProviderState } from './provider-set.js'

/** Fetches and verifies a file's hash layer, trying providers in turn. */
export async function fetchHashLayer(job: FileJob, n: number): Promise<Uint8Array> {
  for (const p of job.providers.active(true)) {
    const out = new Uint8Array(n * HASH_BYTES)
    try {
      for (let start = 0; start < n; start += MAX_HASH_BATCH) {
        const count = Math.min(MAX_HASH_BATCH, n - start)
        const r = await p.link.request(T.CONTENT_GET_HASHES, encodeGetHashes({ id: job.id, file: job.index, start, count }), { timeoutMs: job.requestTimeoutMs, signal: job.signal })
        if (r.type !== T.CONTENT_HASHES) throw new DownloadError('unexpected_reply', `expected HASHES, got 0x${r.type.toString(16)}`)
        const rep = decodeHashesReply(r.body)
        if (rep.start !== start || rep.hashes.byteLength !== count * HASH_BYTES) {
          job.providers.misbehaved(p, 'invalid_message', 'hash batch of the wrong range or length')
          throw new DownloadError('bad_hashes', 'bad hash batch')
        }
        out.set(rep.hashes, start * HASH_BYTES)
      }
    } catch (err) {
      if (job.signal.aborted) throw new AbortedError('download aborted', { cause: err })
      if (!p.dropped) job.providers.failed(p, `hash layer: ${(err as Error).message}`)
      continue
    }
    if (equalBytes(rootOfLeafHashes(out), job.meta.root)) return out
    job.providers.misbehaved(p, 'invalid_merkle_proof', `hash layer of ${job.meta.path} does not match the Merkle root`)
  }
  throw new DownloadError('no_providers', `no provider delivered a valid hash layer for ${job.meta.path}`)
}

/**
 * Runs the file's lanes (`window` per provider) until every missing chunk is on record or no provider can give one:
 * the scheduler decides which chunk a lane asks for, the sink writes and records what verified. A lane writes a
 * verified chunk while it already asks for its next one (at most one write per lane in flight, so a lane holds at
 * most two chunks); the chunk counts as in flight until written.
 */
export async function fetchChunks(job: FileJob, sink: ChunkSink, bf: Bitfield, leaves: Uint8Array, n: number, thread?: HashThread): Promise<number> {
  const { meta, providers } = job
  const sched = new ChunkScheduler<ProviderState>(bf.missing())
  let fatal: Error | undefined
  const failure = (): Error | undefined => fatal ?? sink.fatal
  let wake: (() => void) | undefined
  const notify = (): void => { const w = wake; wake = undefined; w?.() }
  const settle = (i: number, r: ChunkResult): void => { sched.onResult(i, r); notify() }
  // one abort listener for all requests of this file (not one per request on the long-lived signal)
  const controllers = new Set<AbortController>()
  const onAbort = (): void => { for (const c of controllers) c.abort() }
  job.signal.addEventListener('abort', onAbort, { once: true })
  const request = async (p: ProviderState, type: number, body: Uint8Array) => {
    const ctl = new AbortController()
    controllers.add(ctl)
    try { return await p.link.request(type, body, { timeoutMs: job.requestTimeoutMs, signal: ctl.signal }) } finally { controllers.delete(ctl) }
  }
  const leafOf = (c: Fetched): Promise<Uint8Array> | Uint8Array => (thread ? thread.leaf(c.data) : leafHash(c.data))

  /** Fetches and verifies chunk i from p: the chunk, or what became of the attempt. */
  const fetchOne = async (p: ProviderState, i: number, leaf: Uint8Array): Promise<Fetched | 'bad' | 'failed'> => {
    const len = i === n - 1 ? meta.size - i * meta.chunkSize : meta.chunkSize
    let r: Message | undefined
    let chunk: Fetched | undefined
    let ok = false
    try {
      if (p.cache) {
        r = await request(p, T.CACHE_REQUEST, encodeCacheRequest({ hash: leaf }))
        if (r.type !== T.CACHE_RESPONSE) throw new DownloadError('unexpected_reply', `expected CACHE_RESPONSE, got 0x${r.type.toString(16)}`)
        const rep = decodeCacheResponse(r.body)
        if (!rep.data) { providers.missed(p); return 'failed' }
        if (equalBytes(rep.hash, leaf) && rep.data.byteLength === len) chunk = sink.hold(rep.data, r.release)
        if (!chunk || !equalBytes(await leafOf(chunk), leaf)) {
          providers.misbehaved(p, 'invalid_merkle_proof', `cached chunk ${i} of ${meta.path} does not match its leaf hash`)
          return 'bad'
        }
      } else {
        r = await request(p, T.CONTENT_GET_CHUNK, encodeGetChunk({ id: job.id, file: job.index, index: i, proof: false }))
        if (r.type !== T.CONTENT_CHUNK) throw new DownloadError('unexpected_reply', `expected CHUNK, got 0x${r.type.toString(16)}`)
        const rep = decodeChunkReply(r.body)
        if (rep.index === i && rep.data.byteLength === len) chunk = sink.hold(rep.data, r.release)
        if (!chunk || !equalBytes(await leafOf(chunk), leaf)) {
          providers.misbehaved(p, 'invalid_merkle_proof', `chunk ${i} of ${meta.path} does not match its leaf hash`)
          return 'bad'
        }
      }
      ok = true
      return chunk
    } catch (err) {
      // the hashing thread failing is this node's fault, not the provider's
      if (err instanceof DownloadError && err.code === 'hash_thread') fatal ??= err
      else if (!job.signal.aborted && !p.dropped) providers.failed(p, `chunk ${i}: ${(err as Error).message}`)
      return 'failed'
    } finally {
      // a chunk held in shared memory already gave its receive buffer back
      if (!ok) { if (chunk) chunk.release?.(); else r?.release?.() }
    }
  }

  const commit = async (p: ProviderState, i: number, chunk: Fetched, leaf: Uint8Array): Promise<void> => {
    const ok = await sink.write(i, chunk, () => {
      p.chunks++
      p.bytes += chunk.data.byteLength
      job.onChunk(i, chunk.data.byteLength, p.link.peer.nodeId)
      job.onVerified?.(leaf, chunk.data)
    })
    settle(i, ok ? 'ok' : 'failed')
  }

  const lane = async (p: ProviderState): Promise<void> => {
    let writing: Promise<void> | undefined
    try {
      while (!failure() && !job.signal.aborted && !p.dropped) {
        // its link closed: the node may route the peer again; carry on over the new link, or stop this lane
        if (p.link.closed) { if (!await providers.relinked(p)) break; continue }
        const i = sched.next(p)
        if (i === undefined) {
          if (sched.inFlight === 0) return
          await new Promise<void>((r) => { const prev = wake; wake = () => { prev?.(); r() } })
          continue
        }
        let handed = false
        let outcome: ChunkResult = 'failed'
        try {
          const leaf = leaves.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES)
          const got = await fetchOne(p, i, leaf)
          if (typeof got === 'string') { outcome = got; continue }
          if (writing) await writing // commit() never rejects
          if (failure() || job.signal.aborted) { got.release?.(); continue }
          writing = commit(p, i, got, leaf)
          handed = true
        } finally {
          if (!handed) settle(i, outcome)
        }
      }
    } finally {
      await writing
    }
  }

  const lanes: Promise<void>[] = []
  for (const p of providers.active()) for (let w = 0; w < job.window; w++) lanes.push(lane(p))
  try {
    await Promise.all(lanes)
  } finally {
    job.signal.removeEventListener('abort', onAbort)
    await sink.close()
  }
  const err = failure()
  if (err) throw err
  if (job.signal.aborted) throw new AbortedError('download aborted')
  if (!bf.complete) throw new DownloadError('no_providers', `${meta.path}: ${n - bf.count} chunks left and no provider remains; run again to resume`)
  return sink.written
}
