/** `zeone ping`: a throwaway identity dials the target, times the handshake, then PING round trips. */
import { Identity } from '../crypto/identity.js'
import { randomBytes } from '../crypto/sign.js'
import type { Endpoint } from '../interfaces/link.js'
import { silentLogger } from '../interfaces/logger.js'
import { validateConfig } from '../ops/config.js'
import { createMetricsRegistry } from '../ops/metrics.js'
import { LegacyBridge } from '../transport/legacy/bridge.js'
import { createDefaultTransport } from '../transport/legacy/default-transport.js'
import { Router } from '../transport/router.js'
import { ZeoneError } from '../util/errors.js'

export interface PingResult { nodeId: string; version: number; handshakeMs: number; rttMs: number[] }

export interface PingOptions { legacy: boolean; count: number; timeoutMs: number; dataDir: string }

export async function pingPeer(addr: Endpoint, opts: PingOptions): Promise<PingResult> {
  const identity = Identity.fromSeed(randomBytes(32))
  const config = validateConfig({ dataDir: opts.dataDir, node: { port: 0, host: '127.0.0.1', legacy: opts.legacy } })
  if (opts.legacy) {
    const bridge = new LegacyBridge({ identity, config: { ...config.legacy, handshakeTimeoutMs: opts.timeoutMs } })
    try {
      const t0 = performance.now()
      const link = await bridge.dial(addr, { timeoutMs: opts.timeoutMs })
      const handshakeMs = performance.now() - t0
      const rttMs: number[] = []
      for (let i = 0; i < opts.count; i++) rttMs.push(await link.ping({ timeoutMs: opts.timeoutMs }))
      return { nodeId: link.peer.nodeIdB64, version: 0, handshakeMs, rttMs }
    } finally {
      await bridge.stop()
    }
  }
  const transport = await createDefaultTransport({
    identity, config, dataDir: opts.dataDir, router: new Router(), logger: silentLogger, metrics: createMetricsRegistry({ defaultMetrics: false }),
    capabilities: [],
  })
  await transport.start()
  try {
    const t0 = performance.now()
    const link = await transport.dial(addr, { signal: AbortSignal.timeout(opts.timeoutMs) })
    const handshakeMs = performance.now() - t0
    if (!transport.ping) throw new ZeoneError('unsupported', 'this transport cannot measure RTT')
    const rttMs: number[] = []
    for (let i = 0; i < opts.count; i++) rttMs.push(await transport.ping(link))
    return { nodeId: link.peer.nodeIdB64, version: link.peer.version, handshakeMs, rttMs }
  } finally {
    await transport.stop()
  }
}
