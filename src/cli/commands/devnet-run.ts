/** What `zeone devnet` does (listed in ./devnet.ts): loaded only when it runs, since it pulls in the EVM and every layer. */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { keccak256, parseEther, toHex } from 'viem'
import type { CliIO, ParsedArgs } from '../command.js'
import { flagBool, flagString } from '../args.js'
import { ZeoneError } from '../../util/errors.js'
import { loadOrCreateIdentity, writeFileAtomic } from '../../crypto/identity.js'
import { startDevnet, devKey, type Devnet } from '../../economy/chain/devnet.js'
import { writeDeployment } from '../../economy/chain/files.js'
import { ChainClient } from '../../economy/chain/client.js'
import { createNode, type ZeoneNode } from '../../node.js'
import { validateConfig } from '../../ops/config.js'
import { readApiToken } from '../../ops/api-token.js'
import { writeTinyModel } from '../../cortex/testing/tiny-model.js'

const MAX_NODES = 32
const STAKE = parseEther('1000')
const MODEL_ID = 'tiny'

/** Resolves on the first SIGINT/SIGTERM; installed before anything starts so Ctrl-C during start-up also stops cleanly. */
function signalled(): { done: Promise<void>; off(): void } {
  let on = (): void => undefined
  const off = (): void => { process.off('SIGINT', on); process.off('SIGTERM', on) }
  const done = new Promise<void>((res) => {
    on = (): void => { off(); res() }
    process.on('SIGINT', on)
    process.on('SIGTERM', on)
  })
  return { done, off }
}

/** A free loopback port, for the exit node: the others name it in their config before it starts. */
function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer()
    srv.once('error', rej)
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address() as AddressInfo; srv.close(() => res(port)) })
  })
}

export async function runDevnet(args: ParsedArgs, io: CliIO): Promise<number> {
  const nFlag = flagString(args, 'nodes') ?? (args.flags.nodes === undefined ? '3' : '')
  if (!/^\d{1,2}$/.test(nFlag) || Number(nFlag) < 1 || Number(nFlag) > MAX_NODES) {
    throw new ZeoneError('bad_flag', `--nodes expects 1..${MAX_NODES}`)
  }
  const n = Number(nFlag)
  const withModel = flagBool(args, 'model') !== false
  const withExit = flagBool(args, 'exit') !== false
  const given = flagString(args, 'dir')
  const dir = given !== undefined ? resolve(given) : mkdtempSync(join(tmpdir(), 'zeone-devnet-'))
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const t0 = performance.now()
  const sig = signalled()

  let net: Devnet | undefined
  const nodes: ZeoneNode[] = []
  try {
    // dev account 0 deploys; node i uses dev account i + 1 (each holds 100,000 ZEO)
    // the deployer keeps Params just long enough to whitelist the devnet's model, then hands it to governance
    net = await startDevnet({ port: 0, accounts: Math.max(4, n + 1), deploy: { keepDeployerAdmin: true } })
    const admin = await ChainClient.open({ deployment: net.deployment, rpcUrl: net.url, privateKey: devKey(0) })
    if (withModel) await admin.write(net.deployment.params, 'Params', 'setModel', [keccak256(toHex(MODEL_ID)), true])
    await admin.write(net.deployment.params, 'Params', 'transferOwnership', [net.deployment.timelock])
    await admin.write(net.deployment.trust, 'TrustOracle', 'transferOwnership', [net.deployment.timelock])
    io.stdout.write(`chain: ${net.url} (chain ${net.deployment.chainId})\n`)
    const modelDir = join(dir, 'model')
    if (withModel) writeTinyModel(modelDir, { family: 'llama', layers: 2, kvHeads: 2, seed: 1 })
    const exitAt = n - 1
    // the exit's DHT announcement goes out as it starts, before its routing table fills; so the others also name it
    // in their config (id@host:port, as an operator would) and see it at once
    const exitPort = withExit && n > 1 ? await freePort() : 0

    // identities exist before the nodes start, so each is bound and staked first (in parallel: one account each)
    const dirs = Array.from({ length: n }, (_, i) => join(dir, `node-${i}`))
    const ids: string[] = []
    await Promise.all(dirs.map(async (d, i) => {
      mkdirSync(d, { recursive: true, mode: 0o700 })
      writeDeployment(d, 'chain-deployment.json', { ...net!.deployment, rpcUrl: net!.url })
      writeFileAtomic(join(d, 'evm.key'), new TextEncoder().encode(`${devKey(i + 1)}\n`), 0o600)
      const { identity } = loadOrCreateIdentity(d, { puzzleBits: 0 })
      ids[i] = identity.nodeIdB64
      const cl = await ChainClient.open({ deployment: net!.deployment, rpcUrl: net!.url, privateKey: devKey(i + 1) })
      await cl.bind(identity)
      await cl.stake(STAKE)
    }))

    const make = (i: number, bootstrap: string[]): ZeoneNode => {
      // the model's two halves: node 0 serves the head and the chat API, node 1 the tail (found through the DHT)
      const layers = n === 1 ? '0:2' : i === 0 ? '0:1' : '1:2'
      const node = createNode(validateConfig({
        dataDir: dirs[i], node: { port: i === exitAt ? exitPort : 0, host: '127.0.0.1', legacy: false, bootstrap },
        ops: { httpPort: 0, logLevel: 'warn' }, dht: { staticPuzzleBits: 0 },
        chain: { enabled: true, rpcUrl: net!.url },
        ...(withModel && i <= 1 ? { cortex: { serve: [{ path: modelDir, modelId: MODEL_ID, layers }] } } : {}),
        ...(withExit && i === exitAt ? { vpn: { exit: { enabled: true, region: 'devnet' } } } : {}),
        ...(withExit && i !== exitAt ? { vpn: { socks: { exits: [`${ids[exitAt]}@127.0.0.1:${exitPort}`] } } } : {}),
      }))
      nodes[i] = node
      return node
    }
    await make(0, []).start()
    const seed = [`127.0.0.1:${nodes[0]!.listenAddress!.port}`]
    await Promise.all(dirs.slice(1).map((_, j) => make(j + 1, seed).start()))

    for (const [i, node] of nodes.entries()) {
      const l = node.listenAddress, h = node.httpAddress
      const roles = [
        withModel && i <= 1 ? `model ${MODEL_ID} layers ${n === 1 ? '0:2' : i === 0 ? '0:1' : '1:2'}` : '',
        withExit && i === exitAt ? 'vpn exit' : '',
      ].filter(Boolean).join(', ')
      io.stdout.write(`node ${i}: ${node.identity.nodeIdB64} p2p ${l ? `${l.host}:${l.port}` : '-'} http ${h ? `${h.host}:${h.port}` : '-'} `
        + `dir ${node.dataDir}${roles ? ` (${roles})` : ''}\n`)
    }
    const h0 = nodes[0]!.httpAddress
    if (h0) io.stdout.write(`dashboard: http://127.0.0.1:${h0.port}/dashboard#token=${readApiToken(nodes[0]!.dataDir) ?? ''}\n`)
    io.stdout.write(`devnet ready in ${((performance.now() - t0) / 1000).toFixed(1)} s (Ctrl-C stops it)\n`)
    await sig.done
    return 0
  } finally {
    sig.off()
    // nodes first (their chain reads end), then the chain; a temp dir we made goes with them
    for (const node of nodes.slice().reverse()) await node?.stop().catch(() => undefined)
    await net?.stop()
    if (given === undefined) rmSync(dir, { recursive: true, force: true })
    io.stdout.write('devnet stopped\n')
  }
}
