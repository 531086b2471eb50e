/** One `zeone` sub-command. Each layer exports its commands from src/cli/commands/<layer>.ts. */
export interface ParsedArgs {
  /** Positional arguments after the command words. */
  positionals: string[]
  /** --flag value / --flag (true) / --no-flag (false); repeated flags collect into arrays. */
  flags: Record<string, string | boolean | string[]>
}

export interface CliIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }
  stderr: NodeJS.WritableStream
}

export interface Command {
  /** Command words, e.g. 'dht put' or 'id'. */
  name: string
  summary: string
  usage: string
  run(args: ParsedArgs, io: CliIO): Promise<number>
}
