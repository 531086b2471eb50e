#!/usr/bin/env node
// Runs the gas benchmark (dist/bench/gas.js after `npm run build`, else bench/gas.ts through tsx) and prints the
// Markdown gas table used in README.md (On-chain economy section).
import { existsSync } from 'node:fs'
import { spawnSync } from 'node:child_process'

const args = existsSync('dist/bench/gas.js') ? ['dist/bench/gas.js'] : ['--import', 'tsx', 'bench/gas.ts']
const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 16 << 20 })
if (r.status !== 0) {
  process.stderr.write(r.stderr)
  process.exit(r.status ?? 1)
}
const j = JSON.parse(r.stdout)
const fmt = (n) => n.toLocaleString('en-US')
const out = []
out.push(`Measured on ${j.evm}.`, '', '| deployment | gas |', '|---|---:|')
for (const [k, v] of Object.entries(j.deploy)) out.push(`| ${k} | ${fmt(v)} |`)
out.push('', '| operation | gas |', '|---|---:|')
for (const [k, v] of Object.entries(j.ops)) out.push(`| ${k} | ${fmt(v)} |`)
out.push('', '| cheque cashing vs plain ERC-20 transfer (same run) | ratio |', '|---|---:|')
for (const [k, v] of Object.entries(j.ratios)) out.push(`| ${k} | ${v} |`)
out.push('', `Cashing a cheque within 2x a transfer: **${j.cashChequeWithin2xTransfer ? 'yes' : 'NO'}**`)
console.log(out.join('\n'))
