/**
 * AEAD cost per frame size: AeadKey (what the wire uses) sealing and opening in place, against two baselines
 * measured in the same run: libsodium's ChaCha20-Poly1305 over the whole frame, and node:crypto with one update
 * over the whole frame (an output allocation per frame). In-process figures only: the GC cost of node:crypto's
 * output allocations shows up in a whole transfer (bench/content-download.ts), not here. Prints JSON.
 */
import { createCipheriv, createSecretKey } from 'node:crypto'
import { cpus } from 'node:os'
import sodium from 'sodium-native'
import { AeadKey, CIPHER_SUITES } from '../src/crypto/aead.js'

const SIZES = [1024, 16 * 1024, 64 * 1024, 1024 * 1024]
const quick = process.argv.includes('--quick')

/** MB/s of `op` over frames of `size` bytes (about 256 MiB, or 32 MiB with --quick, after a warm-up). */
function rate(size: number, op: () => void): number {
  const n = Math.max(64, Math.ceil((quick ? 32 : 256) * 2 ** 20 / size))
  for (let i = 0; i < Math.min(n, 64); i++) op()
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) op()
  return Math.round((n * size) / (Number(process.hrtime.bigint() - t0) / 1e3))
}

const key = new Uint8Array(32).fill(1)
const nonce = Buffer.alloc(12)
const aad = Buffer.alloc(16)
const out: Record<string, Record<string, number>> = {}
for (const size of SIZES) {
  const region = Buffer.alloc(size + 16, 3)
  const row: Record<string, number> = {}
  for (const suite of CIPHER_SUITES) {
    const k = new AeadKey(suite, key)
    row[`${suite} seal`] = rate(size, () => k.sealInPlace(region, nonce, aad))
    row[`${suite} seal+open`] = rate(size, () => { k.sealInPlace(region, nonce, aad); k.open(nonce, aad, region, true) })
    const ko = createSecretKey(Buffer.from(key))
    row[`${suite} seal, node:crypto one update (baseline)`] = rate(size, () => {
      const c = createCipheriv(suite as 'aes-256-gcm', ko, nonce, { authTagLength: 16 })
      c.setAAD(aad, { plaintextLength: size })
      c.update(region.subarray(0, size)).copy(region)
      c.final()
      c.getAuthTag().copy(region, size)
    })
  }
  const kb = Buffer.from(key)
  row['chacha20-poly1305 seal, libsodium whole frame (baseline)'] = rate(size, () =>
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt(region, region.subarray(0, size), aad, null, nonce, kb))
  out[`${size / 1024}KiB`] = row
}
console.log(JSON.stringify({ bench: 'aead', unit: 'MB/s', cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, frames: out }))
