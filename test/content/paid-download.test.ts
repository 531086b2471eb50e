/**
 * A download bigger than the provider's debt limit completes: content is billed once (the `cdn` charge, not also
 * the wire bytes), the downloader meters each verified chunk as it arrives, its cheques keep up, and both ledgers
 * agree to the micro-credit. (Before: the provider billed wire bytes and the CDN charge while the consumer
 * metered only wire bytes until the end, so every single-provider download over half the debt limit was cut off
 * with debt_limit.)
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { attach as attachContent } from '../../src/content/attach.js'
import { attach as attachEconomy } from '../../src/economy/attach.js'
import { pseudoRandom, tempDir } from './helpers.js'

const DEBT_LIMIT = 1 << 20 // micro-credits: 1 MiB of content at the default byte price

async function startNode(dataDir: string, bootstrap: string[] = []): Promise<ZeoneNode> {
  const config = validateConfig({
    dataDir, node: { port: 0, host: '127.0.0.1', legacy: false, bootstrap }, ops: { httpPort: -1, logLevel: 'silent' },
    content: { chunkSize: 65536, cache: { enabled: false } }, economy: { debtLimit: DEBT_LIMIT, flushIntervalMs: 20 },
  })
  const node = createNode(config, { layers: [['content', attachContent], ['economy', attachEconomy]] })
  await node.start()
  return node
}

test('a download of 4x the debt limit from one provider completes, billed once, paid by cheques, ledgers agree', async (t) => {
  const a = tempDir('paid-a')
  const b = tempDir('paid-b')
  const data = pseudoRandom(4 * DEBT_LIMIT, 'paid')
  writeFileSync(join(a.dir, 'blob.bin'), data)
  const na = await startNode(a.dir)
  const addr = `127.0.0.1:${na.listenAddress!.port}`
  const nb = await startNode(b.dir, [addr])
  t.after(async () => { await nb.stop(); await na.stop(); a.cleanup(); b.cleanup() })
  const { pub } = await na.services.get('content')!.publish(join(a.dir, 'blob.bin'))
  const job = await nb.services.get('content')!.fetch(pub.idHex, join(b.dir, 'out'), [addr])
  for (;;) {
    const s = nb.services.get('content')!.job(job.job)!
    if (s.state === 'failed') assert.fail(`download failed: ${JSON.stringify(s.error)}`)
    if (s.state === 'done') break
    await sleep(20)
  }
  const ea = na.services.get('economy')!
  const eb = nb.services.get('economy')!
  const aView = ea.balance(nb.identity.publicKey)
  const bView = eb.balance(na.identity.publicKey)
  // billed once: the provider charged the chunk bytes as cdn and nothing as wire bytes
  assert.equal(aView.served, 0n)
  assert.equal(aView.charged, BigInt(data.length) * ea.pricing.bytePrice)
  // the consumer metered the same, and paid over the debt limit by cheques as it went
  assert.equal(bView.billed, aView.charged)
  assert.ok(bView.paidOut >= aView.charged - BigInt(DEBT_LIMIT), `paid ${bView.paidOut} of ${aView.charged}`)
  // once the last cheque lands, the provider's view of the debt is the consumer's
  for (let i = 0; i < 500 && ea.balance(nb.identity.publicKey).paidIn !== bView.paidOut; i++) await sleep(20)
  assert.equal(ea.balance(nb.identity.publicKey).balance, -eb.balance(na.identity.publicKey).balance)
})
