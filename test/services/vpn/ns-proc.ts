/** A fixture process (fixtures/netns-proc) in a network namespace, for the namespace tests of the VPN. */
import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** A fixture process (fixtures/netns-proc) in a namespace; its JSON lines are collected in `lines`. */
export class Proc {
  readonly proc: ChildProcess
  readonly lines: Array<Record<string, unknown>> = []
  stderr = ''
  /** stdout and stderr closed: every line it printed has been read */
  closed = false
  #wake: (() => void) | undefined

  constructor(ns: string, args: string[]) {
    const ts = fileURLToPath(import.meta.url).endsWith('.ts')
    const script = fileURLToPath(new URL(`./fixtures/netns-proc.${ts ? 'ts' : 'js'}`, import.meta.url))
    this.proc = spawn('ip', ['netns', 'exec', ns, process.execPath, ...(ts ? ['--import', 'tsx'] : []), script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.proc.stderr!.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000) })
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      try { this.lines.push(JSON.parse(line) as Record<string, unknown>) } catch { return }
      this.#wake?.()
    })
    this.proc.on('close', () => { this.closed = true; this.#wake?.() })
  }

  /** The first line (from index `from`) with key `k`; rejects when the process exits first or reports an error. */
  async wait(k: string, from = 0): Promise<Record<string, unknown>> {
    for (;;) {
      const hit = this.lines.slice(from).find((m) => k in m)
      if (hit) return hit
      const err = this.lines.find((m) => 'error' in m)
      if (err) throw new Error(`${String(err.error)}; stderr: ${this.stderr}`)
      if (this.closed) throw new Error(`fixture exited; stderr: ${this.stderr}`)
      await new Promise<void>((r) => { this.#wake = r })
    }
  }

  count(k: string): number { return this.lines.filter((m) => k in m).length }

  send(line: string): void { this.proc.stdin!.write(line + '\n') }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()))
    this.proc.stdin!.end()
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(t)
  }
}
