#!/usr/bin/env node
// `npm run bench -- NAME [args]` runs dist/bench/NAME.js (compiled from bench/NAME.ts), which prints JSON.
import { existsSync, readdirSync } from 'node:fs'
import { spawnSync } from 'node:child_process'

const [name, ...rest] = process.argv.slice(2)
const list = () => readdirSync('dist/bench').filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3))
if (!name) {
  console.error(`usage: npm run bench -- NAME\navailable: ${list().join(', ')}`)
  process.exit(2)
}
const file = `dist/bench/${name}.js`
if (!existsSync(file)) {
  console.error(`no benchmark ${name}; available: ${list().join(', ')}`)
  process.exit(2)
}
const r = spawnSync(process.execPath, ['--expose-gc', file, ...rest], { stdio: 'inherit' })
process.exit(r.status ?? 1)
