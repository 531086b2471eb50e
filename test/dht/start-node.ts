/** A node with only the DHT layer on 127.0.0.1, cheap puzzles and no HTTP API: for tests that drive `zeone dht` commands. */
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { attach } from '../../src/dht/attach.js'

export async function startDhtNode(dataDir: string, bootstrap: string[]): Promise<ZeoneNode> {
  const config = validateConfig({
    dataDir, node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap }, ops: { httpPort: -1, logLevel: 'silent' },
    dht: { staticPuzzleBits: 0, dynamicPuzzleBits: 6 },
  })
  const node = createNode(config, { layers: [['dht', attach]] })
  await node.start()
  return node
}
