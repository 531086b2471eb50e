#!/usr/bin/env node
// Compiles contracts/**/*.sol with the pinned solc (npm `solc`, standard JSON, optimizer on), resolving
// @openzeppelin/* from node_modules. Output: contracts/out/artifacts-<hash>.json ({ key, contracts: { Name: { abi,
// bytecode, deployedBytecode } } }) where <hash> covers every source, the compiler version and the settings, so an
// unchanged tree is never recompiled. Used by `node scripts/compile-contracts.mjs` and, on demand, by
// src/economy/chain/artifacts.ts.
import { createHash } from 'node:crypto'
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, existsSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

export const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
}

function listSol(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (name === 'out') continue
    if (statSync(p).isDirectory()) listSol(p, out)
    else if (name.endsWith('.sol')) out.push(p)
  }
  return out.sort()
}

export function sourceKey(root) {
  const require = createRequire(join(root, 'package.json'))
  const solcVersion = require('solc/package.json').version // loading solc itself takes seconds: only on a miss
  const h = createHash('sha256')
  h.update(solcVersion).update(JSON.stringify(SETTINGS))
  for (const f of listSol(join(root, 'contracts'))) h.update(relative(root, f)).update('\0').update(readFileSync(f))
  return h.digest('hex').slice(0, 16)
}

const LOCK_STALE_MS = 5 * 60_000
const sleepSync = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)

/**
 * Returns the artifacts object, compiling only when no cached file matches the current sources. Concurrent
 * processes (parallel test files) compile once: the first takes an exclusive lock file, the others wait for its
 * output (a lock older than 5 minutes is considered abandoned).
 */
export function compileContracts(root, { log = () => {} } = {}) {
  const outDir = join(root, 'contracts', 'out')
  const key = sourceKey(root)
  const file = join(outDir, `artifacts-${key}.json`)
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'))
  mkdirSync(outDir, { recursive: true })
  const lock = join(outDir, `.lock-${key}`)
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx'))
      break
    } catch (err) {
      if (err.code !== 'EEXIST') throw err
      if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'))
      let age = 0
      try { age = Date.now() - statSync(lock).mtimeMs } catch { continue }
      if (age > LOCK_STALE_MS) { try { unlinkSync(lock) } catch { /* raced */ } continue }
      sleepSync(200)
    }
  }
  try {
    if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'))
    return compileLocked(root, outDir, key, file, log)
  } finally {
    try { unlinkSync(lock) } catch { /* already gone */ }
  }
}

function compileLocked(root, outDir, key, file, log) {
  const require = createRequire(join(root, 'package.json'))
  const solc = require('solc')
  const sources = {}
  for (const f of listSol(join(root, 'contracts'))) {
    sources[relative(root, f).split(sep).join('/')] = { content: readFileSync(f, 'utf8') }
  }
  const ozRoot = dirname(require.resolve('@openzeppelin/contracts/package.json'))
  const findImports = (path) => {
    if (path.startsWith('@openzeppelin/contracts/')) {
      const p = resolve(ozRoot, path.slice('@openzeppelin/contracts/'.length))
      if (!p.startsWith(ozRoot)) return { error: 'import escapes package' }
      return { contents: readFileSync(p, 'utf8') }
    }
    const p = resolve(root, path)
    if (!p.startsWith(join(root, 'contracts'))) return { error: `import not allowed: ${path}` }
    return { contents: readFileSync(p, 'utf8') }
  }
  log(`compiling ${Object.keys(sources).length} sources with solc ${solc.version()}`)
  const input = { language: 'Solidity', sources, settings: SETTINGS }
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }))
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error')
  if (errors.length > 0) throw new Error(`solc failed:\n${errors.map((e) => e.formattedMessage).join('\n')}`)
  const contracts = {}
  for (const [path, byName] of Object.entries(output.contracts ?? {})) {
    if (!path.startsWith('contracts/')) continue
    for (const [name, c] of Object.entries(byName)) {
      if (c.evm.bytecode.object.length === 0) continue
      contracts[name] = { abi: c.abi, bytecode: `0x${c.evm.bytecode.object}`, deployedBytecode: `0x${c.evm.deployedBytecode.object}` }
    }
  }
  const artifacts = { key, solc: solc.version(), contracts }
  mkdirSync(outDir, { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(artifacts))
  renameSync(tmp, file)
  return artifacts
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
  const t = Date.now()
  const a = compileContracts(root, { log: (m) => console.error(m) })
  for (const [name, c] of Object.entries(a.contracts)) {
    console.log(`${name.padEnd(22)} ${((c.deployedBytecode.length - 2) / 2).toString().padStart(6)} bytes`)
  }
  console.error(`artifacts ${a.key} in ${Date.now() - t} ms`)
}
