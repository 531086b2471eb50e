/**
 * Benchmark download client process: `fetch-proc ID OUT_DIR NODE_DATA_DIR PORT...` fetches manifest ID into
 * OUT_DIR from the providers at the 127.0.0.1 ports (its node state lives in NODE_DATA_DIR, which the parent
 * removes: this process may be killed with SIGKILL), printing one JSON progress line per verified chunk (stdout on a pipe is
 * synchronous on Linux, so a line is out before the next chunk) and a final result line.
 */
import { Download } from '../../src/content/downloader.js'
import { fromHex } from '../../src/util/bytes.js'
import { startBenchNode } from './proc.js'

const [idHex, outDir, dataDir, ...ports] = process.argv.slice(2) as [string, string, string, ...string[]]
const node = await startBenchNode(dataDir, [])
try {
  const links = await Promise.all(ports.map((p) => node.transport!.dial({ host: '127.0.0.1', port: Number(p) })))
  let last = -1
  const d = new Download({
    id: fromHex(idHex!), providers: links, outDir: outDir!,
    onProgress: (p) => { if (p.chunksDone !== last) { last = p.chunksDone; process.stdout.write(`{"chunksDone":${p.chunksDone},"chunksTotal":${p.chunksTotal}}\n`) } },
  })
  const r = await d.run()
  process.stdout.write(`${JSON.stringify({ done: true, fetched: r.chunksFetched, resumed: r.chunksResumed })}\n`)
} finally {
  await node.stop()
}
