#!/usr/bin/env node
// Fills in the `resolved` tarball URL of every registry package in package-lock.json that lacks one.
// Why: a lockfile written with omit-lockfile-registry-resolved (this machine's ~/.npmrc sets it) makes `npm ci` fetch
// every package's metadata (packument) just to learn its tarball URL: ~180 registry round trips before the first
// file is written, even with a warm cache. With the URL (and the integrity that is already there) `npm ci` goes
// straight to the cached tarball. npm still rewrites registry.npmjs.org to whatever registry is configured
// (replace-registry-host), so this does not pin the registry. The project .npmrc keeps future installs writing them.
//   node scripts/lock-resolved.mjs [--check]   (--check: exit 1 when an entry lacks its URL)
import { readFileSync, writeFileSync } from 'node:fs'

const file = new URL('../package-lock.json', import.meta.url)
const text = readFileSync(file, 'utf8')
const lock = JSON.parse(text)
let missing = 0
for (const [path, entry] of Object.entries(lock.packages ?? {})) {
  if (path === '' || entry.resolved || entry.link || entry.inBundle || !entry.version || !entry.integrity) continue
  const name = entry.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)
  const base = name.startsWith('@') ? name.split('/')[1] : name
  entry.resolved = `https://registry.npmjs.org/${name}/-/${base}-${entry.version}.tgz`
  missing++
}
if (process.argv.includes('--check')) {
  if (missing > 0) { console.error(`package-lock.json: ${missing} packages without a resolved URL (node scripts/lock-resolved.mjs)`); process.exit(1) }
} else if (missing > 0) {
  // npm's own layout: "resolved" right after "version"
  for (const entry of Object.values(lock.packages)) {
    if (!entry.resolved) continue
    const { version, resolved, ...rest } = entry
    for (const k of Object.keys(entry)) delete entry[k]
    Object.assign(entry, version !== undefined ? { version, resolved } : { resolved }, rest)
  }
  writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`)
  console.log(`package-lock.json: added ${missing} resolved URLs`)
}
