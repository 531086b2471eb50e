#!/usr/bin/env node
// Lists exports of src/ that no other file in src/, test/, bench/ or scripts/ names (issue 23 item 11: dead code).
// A heuristic by identifier: a name used only in its own file is reported as "local only" (the export can go), a
// name not used at all as "unused". Dynamic uses (`mod[name]`) and names exported for declaration merging are not
// seen, so read each hit before deleting. Usage: node scripts/unused-exports.mjs [path-prefix ...]
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'

const roots = ['src', 'test', 'bench', 'scripts']
const walk = (d) => readdirSync(d).flatMap((n) => {
  const p = join(d, n)
  if (n === 'node_modules' || n === 'dist') return []
  return statSync(p).isDirectory() ? walk(p) : /\.(ts|mjs|js)$/.test(n) ? [p] : []
})
const all = roots.flatMap((r) => { try { return walk(r) } catch { return [] } })
const text = new Map(all.map((f) => [f, readFileSync(f, 'utf8')]))
const prefixes = process.argv.slice(2)
const DECL = /^export\s+(?:declare\s+)?(?:async\s+)?(function\*?|const|let|class|interface|type|enum|abstract\s+class)\s+([A-Za-z_$][\w$]*)/gm
const out = []
for (const [f, src] of text) {
  if (!f.startsWith('src/') || (prefixes.length && !prefixes.some((p) => f.startsWith(p)))) continue
  for (const m of src.matchAll(DECL)) {
    const [, kind, name] = m
    const esc = name.replace(/\$/g, '\\$')
    const word = new RegExp(`\\b${esc}\\b`)
    let elsewhere = false
    for (const [g, t] of text) if (g !== f && word.test(t)) { elsewhere = true; break }
    if (elsewhere) continue
    const local = (src.match(new RegExp(`\\b${esc}\\b`, 'g')) ?? []).length
    out.push(`${relative('.', f)}: ${kind} ${name} (${local > 1 ? 'local only' : 'unused'})`)
  }
}
console.log(out.sort().join('\n'))
