/**
 * `zeone` entry point: dispatches to the command whose name matches the most leading words. By default the commands
 * come from the generated ./manifest.ts, so help and a command load only the module of the command asked for (a
 * client command such as `zeone dht get` loads a dozen small modules, not every command group).
 */
import type { CliIO, Command } from './command.js'
import { parseArgs } from './args.js'
import { loaders, manifest, type ManifestEntry } from './manifest.js'

/** What help and dispatch need of a command before its module is loaded. */
type Listed = Pick<Command, 'name' | 'summary' | 'usage'>

/** Finds the command with the longest name matching the leading words of argv. */
export function findCommand<C extends Pick<Command, 'name'>>(argv: string[], commands: readonly C[]): { command: C; rest: string[] } | undefined {
  let best: { command: C; rest: string[] } | undefined
  let bestLen = 0
  for (const c of commands) {
    const words = c.name.split(' ')
    if (words.length <= bestLen || words.length > argv.length) continue
    if (words.every((w, i) => argv[i] === w)) { best = { command: c, rest: argv.slice(words.length) }; bestLen = words.length }
  }
  return best
}

export function helpText(commands: readonly Pick<Command, 'name' | 'summary'>[]): string {
  const width = Math.max(...commands.map((c) => c.name.length), 4)
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`)
  return `usage: zeone <command> [options]\n\ncommands:\n  ${'help'.padEnd(width)}  show this help (zeone help <command> for details)\n${lines.join('\n')}\n`
}

/** The command a manifest entry names, from its module (a manifest older than the module is a build mistake). */
async function load(entry: ManifestEntry): Promise<Command> {
  const { commands } = await loaders[entry.module]!()
  const c = commands.find((x) => x.name === entry.name)
  if (!c) throw new Error(`src/cli/manifest.ts is stale: '${entry.name}' is not in commands/${entry.module}; regenerate it (node dist/src/cli/manifest-gen.js)`)
  return c
}

/** Runs `zeone ARGV`; `commands` replaces the manifest (tests run their own commands). */
export async function main(argv: string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }, commands?: Command[]): Promise<number> {
  const listed: readonly Listed[] = commands ?? manifest
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    const topic = argv.slice(1)
    const found = topic.length > 0 ? findCommand(topic, listed) : undefined
    if (found) io.stdout.write(`usage: zeone ${found.command.usage}\n\n${found.command.summary}\n`)
    else io.stdout.write(helpText(listed))
    return argv.length === 0 ? 2 : 0
  }
  const found = findCommand(argv, listed)
  if (!found) {
    io.stderr.write(`zeone: unknown command '${argv.join(' ')}'\n\n${helpText(listed)}`)
    return 2
  }
  const args = parseArgs(found.rest)
  if (args.flags.help === true) {
    io.stdout.write(`usage: zeone ${found.command.usage}\n\n${found.command.summary}\n`)
    return 0
  }
  try {
    const command = commands ? found.command as Command : await load(found.command as ManifestEntry)
    return await command.run(args, io)
  } catch (err) {
    io.stderr.write(`zeone ${found.command.name}: ${await describeError(err)}\n`)
    return 1
  }
}

/** A viem error somewhere in the cause chain, told apart without loading viem (the CLI loads it only for chain commands). */
function fromViem(err: unknown): boolean {
  for (let e = err, i = 0; e && i < 8; e = (e as { cause?: unknown }).cause, i++) {
    const x = e as { shortMessage?: unknown; walk?: unknown }
    if (typeof x.shortMessage === 'string' && typeof x.walk === 'function') return true
  }
  return false
}

function viemShort(err: unknown): string | undefined {
  for (let e = err, i = 0; e && i < 8; e = (e as { cause?: unknown }).cause, i++) {
    const x = e as { shortMessage?: unknown }
    if (typeof x.shortMessage === 'string') return x.shortMessage.split('\n')[0]!.slice(0, 300)
  }
  return undefined
}

/** One line for a failed command: chain errors decoded to the contract's error name, never a multi-line viem dump. */
async function describeError(err: unknown): Promise<string> {
  if (fromViem(err)) {
    try {
      const { describeChainError } = await import('../economy/chain/revert.js')
      const line = await describeChainError(err)
      if (line !== undefined) return line
    } catch {
      // the decoder needs the compiled ABIs; without them still one line, never viem's multi-line dump
      const short = viemShort(err)
      if (short !== undefined) return `chain: ${short}`
    }
  }
  const { ZeoneError } = await import('../util/errors.js')
  const msg = err instanceof Error ? err.message : String(err)
  return `${msg}${err instanceof ZeoneError ? ` [${err.code}]` : ''}`
}
