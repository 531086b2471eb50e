/**
 * ARCHITECTURE.md: "A layer imports only layers below it." This walks every import in src/ (static, re-export and
 * dynamic) and fails on one that points to a higher layer, so an upward import cannot land unnoticed.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, normalize, relative, sep } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const src = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src')

/**
 * Bottom up. util/types/interfaces are shared leaf packages; node.ts is the composition root (node-layers.ts, its
 * layer list, imports every layer's attach); cli is on top.
 */
export const LAYERS = ['util', 'types', 'crypto', 'wire', 'interfaces', 'transport', 'dht', 'nat', 'content', 'economy',
  'cortex', 'services', 'ops', 'node-layers.ts', 'node.ts', 'cli'] as const

/**
 * Upward imports allowed, each with its reason. Empty since issue 23 item 8 (each layer declares its own config slice,
 * so NodeContext names no config type). The test fails when the list holds an import that is gone, so it only shrinks.
 */
const KNOWN: Record<string, string> = {}

function files(d: string): string[] {
  return readdirSync(d).flatMap((n) => {
    const p = join(d, n)
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : []
  })
}

const layerOf = (p: string): string => relative(src, p).split(sep)[0]!
const IMPORT = /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g

export function upwardImports(): string[] {
  const rank = new Map<string, number>(LAYERS.map((l, i) => [l, i]))
  const out: string[] = []
  for (const f of files(src)) {
    const from = layerOf(f)
    for (const m of readFileSync(f, 'utf8').matchAll(IMPORT)) {
      const target = normalize(join(dirname(f), (m[1] ?? m[2])!)).replace(/\.js$/, '.ts')
      const to = layerOf(target)
      assert.ok(rank.has(from) && rank.has(to), `unknown layer in ${relative(src, f)} -> ${relative(src, target)}`)
      if (rank.get(to)! > rank.get(from)!) out.push(`${relative(src, f)} -> ${relative(src, target)}`)
    }
  }
  return out
}

test('no module in src/ imports a higher layer (ARCHITECTURE.md)', () => {
  const found = upwardImports()
  const unexpected = found.filter((i) => !(i in KNOWN))
  assert.deepEqual(unexpected, [], `upward imports:\n${unexpected.join('\n')}`)
  const stale = Object.keys(KNOWN).filter((k) => !found.includes(k))
  assert.deepEqual(stale, [], 'KNOWN lists an upward import that no longer exists: remove it')
})

test('the import walker sees static, re-export and dynamic imports', () => {
  const cases = [`import { a } from './x.js'`, `export * from '../y.js'`, `const m = await import('../../z.js')`,
    `import type {\n  T,\n} from './multi.js'`]
  assert.deepEqual(cases.map((c) => [...c.matchAll(IMPORT)].map((m) => m[1] ?? m[2])), [['./x.js'], ['../y.js'], ['../../z.js'], ['./multi.js']])
})
