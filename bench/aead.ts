/**
 * AEAD cost per frame size: AeadKey (what the wire uses) sealing and opening in place, against two baselines
 * measured in the same run: libsodium's ChaCha20-Poly1305 over the whole frame, and node:crypto with one update
 * over the whole frame (an output allocation per frame). Then `cpu`: the same seals as MB per CPU-second
 * (process.cpuUsage, user + system) with the system share and the minor page faults per GiB, for libsodium against
 * node:crypto fed in pieces of 16 KiB to 1 MiB: on a shared machine wall rates follow the load, CPU rates much less,
 * and node:crypto's cost is mostly in its fresh output buffers (page faults when malloc hands back trimmed memory).
 * In-process figures only: the whole-transfer cost shows in `npm run bench -- vpn --suites ...`. Prints JSON.
 *   npm run bench -- aead [--quick] [--rounds N]
 */
import { createCipheriv, createSecretKey, type KeyObject } from 'node:crypto'
import { cpus, loadavg } from 'node:os'
import sodium from 'sodium-native'
import { AeadKey, CIPHER_SUITES } from '../src/crypto/aead.js'

const SIZES = [1024, 16 * 1024, 64 * 1024, 1024 * 1024]
const argv = process.argv.slice(2)
const quick = argv.includes('--quick')
const ri = argv.indexOf('--rounds')
/** Rounds of the CPU-time comparison, variants interleaved within each round (medians reported). */
const ROUNDS = Math.max(1, ri >= 0 ? Number(argv[ri + 1]) : 3)

/** MB/s of `op` over frames of `size` bytes (about 256 MiB, or 32 MiB with --quick, after a warm-up). */
function rate(size: number, op: () => void): number {
  const n = Math.max(64, Math.ceil((quick ? 32 : 256) * 2 ** 20 / size))
  for (let i = 0; i < Math.min(n, 64); i++) op()
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) op()
  return Math.round((n * size) / (Number(process.hrtime.bigint() - t0) / 1e3))
}

interface CpuRate { mbPerCpuS: number; sysPct: number; faultsPerGiB: number }

/** MB per CPU-second of `op` over `size`-byte frames (~256 MiB, 64 MiB with --quick), its system share and page faults. */
function cpuRate(size: number, op: () => void): CpuRate {
  const n = Math.max(16, Math.ceil((quick ? 64 : 256) * 2 ** 20 / size))
  for (let i = 0; i < 16; i++) op()
  const f0 = process.resourceUsage().minorPageFault
  const c0 = process.cpuUsage()
  for (let i = 0; i < n; i++) op()
  const c = process.cpuUsage(c0)
  const faults = process.resourceUsage().minorPageFault - f0
  const us = c.user + c.system
  return { mbPerCpuS: Math.round((n * size) / us), sysPct: Math.round((100 * c.system) / us), faultsPerGiB: Math.round((faults * 2 ** 30) / (n * size)) }
}

/** node:crypto seal of region[0, size) in place, fed `piece` bytes per update (each output copied into place). */
function nodeSeal(suite: string, key: KeyObject, nonce: Buffer, aad: Buffer, region: Buffer, size: number, piece: number): void {
  const c = createCipheriv(suite as 'aes-256-gcm', key, nonce, { authTagLength: 16 })
  c.setAAD(aad, { plaintextLength: size })
  for (let o = 0; o < size; o += piece) c.update(region.subarray(o, Math.min(o + piece, size))).copy(region, o)
  c.final()
  c.getAuthTag().copy(region, size)
}

const median = (xs: number[]): number => { const t = [...xs].sort((a, b) => a - b); return t[t.length >> 1]! }

const key = new Uint8Array(32).fill(1)
const nonce = Buffer.alloc(12)
const aad = Buffer.alloc(16)
const ko = createSecretKey(Buffer.from(key))
const kb = Buffer.from(key)
const out: Record<string, Record<string, number>> = {}
for (const size of SIZES) {
  const region = Buffer.alloc(size + 16, 3)
  const row: Record<string, number> = {}
  for (const suite of CIPHER_SUITES) {
    const k = new AeadKey(suite, key)
    row[`${suite} seal`] = rate(size, () => k.sealInPlace(region, nonce, aad))
    row[`${suite} seal+open`] = rate(size, () => { k.sealInPlace(region, nonce, aad); k.open(nonce, aad, region, true) })
    row[`${suite} seal, node:crypto one update (baseline)`] = rate(size, () => nodeSeal(suite, ko, nonce, aad, region, size, size))
  }
  row['chacha20-poly1305 seal, libsodium whole frame (baseline)'] = rate(size, () =>
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt(region, region.subarray(0, size), aad, null, nonce, kb))
  out[`${size / 1024}KiB`] = row
}

// CPU-time comparison on 1 MiB frames (the VPN's VPN_DATA size): the wire's own seal per suite, and node:crypto
// in pieces of each size, interleaved over the rounds
const FRAME = 1024 * 1024
const region = Buffer.alloc(FRAME + 16, 3)
const variants: Record<string, () => void> = {}
for (const suite of CIPHER_SUITES) {
  const k = new AeadKey(suite, key)
  variants[`AeadKey ${suite} seal`] = () => k.sealInPlace(region, nonce, aad)
}
for (const piece of [16, 64, 256, 1024]) {
  for (const suite of CIPHER_SUITES) variants[`node:crypto ${suite}, ${piece} KiB pieces`] = () => nodeSeal(suite, ko, nonce, aad, region, FRAME, piece * 1024)
}
const samples: Record<string, CpuRate[]> = {}
for (let r = 0; r < ROUNDS; r++) for (const [name, op] of Object.entries(variants)) (samples[name] ??= []).push(cpuRate(FRAME, op))
const cpu: Record<string, CpuRate & { rounds: number[] }> = {}
for (const [name, s] of Object.entries(samples)) {
  cpu[name] = {
    mbPerCpuS: median(s.map((x) => x.mbPerCpuS)), sysPct: median(s.map((x) => x.sysPct)), faultsPerGiB: median(s.map((x) => x.faultsPerGiB)),
    rounds: s.map((x) => x.mbPerCpuS),
  }
}
console.log(JSON.stringify({
  bench: 'aead', unit: 'MB/s', cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, openssl: process.versions.openssl,
  loadavg: loadavg().map((x) => Math.round(x * 100) / 100), frames: out,
  cpuTime: { frameBytes: FRAME, rounds: ROUNDS, unit: 'MB per CPU-second (medians)', variants: cpu },
}))
