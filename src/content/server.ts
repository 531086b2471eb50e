/**
 * Serves the published set over the chunk protocol: one handler per request type. Lookups are by (manifest id,
 * file index, chunk index) only; the bytes read are exactly the chunk's range of a published file, and (by
 * default) re-hashed before sending so a file changed on disk is never served as if it were the published one.
 */
import type { Inbound, Link, MessageRouter } from '../interfaces/link.js'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import type { UsageMeter } from '../interfaces/services.js'
import { SlabPool } from '../transport/slab-pool.js'
import { equalBytes } from '../util/bytes.js'
import { ContentProtocolError } from './errors.js'
import { FileHandleCache } from './fh-cache.js'
import { readFully } from './hasher.js'
import { leafHash } from './merkle.js'
import {
  ContentMessageType as T, decodeGetChunk, decodeGetHashes, decodeGetManifest,
  encodeChunkReplyParts, encodeHashesReply, encodeManifestReply,
} from './messages.js'
import type { ContentStore, PublishedFile } from './store.js'

export interface ContentServerInit {
  store: ContentStore
  router: MessageRouter
  /** Economy hook, looked up per request (optional at runtime). */
  usage?: () => UsageMeter | undefined
  logger?: Logger
  /** Re-hash each chunk before serving: 'always', or only when the file's size/mtime changed since publishing. @default 'if-changed' */
  verifyOnServe?: 'always' | 'if-changed'
  /** Called with every chunk served (feeds the metrics). */
  onServed?: (bytes: number) => void
}

export class ContentServer {
  #unsub: (() => void)[] = []
  readonly #init: ContentServerInit
  readonly #logger: Logger
  #stopped = false
  #waits = new WeakMap<Link, Promise<void>>()
  // fstat on every chunk (statTtlMs 0): an edit is noticed on the very next request
  #files = new FileHandleCache(64, 0)
  /** Chunk read buffers, reused: at most 32 MiB kept free. */
  /** Read buffers of this server, freed on stop. */
  #readBufs = new SlabPool(32 * 1024 * 1024)

  constructor(init: ContentServerInit) {
    this.#init = init
    this.#logger = init.logger ?? silentLogger
  }

  start(): void {
    if (this.#unsub.length > 0 || this.#stopped) return
    const r = this.#init.router
    this.#unsub.push(
      r.handle(T.CONTENT_GET_MANIFEST, (m) => this.#onGetManifest(m)),
      r.handle(T.CONTENT_GET_HASHES, (m) => this.#onGetHashes(m)),
      r.handle(T.CONTENT_GET_CHUNK, (m) => this.#onGetChunk(m)),
    )
  }

  stop(): void {
    this.#stopped = true
    for (const u of this.#unsub.splice(0)) u()
    void this.#files.close()
    this.#readBufs.close()
  }

  #pub(id: Uint8Array) {
    const pub = this.#init.store.get(id)
    if (!pub) throw new ContentProtocolError('not_found', 'content not published here')
    return pub
  }

  #file(id: Uint8Array, file: number): PublishedFile {
    const f = this.#pub(id).files[file]
    if (!f) throw new ContentProtocolError('not_found', `no file ${file} in this content`)
    return f
  }

  #onGetManifest(msg: Inbound): void {
    const req = decodeGetManifest(msg.body)
    const pub = this.#pub(req.id)
    msg.reply?.(T.CONTENT_MANIFEST, encodeManifestReply({ manifest: pub.encoded }))
  }

  #onGetHashes(msg: Inbound): void {
    const req = decodeGetHashes(msg.body)
    const f = this.#file(req.id, req.file)
    if (req.start > f.tree.leafCount) throw new ContentProtocolError('bad_range', 'start beyond the last chunk')
    msg.reply?.(T.CONTENT_HASHES, encodeHashesReply({ start: req.start, hashes: f.tree.leaves(req.start, req.count) }))
  }

  async #onGetChunk(msg: Inbound): Promise<void> {
    const req = decodeGetChunk(msg.body)
    const f = this.#file(req.id, req.file)
    if (req.index >= f.tree.leafCount) throw new ContentProtocolError('bad_range', `chunk ${req.index} beyond the last chunk`)
    const usage = this.#init.usage?.()
    usage?.authorize(msg.link.peer.nodeId, 'cdn')
    // flow control: read no more chunks from disk while this link's send buffer is above its high-water mark
    await this.#writable(msg.link)
    const { chunkSize, size } = f.meta
    const len = Math.min(chunkSize, size - req.index * chunkSize)
    // the chunk is read into a pooled buffer and handed to the transport as one part of the reply, which copies it
    // into the frame before reply() returns: serving allocates nothing per chunk
    const slab = this.#readBufs.take(len)
    try {
      const buf = slab.subarray(0, len)
      const changed = await this.#files.use(f.abs, async (fh, stat) => {
        let differs = true
        if (this.#init.verifyOnServe !== 'always' && f.stat) {
          const st = await stat()
          differs = st.size !== f.stat.size || st.mtimeMs !== f.stat.mtimeMs
        }
        const got = await readFully(fh, buf, req.index * chunkSize)
        if (got !== len) throw new ContentProtocolError('unavailable', 'published file shrank on disk')
        return differs
      })
      if (changed && !equalBytes(leafHash(buf), f.tree.leaf(req.index))) {
        this.#logger.warn({ path: f.meta.path, chunk: req.index }, 'published file changed on disk; refusing to serve the chunk')
        throw new ContentProtocolError('unavailable', 'chunk no longer matches the published manifest')
      }
      msg.reply?.(T.CONTENT_CHUNK, encodeChunkReplyParts(req.proof ? { index: req.index, data: buf, proof: f.tree.proof(req.index) } : { index: req.index, data: buf }))
    } finally {
      this.#readBufs.give(slab)
    }
    usage?.record(msg.link.peer.nodeId, 'cdn', BigInt(len), 'served')
    this.#init.onServed?.(len)
  }

  /** One shared whenWritable() wait per link, so pipelined requests do not pile listeners onto the socket. */
  #writable(link: Link): Promise<void> {
    if (link.closed) return Promise.resolve()
    let p = this.#waits.get(link)
    if (!p) {
      p = link.whenWritable().finally(() => { if (this.#waits.get(link) === p) this.#waits.delete(link) })
      this.#waits.set(link, p)
    }
    return p
  }
}
