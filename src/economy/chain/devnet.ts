/**
 * `zeone chain devnet`: an in-process EVM (EDR) with every contract deployed, served as JSON-RPC over HTTP on
 * loopback. Dev accounts are deterministic (keccak256("zeone-devnet-<i>")) and public: never use them elsewhere.
 * Account 0 deploys; accounts 0..2 are the three trust reporters; every dev account gets 100,000 ZEO and an
 * attested trust of 0.5 from each reporter, so `zeone stake` + `zeone gov ...` work at once with the devnet's short
 * governance timings. `zeone chain advance` moves the devnet's clock (evm_increaseTime) for governance deadlines.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { keccak256, parseEther, toHex, type Address, type Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { loadArtifacts } from './artifacts.js'
import { connect, write } from './clients.js'
import { createEdrChain, handleJsonRpc, type EdrChain } from './edr.js'
import { deployAll, type DeployInit, type Deployment } from './deploy.js'
import { artifact } from './artifacts.js'
import { ChainError } from './errors.js'

export interface DevnetInit {
  /** @default 127.0.0.1 */ host?: string
  /** 0 = any free port. @default 8545 */ port?: number
  /** @default 31337 */ chainId?: number
  /** @default 4 */ accounts?: number
  deploy?: DeployInit
  /** Largest accepted request body. @default 1 MiB */ maxBodyBytes?: number
  /** Mine an empty block this often so chain time follows the wall clock (governance deadlines). @default off */
  intervalMs?: number
}

export interface Devnet {
  url: string
  chain: EdrChain
  deployment: Deployment
  keys: Hex[]
  stop(): Promise<void>
}

export const devKey = (i: number): Hex => keccak256(toHex(`zeone-devnet-${i}`))
const ZEO = (n: bigint) => n * 10n ** 18n

export async function startDevnet(init: DevnetInit = {}): Promise<Devnet> {
  const n = init.accounts ?? 4
  const keys = Array.from({ length: n }, (_, i) => devKey(i))
  const chainId = init.chainId ?? 31337
  const chain = await createEdrChain({ chainId, accounts: keys.map((privateKey) => ({ privateKey, balanceWei: parseEther('10000') })),
    ...(init.intervalMs !== undefined ? { intervalMs: init.intervalMs } : {}) })
  const arts = await loadArtifacts()
  const c = connect({ provider: chain, chainId, privateKey: keys[0]! })
  // dev accounts 0..2 (when there are three) are the trust reporters named at deploy; each reports 0.5 for every
  // dev account, so trust counts from genesis (with fewer accounts the oracle stays in bootstrap: stake-only votes)
  const reporterKeys = keys.length >= 3 ? keys.slice(0, 3) : []
  const deployment = await deployAll(c, arts, {
    votingDelay: 1, votingPeriod: 60, timelockDelay: 1, unbondingDelay: 60, disputeWindow: 60, claimWindow: 3600,
    withdrawDelay: 60, reporters: reporterKeys.map((k) => privateKeyToAddress(k)), trustMaxStepWad: 10n ** 18n, ...init.deploy,
  })
  for (const k of keys.slice(1)) {
    await write(c, deployment.token, artifact(arts, 'ZEOToken').abi, 'transfer', [privateKeyToAddress(k), ZEO(100_000n)])
  }
  for (const rk of reporterKeys) {
    const rc = connect({ provider: chain, chainId, privateKey: rk })
    for (const k of keys) {
      await write(rc, deployment.trust, artifact(arts, 'TrustOracle').abi, 'report', [privateKeyToAddress(k), 5n * 10n ** 17n])
    }
  }
  const max = init.maxBodyBytes ?? 1 << 20
  const server: Server = createServer((req, res) => {
    if (req.method !== 'POST') { res.writeHead(405).end(); return }
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (d: Buffer) => {
      size += d.length
      if (size > max) { res.writeHead(413).end(); req.destroy(); return }
      chunks.push(d)
    })
    req.on('end', () => {
      if (size > max) return
      let body: unknown
      try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } }))
        return
      }
      handleJsonRpc(chain, body).then((out) => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out, (_k, v: unknown) => typeof v === 'bigint' ? toHex(v) : v))
      }, () => { res.writeHead(500).end() })
    })
  })
  const host = init.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ChainError('listen_failed', `devnet cannot listen on ${host}:${init.port ?? 8545}: ${err.message}`, { cause: err })))
    server.listen(init.port ?? 8545, host, () => resolve())
  })
  const addr = server.address() as AddressInfo
  let stopped: Promise<void> | undefined
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`,
    chain, deployment, keys,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      return stopped
    },
  }
}

export type { Address }
