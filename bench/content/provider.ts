/**
 * Benchmark provider process: a node that serves the publications in `<dataDir>/content-published.cbor`.
 * `--corrupt P` makes it hostile: it flips a byte in a fraction P of the chunks it serves (chosen by index).
 * Prints `{"port": N}` once listening; stops on SIGTERM.
 */
import { attach } from '../../src/content/attach.js'
import { ContentServer } from '../../src/content/server.js'
import { ContentStore } from '../../src/content/store.js'
import { loadIndex } from '../../src/content/published-index.js'
import { ContentMessageType as T, decodeChunkReply, decodeGetChunk, encodeChunkReply } from '../../src/content/messages.js'
import type { AttachFn } from '../../src/interfaces/node-context.js'
import { Router } from '../../src/transport/router.js'
import { joinParts } from '../../src/util/bytes.js'
import { startBenchNode } from './proc.js'

const dataDir = process.argv[2]!
const ci = process.argv.indexOf('--corrupt')
const corrupt = ci >= 0 ? Number(process.argv[ci + 1]) : 0

const hostile: AttachFn = async (ctx) => {
  const store = new ContentStore()
  loadIndex(ctx.dataDir, store, ctx.logger)
  const inner = new Router()
  const server = new ContentServer({ store, router: inner })
  server.start()
  const every = Math.max(1, Math.round(1 / corrupt))
  const offs = [
    ctx.router.handle(T.CONTENT_GET_MANIFEST, (m) => inner.dispatch(m)),
    ctx.router.handle(T.CONTENT_GET_HASHES, (m) => inner.dispatch(m)),
    ctx.router.handle(T.CONTENT_GET_CHUNK, (m) => {
      const { index } = decodeGetChunk(m.body)
      if (index % every !== 0) { inner.dispatch(m); return }
      inner.dispatch({ ...m, reply: (type, body) => {
        const c = decodeChunkReply(joinParts(body))
        const data = c.data.slice()
        data[data.length >> 1]! ^= 0x01
        return m.reply!(type, encodeChunkReply({ ...c, data }))
      } })
    }),
  ]
  return { stop: () => { offs.forEach((o) => o()); server.stop() } }
}

const node = await startBenchNode(dataDir, [[corrupt > 0 ? 'content-hostile' : 'content', corrupt > 0 ? hostile : attach]])
process.stdout.write(`${JSON.stringify({ port: node.listenAddress!.port, nodeId: node.identity.nodeIdB64 })}\n`)
const stop = (): void => { node.stop().then(() => process.exit(0), () => process.exit(1)) }
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
