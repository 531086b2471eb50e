import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PassThrough } from 'node:stream'
import { commands } from '../../src/cli/commands/cortex.js'
import { tinyModel } from './helpers.js'

function io(): { out: () => string; err: () => string; io: { stdout: PassThrough; stderr: PassThrough } } {
  const stdout = new PassThrough(), stderr = new PassThrough()
  let o = '', e = ''
  stdout.on('data', (d) => { o += d }); stderr.on('data', (d) => { e += d })
  return { out: () => o, err: () => e, io: { stdout, stderr } }
}

test('zeone model info describes a model directory', async () => {
  const m = tinyModel({ family: 'llama', layers: 3, kvHeads: 2, dtype: 'BF16', sharded: true })
  try {
    const cmd = commands.find((c) => c.name === 'model info')!
    const x = io()
    assert.equal(await cmd.run({ positionals: [m.dir], flags: { json: true } }, x.io), 0)
    const j = JSON.parse(x.out()) as { family: string; layers: number; kvHeads: number; bytesByDtype: Record<string, number>; tokenizer: { mode: string } }
    assert.equal(j.family, 'llama')
    assert.equal(j.layers, 3)
    assert.equal(j.kvHeads, 2)
    assert.ok(j.bytesByDtype.BF16! > 0)
    assert.equal(j.tokenizer.mode, 'spm')
    const y = io()
    assert.equal(await cmd.run({ positionals: [], flags: {} }, y.io), 2)
    await assert.rejects(cmd.run({ positionals: ['/nonexistent/model'], flags: {} }, io().io), { code: 'missing_file' })
  } finally { m.cleanup() }
})

test('zeone infer and model serve validate their arguments', async () => {
  const infer = commands.find((c) => c.name === 'infer')!
  const x = io()
  assert.equal(await infer.run({ positionals: [], flags: { model: 'm' } }, x.io), 2)
  const serve = commands.find((c) => c.name === 'model serve')!
  assert.equal(await serve.run({ positionals: [], flags: {} }, io().io), 2)
  await assert.rejects(serve.run({ positionals: ['/x'], flags: { layers: 'a-b' } }, io().io), { code: 'bad_flag' })
})
