/** `zeone` entry point: dispatches to the command whose name matches the most leading words. */
import type { CliIO, Command } from './command.js'
import { allCommands } from './commands/index.js'
import { parseArgs } from './args.js'
import { ZeoneError } from '../util/errors.js'

/** Finds the command with the longest name matching the leading words of argv. */
export function findCommand(argv: string[], commands: Command[]): { command: Command; rest: string[] } | undefined {
  let best: { command: Command; rest: string[] } | undefined
  let bestLen = 0
  for (const c of commands) {
    const words = c.name.split(' ')
    if (words.length <= bestLen || words.length > argv.length) continue
    if (words.every((w, i) => argv[i] === w)) { best = { command: c, rest: argv.slice(words.length) }; bestLen = words.length }
  }
  return best
}

export function helpText(commands: Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length), 4)
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`)
  return `usage: zeone <command> [options]\n\ncommands:\n  ${'help'.padEnd(width)}  show this help (zeone help <command> for details)\n${lines.join('\n')}\n`
}

export async function main(argv: string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }, commands: Command[] = allCommands): Promise<number> {
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    const topic = argv.slice(1)
    const found = topic.length > 0 ? findCommand(topic, commands) : undefined
    if (found) io.stdout.write(`usage: zeone ${found.command.usage}\n\n${found.command.summary}\n`)
    else io.stdout.write(helpText(commands))
    return argv.length === 0 ? 2 : 0
  }
  const found = findCommand(argv, commands)
  if (!found) {
    io.stderr.write(`zeone: unknown command '${argv.join(' ')}'\n\n${helpText(commands)}`)
    return 2
  }
  const args = parseArgs(found.rest)
  if (args.flags.help === true) {
    io.stdout.write(`usage: zeone ${found.command.usage}\n\n${found.command.summary}\n`)
    return 0
  }
  try {
    return await found.command.run(args, io)
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
  const msg = err instanceof Error ? err.message : String(err)
  return `${msg}${err instanceof ZeoneError ? ` [${err.code}]` : ''}`
}
