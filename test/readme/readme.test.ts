/**
 * README doc-test (issue 18 item 4): every ```sh block of README.md runs, in order, in a fresh working directory
 * (so a fresh ./.zeone data dir), against this checkout. An example cannot silently break.
 *
 * - `zeone` is this checkout's bin/zeone.js; `npm ci`, `npm test` and `npm run build` are no-ops (this checkout is
 *   installed and built, and the test suite does not re-enter itself); `npm start` is `zeone start`; `xdg-open` prints.
 * - A line that runs a node or a chain (npm start, zeone start, zeone model serve, zeone chain devnet), or ends in
 *   `&`, runs in the background; the next line waits until it printed its banner (`ports:` or `deployment:`). They
 *   are stopped with SIGTERM at the end and must exit 0.
 * - The other lines of a block run as one `bash -e -o pipefail` script (so shell variables carry within a block)
 *   and must exit 0; `bash -x` tracing names the failing line.
 * - `<!-- doctest: skip REASON -->` on the line before a block skips it (systemd, Docker: things CI has not got).
 */
import { after, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

// dist/test/readme/ or test/readme/ -> the repository root
const here = fileURLToPath(new URL('.', import.meta.url))
const repo = resolve(here, here.includes(`${join('dist', 'test')}`) ? '../../..' : '../..')
const work = mkdtempSync(join(tmpdir(), 'zeone-readme-'))
const bin = join(work, '.bin')
const background: Array<{ line: string; proc: ChildProcess; out: () => string; exit: Promise<number | null> }> = []
const kill = (): void => { for (const b of background) { try { process.kill(b.proc.pid!, 'SIGKILL') } catch { /* gone */ } } }
after(() => {
  kill()
  rmSync(work, { recursive: true, force: true })
})

export interface Block { index: number; line: number; text: string; skip?: string }

/** The ```sh / ```bash / ```shell blocks of a markdown text, with a `doctest: skip` marker when one precedes. */
export function shellBlocks(md: string): Block[] {
  const lines = md.split('\n')
  const out: Block[] = []
  for (let i = 0; i < lines.length; i++) {
    const m = /^```(sh|bash|shell)\s*$/.exec(lines[i]!)
    if (!m) continue
    let j = i + 1
    while (j < lines.length && !lines[j]!.startsWith('```')) j++
    let k = i - 1
    while (k >= 0 && lines[k]!.trim() === '') k--
    const skip = k >= 0 ? /^<!--\s*doctest:\s*skip\s+(.+?)\s*-->$/.exec(lines[k]!.trim())?.[1] : undefined
    out.push({ index: out.length, line: i + 1, text: lines.slice(i + 1, j).join('\n'), ...(skip ? { skip } : {}) })
    i = j
  }
  return out
}

/** A shell line without its trailing comment (a # at a word start, outside quotes), so `cmd & # note` ends in &. */
export function stripComment(line: string): string {
  let q: string | undefined
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!
    if (q) { if (c === q) q = undefined; else if (c === '\\' && q === '"') i++; continue }
    if (c === '"' || c === "'") q = c
    else if (c === '\\') i++
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i).trimEnd()
  }
  return line.trimEnd()
}

/** Logical lines (backslash continuations joined, trailing comments cut), without blank and comment-only lines. */
export function commands(text: string): string[] {
  const out: string[] = []
  let cur = ''
  for (const raw of text.split('\n')) {
    if (cur === '' && (raw.trim() === '' || raw.trim().startsWith('#'))) continue
    if (/\\\s*$/.test(raw)) { cur += raw.replace(/\\\s*$/, ' '); continue }
    out.push(stripComment(cur + raw))
    cur = ''
  }
  if (cur) out.push(cur)
  return out
}

const LONG_RUNNING = /(^|[;&|]\s*)(npm start|zeone (start|model serve|chain devnet|devnet))\b/
const READY = /^(ports|deployment): /m

function shims(): void {
  mkdirSync(bin, { recursive: true })
  const zeone = join(repo, 'bin', 'zeone.js')
  const files: Record<string, string> = {
    zeone: `#!/bin/sh\nexec "${process.execPath}" "${zeone}" "$@"\n`,
    npm: `#!/bin/sh\ncase "$1" in\n  ci|test) echo "doctest: npm $* skipped (this checkout is installed; the suite does not re-enter itself)" ;;\n`
      + `  start) exec "${process.execPath}" "${zeone}" start ;;\n  run) [ "$2" = build ] && exit 0; echo "doctest: npm $* not available" >&2; exit 1 ;;\n`
      + `  *) echo "doctest: npm $* not available" >&2; exit 1 ;;\nesac\n`,
    'xdg-open': '#!/bin/sh\necho "doctest: would open $1"\n',
  }
  for (const [name, text] of Object.entries(files)) { writeFileSync(join(bin, name), text); chmodSync(join(bin, name), 0o755) }
}

