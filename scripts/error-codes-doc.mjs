#!/usr/bin/env node
// Writes the wire ERROR code table into docs/protocol.md §5.1 from src/wire/error-codes.ts (run after a build).
// test/wire/error-codes.test.ts fails when the table is stale.
import { readFileSync, writeFileSync } from 'node:fs'
import { WIRE_ERROR_CODES } from '../dist/src/wire/error-codes.js'

export function errorCodesTable(codes) {
  const rows = Object.entries(codes).map(([layer, list]) => `| ${layer} | ${list.map((c) => `\`${c}\``).join(', ')} |`)
  return ['| raised by | codes |', '|---|---|', ...rows].join('\n')
}

export const BEGIN = '<!-- error-codes:begin (generated from src/wire/error-codes.ts; a test fails when stale) -->'
export const END = '<!-- error-codes:end -->'

if (import.meta.url === `file://${process.argv[1]}`) {
  const p = 'docs/protocol.md'
  const s = readFileSync(p, 'utf8')
  const i = s.indexOf(BEGIN), j = s.indexOf(END)
  if (i < 0 || j < i) throw new Error(`${p}: the error-codes markers are missing`)
  writeFileSync(p, `${s.slice(0, i + BEGIN.length)}\n${errorCodesTable(WIRE_ERROR_CODES)}\n${s.slice(j)}`)
  console.log(`${p}: error code table written`)
}
