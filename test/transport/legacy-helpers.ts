/** Shared setup of the legacy bridge tests: a node with only the services layer, temp dirs, refusal counts. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import { createNode, LAYERS, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'

const dirs: string[] = []
function tmp(): string { const d = mkdtempSync(join(tmpdir(), 'zeone-legacy-')); dirs.push(d); return d }

/** Only the services layer: these tests own the legacy DHT handler and the pricing. */
const servicesOnly = LAYERS.filter(([name]) => name === 'services')

export async function startNode(extra: Record<string, unknown> = {}, legacy = true, services: Record<string, unknown> = {}): Promise<ZeoneNode> {
  const config = validateConfig({
    dataDir: tmp(), node: { port: 0, host: '127.0.0.1', legacy }, ops: { httpPort: -1, logLevel: 'silent' }, dht: { staticPuzzleBits: 0 },
    legacy: { keepAliveMs: 30_000, idleTimeoutMs: 90_000, ...extra }, services,
  })
  const node = createNode(config, { layers: servicesOnly })
  await node.start()
  return node
}

export async function refusals(node: ZeoneNode, reason: string): Promise<number> {
  const m = await node.metrics.getSingleMetric('zeone_legacy_refusals_total')?.get()
  return m?.values.find((v) => v.labels.reason === reason)?.value ?? 0
}

after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

