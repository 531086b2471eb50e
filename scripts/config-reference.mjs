#!/usr/bin/env node
// Writes docs/config.md, the config reference, from the schema itself: key paths, types, defaults and limits from
// the compiled zod schema (z.toJSONSchema), descriptions from the doc comment above each key in the schema sources.
//   node scripts/config-reference.mjs          (write docs/config.md; needs `npm run build` first)
//   node scripts/config-reference.mjs --check  (exit 1 if docs/config.md is out of date)
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { z } from 'zod'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { configSchema } = await import(join(root, 'dist/src/ops/config-schema.js'))

/** Doc comments of every key, by dotted path, following schema consts across imports (source, not dist). */
function docs() {
  const out = new Map()
  const parsed = new Map()
  const parse = (file) => {
    if (!parsed.has(file)) parsed.set(file, ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true))
    return parsed.get(file)
  }
  const docOf = (node, sf) => {
    const ranges = ts.getLeadingCommentRanges(sf.text, node.getFullStart()) ?? []
    const last = ranges.filter((r) => sf.text.slice(r.pos, r.pos + 3) === '/**').at(-1)
    if (!last) return ''
    return sf.text.slice(last.pos + 3, last.end - 2).split('\n').map((l) => l.replace(/^\s*\*\s?/, '')).join(' ')
      .replace(/@default[\s\S]*$/, '').replace(/\s+/g, ' ').trim()
  }
  /** The `z.object({...})` literal an expression builds, or the const it names (possibly imported). */
  const objectOf = (expr, sf) => {
    let e = expr
    while (e) {
      if (ts.isCallExpression(e)) {
        const callee = e.expression
        if (ts.isPropertyAccessExpression(callee) && callee.name.text === 'object' && ts.isIdentifier(callee.expression) && callee.expression.text === 'z' && e.arguments[0] && ts.isObjectLiteralExpression(e.arguments[0])) return [e.arguments[0], sf]
        e = ts.isPropertyAccessExpression(callee) ? callee.expression : undefined
      } else if (ts.isIdentifier(e)) return resolveConst(e.text, sf)
      else return undefined
    }
    return undefined
  }
  const resolveConst = (name, sf) => {
    for (const st of sf.statements) {
      if (ts.isVariableStatement(st)) for (const d of st.declarationList.declarations) if (ts.isIdentifier(d.name) && d.name.text === name && d.initializer) return objectOf(d.initializer, sf)
      if (ts.isImportDeclaration(st) && st.importClause?.namedBindings && ts.isNamedImports(st.importClause.namedBindings)) {
        for (const el of st.importClause.namedBindings.elements) {
          if (el.name.text !== name) continue
          const spec = st.moduleSpecifier.text
          if (!spec.startsWith('.')) return undefined
          return resolveConst((el.propertyName ?? el.name).text, parse(resolve(dirname(sf.fileName), spec.replace(/\.js$/, '.ts'))))
        }
      }
    }
    return undefined
  }
  const walk = (obj, sf, prefix) => {
    for (const p of obj.properties) {
      if (!ts.isPropertyAssignment(p)) continue
      const key = p.name.getText(sf)
      const path = prefix ? `${prefix}.${key}` : key
      const d = docOf(p, sf)
      if (d) out.set(path, d)
      const inner = objectOf(p.initializer, sf)
      if (inner) walk(inner[0], inner[1], path)
    }
  }
  const top = resolveConst('configSchema', parse(join(root, 'src/ops/config-schema.ts')))
  walk(top[0], top[1], '')
  return out
}

const fmt = (v) => (v === undefined ? '' : '`' + JSON.stringify(v) + '`')
function typeOf(s) {
  if (s.enum) return s.enum.map((x) => JSON.stringify(x)).join(' \\| ')
  if (s.anyOf) return s.anyOf.map(typeOf).join(' \\| ')
  if (s.type === 'array') return `${typeOf(s.items ?? {})}[]`
  if (s.type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object') return `map of ${typeOf(s.additionalProperties)}`
  return s.type ?? (s.const !== undefined ? JSON.stringify(s.const) : 'any')
}
function limits(s) {
  const l = []
  if (s.minimum !== undefined) l.push(`>= ${s.minimum}`)
  if (s.exclusiveMinimum !== undefined) l.push(`> ${s.exclusiveMinimum}`)
  if (s.maximum !== undefined && s.maximum < Number.MAX_SAFE_INTEGER) l.push(`<= ${s.maximum}`)
  if (s.minLength !== undefined) l.push(`length >= ${s.minLength}`)
  if (s.maxLength !== undefined) l.push(`length <= ${s.maxLength}`)
  if (s.maxItems !== undefined) l.push(`<= ${s.maxItems} items`)
  if (s.format) l.push(s.format)
  return l.join(', ')
}

const json = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' })
const doc = docs()
const sections = []
const rows = (props, prefix, acc) => {
  for (const [k, s] of Object.entries(props)) {
    const path = prefix ? `${prefix}.${k}` : k
    if (s.type === 'object' && s.properties) { acc.push({ path, section: true, s }); rows(s.properties, path, acc); continue }
    acc.push({ path, s })
  }
}
let md = '# Configuration reference\n\nGenerated from the schema by `node scripts/config-reference.mjs` (CI checks it is current). Every key has a\n' +
  'default, so an empty file is a valid config. Sources, lowest to highest precedence: defaults < config file (`--config`\n' +
  'or `ZEONE_CONFIG`; YAML, TOML or JSON) < `ZEONE_*` environment (`ZEONE_NODE__PORT=9000` is `node.port`) < CLI flags.\n' +
  'Unknown keys are refused. Keys marked *live* apply on reload without a restart (README, "Configuration").\n'
const live = await import(join(root, 'dist/src/ops/live-config.js'))
const { CONTENT_LIVE_KEYS } = await import(join(root, 'dist/src/content/service.js'))
const liveKeys = [...live.LIVE_KEYS, ...CONTENT_LIVE_KEYS, 'services.maxConcurrent', 'services.timeoutMs', 'services.maxPayloadBytes']
const top = Object.entries(json.properties)
const scalarTop = top.filter(([, s]) => !(s.type === 'object' && s.properties))
const head = (t) => `\n| key | type | default | limits | description |\n|---|---|---|---|---|\n${t}`
const line = ({ path, s }) => `| \`${path}\` | ${typeOf(s)} | ${fmt(s.default)} | ${limits(s)} | ${[live.matchesKey(liveKeys, path) ? '*live*' : '', doc.get(path) ?? ''].filter(Boolean).join(' ').replace(/\|/g, '\\|')} |\n`
md += `\n## Top level\n${head(scalarTop.map(([k, s]) => line({ path: k, s })).join(''))}`
for (const [k, s] of top) {
  if (!(s.type === 'object' && s.properties)) continue
  const acc = []
  rows(s.properties, k, acc)
  md += `\n## \`${k}\`\n${doc.get(k) ? `\n${doc.get(k)}\n` : ''}${head(acc.filter((r) => !r.section).map(line).join(''))}`
  sections.push(k)
}
const file = join(root, 'docs/config.md')
if (process.argv.includes('--check')) {
  const cur = (() => { try { return readFileSync(file, 'utf8') } catch { return '' } })()
  if (cur !== md) { console.error('docs/config.md is out of date: run node scripts/config-reference.mjs'); process.exit(1) }
  console.log(`docs/config.md is current (${sections.length} sections, ${doc.size} documented keys)`)
} else {
  writeFileSync(file, md)
  console.log(`wrote docs/config.md (${sections.length} sections, ${doc.size} documented keys)`)
}