const env = (): NodeJS.ProcessEnv => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ZEONE_'))),
  PATH: `${bin}:${process.env.PATH ?? ''}`,
  PS4: '+ README: ',
})

function startBackground(line: string): Promise<void> {
  const cmd = line.replace(/&\s*$/, '')
  // the long-running part (after the last &&) replaces the shell, so SIGTERM reaches the node and its exit code is ours
  const i = cmd.lastIndexOf('&&')
  const script = i < 0 ? `exec ${cmd}` : `${cmd.slice(0, i + 2)} exec ${cmd.slice(i + 2)}`
  const proc = spawn('bash', ['-o', 'pipefail', '-c', script], { cwd: work, env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  proc.stdout!.on('data', (b: Buffer) => { out += b.toString() })
  proc.stderr!.on('data', (b: Buffer) => { out += b.toString() })
  const exit = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)))
  background.push({ line, proc, out: () => out, exit })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`README: '${line}' printed no banner in 180 s:\n${out}`)), 180_000)
    proc.stdout!.on('data', () => { if (READY.test(out)) { clearTimeout(timer); resolve() } })
    exit.then((code) => { clearTimeout(timer); reject(new Error(`README: '${line}' exited (${code}) before its banner:\n${out}`)) })
  })
}

// async, so the background nodes' output keeps being drained while a block runs (a full pipe would stall them)
function runScript(lines: string[], where: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = spawn('bash', ['-e', '-o', 'pipefail', '-x', '-c', lines.join('\n')], { cwd: work, env: env(), stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    c.stdout!.on('data', (b: Buffer) => { out += b.toString() })
    c.stderr!.on('data', (b: Buffer) => { out += b.toString() })
    const timer = setTimeout(() => c.kill('SIGKILL'), 300_000)
    c.on('close', (code, sig) => {
      clearTimeout(timer)
      if (code === 0) resolve()
      else reject(new Error(`README ${where} failed (exit ${code ?? sig}):\n${out}`))
    })
  })
}

it('every shell block of the README runs as written, in order, on a fresh data dir', { timeout: 1_200_000 }, async () => {
  shims()
  const blocks = shellBlocks(readFileSync(join(repo, 'README.md'), 'utf8'))
  assert.ok(blocks.length >= 5, 'the README has its examples')
  let ran = 0
  try {
    ran = await runAll(blocks)
  } catch (err) {
    kill() // a failed block leaves no node behind
    throw err
  }
  assert.ok(ran >= 5)
  // every node and chain the README started stops on SIGTERM, within 60 s, with exit code 0
  for (const b of [...background].reverse()) {
    if (b.proc.exitCode === null) b.proc.kill('SIGTERM')
    const timer = setTimeout(() => b.proc.kill('SIGKILL'), 60_000)
    const code = await b.exit
    clearTimeout(timer)
    assert.equal(code, 0, `README: '${b.line}' did not stop cleanly on SIGTERM (exit ${code}):\n${b.out().slice(-4000)}`)
  }
})

async function runAll(blocks: Block[]): Promise<number> {
  let ran = 0
  for (const b of blocks) {
    if (b.skip) continue
    let fg: string[] = []
    for (const c of commands(b.text)) {
      if (LONG_RUNNING.test(c) || /&\s*$/.test(c)) {
        if (fg.length) await runScript(fg, `block at line ${b.line}`)
        fg = []
        await startBackground(c)
      } else fg.push(c)
    }
    if (fg.length) await runScript(fg, `block at line ${b.line}`)
    ran++
  }
  return ran
}

it('the doc-test parser: blocks, skip markers, continuations', () => {
  const md = 'x\n```sh\na \\\n  b\n# c\n\nd &\n```\n<!-- doctest: skip needs root -->\n```bash\ne\n```\n```yaml\nf: 1\n```\n'
  const bl = shellBlocks(md)
  assert.equal(bl.length, 2)
  assert.deepEqual(commands(bl[0]!.text), ['a    b', 'd &'])
  assert.deepEqual(commands('zeone x --data-dir ./t &   # tail\ncurl "a#b" \'c # d\' # e\n'), ['zeone x --data-dir ./t &', 'curl "a#b" \'c # d\''])
  assert.equal(bl[1]!.skip, 'needs root')
  assert.ok(LONG_RUNNING.test('npm ci && npm start'))
  assert.ok(!LONG_RUNNING.test('zeone id'))
})
