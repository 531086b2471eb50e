/**
 * Runs a node for `zeone start` and `zeone model serve` until SIGINT/SIGTERM: picks its ports (./port-choice.ts),
 * retries a default port lost to a race at bind time, writes <dataDir>/ports.json and prints the banner.
 * Loads the node and the config schema: import it lazily from a command. On a first start the identity is minted
 * on a worker thread while the node's modules load (./identity-ahead.ts).
 */
import { join, resolve } from 'node:path'
import type { CliIO, ParsedArgs } from './command.js'
import { configFromArgs, flagsToConfig } from './config-args.js'
import type { createNode } from '../node.js'
import { loadConfig, mergeConfig } from '../ops/config.js'
import type { ZeoneConfig } from '../ops/config-schema.js'
import { choosePorts, explicitPorts } from './port-choice.js'
import { writePortsFile } from './ports-file.js'
import { mintIdentityAhead } from './identity-ahead.js'

/** The P2P default is every interface: the banner says so, so an operator is never surprised by who can reach the node. */
function allInterfacesNote(l: { host: string; port: number } | undefined): string {
  if (!l || (l.host !== '0.0.0.0' && l.host !== '::')) return ''
  return `note: P2P port ${l.port} listens on all interfaces (${l.host}); --host 127.0.0.1 keeps it on this machine\n`
}

export interface RunNodeOptions {
  /** Changes the validated config before the node is made (model serve adds its stage). */
  adjust?: (config: ZeoneConfig) => void
  /** First banner line(s), before the addresses. */
  heading?: string
}

export async function runNode(args: ParsedArgs, io: CliIO, opts: RunNodeOptions = {}): Promise<number> {
  const { config: asked, file } = configFromArgs(args)
  const ahead = await mintIdentityAhead(resolve(asked.dataDir), asked.dht.staticPuzzleBits)
  const flags = flagsToConfig(args)
  const choice = await choosePorts(asked, explicitPorts(file, process.env, flags))
  let current: { stop(): Promise<void> } | undefined
  let done: () => void = () => {}
  const stopped = new Promise<void>((res) => { done = res })
  let stopping = false
  const onSignal = (sig: string): void => {
    io.stderr.write(`zeone: ${sig} received, stopping\n`)
    stopping = true
    if (current) current.stop().then(done, done); else { void ahead?.cancel(); done() }
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const off = (): void => { process.off('SIGINT', onSignal); process.off('SIGTERM', onSignal) }
  const { createNode, preloadLayers } = await import('../node.js')
  // first start: the layers' modules load on this thread while the worker mints the identity
  if (ahead) await Promise.all([ahead.done, preloadLayers().catch(() => {})])
  if (stopping) { off(); return 0 }
  // a default port another process took between the probe and the bind moves to a free one (twice at most);
  // a port the operator set fails with the listener and the flag named (util/listen.ts)
  let node: ReturnType<typeof createNode>
  let config = asked
  for (let attempt = 0; ; attempt++) {
    const nodeFlags = mergeConfig(flags, choice.flags)
    config = Object.keys(choice.flags).length > 0 ? loadConfig({ ...(file ? { file } : {}), env: process.env, flags: nodeFlags }) : asked
    opts.adjust?.(config)
    node = createNode(config, file ? { configSources: { file, env: process.env, flags: nodeFlags } } : {})
    current = node
    try {
      await node.start()
      break
    } catch (err) {
      await node.stop().catch(() => {})
      const e = err as { code?: string; message?: string }
      const which = e.code !== 'port_in_use' || attempt >= 2 ? undefined
        : e.message?.startsWith('HTTP API') && choice.movable.http ? 'http' : e.message?.startsWith('P2P') && choice.movable.p2p ? 'p2p' : undefined
      if (which === undefined) { off(); throw err }
      if (which === 'http') choice.flags.ops = { httpPort: 0 }
      else choice.flags.node = { port: 0 }
      choice.notes.push(`${which === 'http' ? 'HTTP API' : 'P2P'} port taken while starting: using a free one`)
    }
  }
  node.signal.addEventListener('abort', () => { node.stop().then(done, done) })
  const l = node.listenAddress
  const h = node.httpAddress
  writePortsFile(node.dataDir, { p2p: l, http: h })
  io.stdout.write(`${opts.heading ?? ''}node id: ${node.identity.nodeIdB64}\ndht id: ${node.identity.dhtIdHex}\n`)
  io.stdout.write(`listening: ${l ? `${l.host}:${l.port}` : '-'}\nhttp: ${h ? `${h.host}:${h.port}` : '-'}\ncontrol: ${node.control?.path ?? '-'}\n`
    + `ports: ${join(node.dataDir, 'ports.json')}\nlegacy: ${config.node.legacy ? 'on' : 'off'}\n${allInterfacesNote(l)}`)
  for (const n of choice.notes) io.stdout.write(`note: ${n}\n`)
  await stopped
  off()
  return 0
}
