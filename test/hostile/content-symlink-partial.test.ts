/**
 * Hostile setup, issue 14 part 7: someone who can write into the download directory plants `<file>.zeone-part` or
 * `<file>.zeone-state` as a symlink to a file outside it. The fetch must refuse with a clear error, never truncate
 * or write the outside file, and the node must keep fetching (and the seeder keep serving) everything else.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, symlinkSync, linkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { attach } from '../../src/content/attach.js'
import { commands } from '../../src/cli/commands/content.js'
import { createNode, type ZeoneNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { pseudoRandom, writeTree } from '../content/helpers.js'
import { tempDir } from './misc-helpers.js'

type After = { after(fn: () => void | Promise<void>): void }

async function startNode(t: After): Promise<{ node: ZeoneNode; dir: string }> {
  const dir = tempDir(t, 'zeone-hostile-content-')
  const config = validateConfig({
    dataDir: dir, node: { port: 0, host: '127.0.0.1', legacy: false }, ops: { httpPort: -1, logLevel: 'silent' },
    content: { chunkSize: 65536, cache: { maxBytes: 4 * 1024 * 1024 } },
  })
  const node = createNode(config, { layers: [['content', attach]] })
  t.after(() => node.stop())
  await node.start()
  return { node, dir }
}

function io(): { io: { stdout: Writable; stderr: Writable }; out: () => string; err: () => string } {
  let out = ''
  let err = ''
  const w = (f: (s: string) => void): Writable => new Writable({ write(c, _e, cb) { f(String(c)); cb() } })
  return { io: { stdout: w((s) => { out += s }), stderr: w((s) => { err += s }) }, out: () => out, err: () => err }
}
const cmd = (name: string) => commands.find((c) => c.name === name)!

async function setup(t: After): Promise<{ id: string; from: string; victimDir: string; data: Uint8Array; outside: string; outsideText: string }> {
  const seeder = await startNode(t)
  const victim = await startNode(t)
  const src = tempDir(t, 'zeone-hostile-src-')
  const data = pseudoRandom(300_000, 'symlink')
  writeTree(src, { 'm/weights.bin': data })
  const p = io()
  assert.equal(await cmd('publish').run({ positionals: [join(src, 'm')], flags: { 'data-dir': seeder.dir } }, p.io), 0, p.err())
  const outsideDir = tempDir(t, 'zeone-hostile-outside-')
  const outside = join(outsideDir, 'precious.txt')
  const outsideText = 'the operator\'s file, outside the download directory\n'
  writeFileSync(outside, outsideText)
  return { id: p.out().trim(), from: `127.0.0.1:${seeder.node.listenAddress!.port}`, victimDir: victim.dir, data, outside, outsideText }
}

for (const [suffix, plant] of [
  ['.zeone-part', 'symlink'], ['.zeone-state', 'symlink'], ['.zeone-part', 'hardlink'],
] as const) {
  test(`content: a ${plant} planted at ${suffix} is refused and the file it points at stays untouched`, async (t) => {
    const s = await setup(t)
    const out = join(s.victimDir, 'dl')
    mkdirSync(out, { recursive: true })
    const planted = join(out, `weights.bin${suffix}`)
    if (plant === 'symlink') symlinkSync(s.outside, planted); else linkSync(s.outside, planted)

    const f = io()
    const code = await cmd('fetch').run({ positionals: [s.id], flags: { 'data-dir': s.victimDir, out, from: s.from } }, f.io)
    assert.notEqual(code, 0, 'fetch refused')
    assert.match(f.err(), /symbolic link|hard link|not a regular file|refusing/i, `clear error: ${f.err()}`)
    assert.equal(readFileSync(s.outside, 'utf8'), s.outsideText, 'the outside file is untouched')

    // the node keeps working: the same content fetches into a clean directory from the same seeder
    const g = io()
    const clean = join(s.victimDir, 'dl2')
    assert.equal(await cmd('fetch').run({ positionals: [s.id], flags: { 'data-dir': s.victimDir, out: clean, from: s.from } }, g.io), 0, g.err())
    assert.deepEqual(new Uint8Array(readFileSync(join(clean, 'weights.bin'))), s.data)
  })
}
