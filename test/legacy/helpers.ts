/** ZEONE-TS nodes for the legacy membership tests: services + DHT layers, loopback, control API for `dht get/put`. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { controlCall } from '../../src/cli/control-client.js'
import { createNode, LAYERS, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'

const dirs: string[] = []
export function cleanupDirs(): void { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) }

const layers = LAYERS.filter(([name]) => name === 'services' || name === 'dht')

export async function startTsNode(legacy: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Promise<ZeoneNode> {
  const dataDir = mkdtempSync(join(tmpdir(), 'zeone-legacy-net-'))
  dirs.push(dataDir)
  const config = validateConfig({
    dataDir, node: { port: 0, host: '127.0.0.1' }, ops: { httpPort: -1, logLevel: 'silent' }, dht: { staticPuzzleBits: 0 },
    legacy, ...extra,
  })
  const node = createNode(config, { layers })
  await node.start()
  return node
}

export async function dhtGet(node: ZeoneNode, key: string): Promise<{ found: boolean; value?: { utf8?: string } }> {
  // any publisher (v0 values are unsigned): the open-key view, first value of the set
  const r = await controlCall(node.dataDir, 'GET', `/v1/dht/get?key=${encodeURIComponent(key)}&publisher=any`) as { found: boolean; values: { value: { utf8?: string } }[] }
  return r.values[0] ? { found: true, value: r.values[0].value } : { found: false }
}

export async function dhtPut(node: ZeoneNode, key: string, value: string): Promise<{ storedOn: number }> {
  return await controlCall(node.dataDir, 'POST', '/v1/dht/put', { body: { key, value } }) as { storedOn: number }
}

/** Polls `cond` every 25 ms until it holds or `ms` passes (event-free conditions across processes' sockets). */
export async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    if (await cond()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

export const tsPeerIds = (node: ZeoneNode): Set<string> => new Set(node.legacy!.links().map((l) => l.peer.nodeIdB64))
