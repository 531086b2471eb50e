#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (`npm start` and `npm test` build when stale).
import { existsSync } from 'node:fs'

const main = new URL('../dist/src/cli/main.js', import.meta.url)
if (!existsSync(main)) {
  console.error('zeone: not built yet: run `npm run build` (or `npm start`, which builds when sources changed) in this checkout')
  process.exitCode = 1
} else {
  import(main.href).then((m) => m.main(process.argv.slice(2))).then(
    (code) => { if (typeof code === 'number') process.exitCode = code },
    (err) => { console.error(err?.message ?? err); process.exitCode = 1 }
  )
}
