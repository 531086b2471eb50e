/**
 * Benchmark download client process: fetches manifest `argv[2]` into `argv[3]` from the providers at the
 * 127.0.0.1 ports that follow, printing one JSON progress line per verified chunk (stdout on a pipe is
 * synchronous on Linux, so a line is out before the next chunk) and a final result line.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Download } from '../../src/content/downloader.js'
import { fromHex } from '../../src/util/bytes.js'
import { startBenchNode } from './proc.js'

const [idHex, outDir, ...ports] = process.argv.slice(2)
const dataDir = mkdtempSync(join(tmpdir(), 'zeone-bench-client-'))
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
  rmSync(dataDir, { recursive: true, force: true })
}
