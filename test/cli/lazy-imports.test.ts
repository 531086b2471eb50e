// `zeone help` and the client commands must not load a layer's heavy dependencies (issue 18 item 1): a module
// resolve hook in a child process records every package the CLI loads.
import { after, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const fromSource = import.meta.url.endsWith('.ts')
const fixture = fileURLToPath(new URL(`./fixtures/zeone-cli.${fromSource ? 'ts' : 'js'}`, import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'zeone-lazy-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const HEAVY = ['viem', 'zod', 'onnxruntime-node', 'onnx-proto', '@nomicfoundation/edr', 'solc', 'sodium-native', 'better-sqlite3', 'pino', 'prom-client', 'udx-native', 'ws']

/**
 * Node flags that log every module the process loads to `log`: ESM through a resolve hook, CommonJS (also what
 * createRequire loads lazily) through a --require preload wrapping Module._load.
 */
function loggingFlags(log: string): string[] {
  const hook = join(dir, 'hook.mjs')
  writeFileSync(hook, `import { appendFileSync } from 'node:fs'
export async function resolve(spec, ctx, next) { const r = await next(spec, ctx); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r }\n`)
  const reg = join(dir, 'register.mjs')
  writeFileSync(reg, `import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hook).href)})\n`)
  const cjs = join(dir, 'cjs.cjs')
  writeFileSync(cjs, `const M = require('node:module'); const fs = require('node:fs'); const load = M._load
M._load = function (req, parent) { try { fs.appendFileSync(${JSON.stringify(log)}, M._resolveFilename(req, parent) + '\\n') } catch {} return load.apply(this, arguments) }\n`)
  writeFileSync(log, '')
  return ['--require', cjs, ...(fromSource ? ['--import', 'tsx'] : []), '--import', reg]
}

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env }
  for (const k of Object.keys(env)) if (k.startsWith('ZEONE_')) delete env[k]
  return env
}

function packagesIn(log: string): Set<string> {
  const urls = readFileSync(log, 'utf8').split('\n')
  const pkgs = new Set<string>()
  for (const u of urls) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)
    if (m) pkgs.add(m[1]!)
  }
  return pkgs
}

/** The command modules (src/cli/commands/*) a log shows loaded. */
function commandModulesIn(log: string): string[] {
  const mods = new Set<string>()
  for (const u of readFileSync(log, 'utf8').split('\n')) {
    const m = /\/src\/cli\/commands\/([^/]+)\.(?:js|ts)$/.exec(u)
    if (m) mods.add(m[1]!)
  }
  return [...mods].sort()
}

function loadedBy(args: string[]): { pkgs: Set<string>; commandModules: string[] } {
  const log = join(dir, `loaded-${args[0]}.txt`)
  const r = spawnSync(process.execPath, [...loggingFlags(log), fixture, ...args], { env: cleanEnv(), encoding: 'utf8' })
  assert.ok(r.status !== null, 'the CLI ran')
  const text = readFileSync(log, 'utf8')
  assert.match(text, /\/src\/cli\/main\.(js|ts)\n/, 'the log saw the CLI\'s own modules (the hooks work)')
  return { pkgs: packagesIn(log), commandModules: commandModulesIn(log) }
}

it('zeone help loads none of the heavy packages and no command module (the manifest has the help)', () => {
  const { pkgs, commandModules } = loadedBy(['help'])
  for (const p of HEAVY) assert.ok(!pkgs.has(p), `zeone help loaded ${p}`)
  assert.deepEqual(commandModules, [], 'zeone help loaded command modules')
})

it('a client command without a node loads no layer package and only its own command module', () => {
  const { pkgs, commandModules } = loadedBy(['dht', 'get', 'x', '--data-dir', join(dir, 'none')])
  for (const p of HEAVY) assert.ok(!pkgs.has(p), `zeone dht get loaded ${p}`)
  assert.deepEqual(commandModules, ['dht'])
})

// A default node (no chain, no .yaml config, no WebSocket client yet) must not pay for viem (~400 modules), yaml or
// ws at start: they load when a chain, a YAML file or the first WebSocket upgrade needs them.
const START_LAZY = ['viem', 'yaml', 'ws', '@nomicfoundation/edr', 'solc', 'onnxruntime-node']

it('zeone start with the default config loads neither viem nor yaml nor ws before its banner', async () => {
  const log = join(dir, 'loaded-start.txt')
  const data = join(dir, 'start-node')
  const c = spawn(process.execPath, [...loggingFlags(log), fixture, 'start', '--data-dir', data, '--http-port', '0', '--port', '0', '--host', '127.0.0.1'],
    { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((res) => c.on('exit', (code) => res(code)))
  try {
    let out = ''
    let err = ''
    c.stderr.on('data', (d) => { err += String(d) })
    await new Promise<void>((res, rej) => {
      c.stdout.on('data', (d) => { out += String(d); if (/^ports: /m.test(out)) res() })
      void exited.then((code) => rej(new Error(`zeone start exited ${code} before its banner: ${err.slice(-1000)}`)))
    })
    const pkgs = packagesIn(log)
    assert.ok(pkgs.has('better-sqlite3') && pkgs.has('zod'), 'the log saw the node\'s own packages (the hooks work)')
    for (const p of START_LAZY) assert.ok(!pkgs.has(p), `zeone start loaded ${p}`)
  } finally {
    c.kill('SIGTERM')
    const t = setTimeout(() => c.kill('SIGKILL'), 20_000)
    await exited
    clearTimeout(t)
  }
})
