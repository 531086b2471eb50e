import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError, configFromAssignments, configFromEnv, loadConfig, validateConfig } from '../../src/ops/config.js'
import { ConfigWatcher } from '../../src/ops/config-watcher.js'

const dir = mkdtempSync(join(tmpdir(), 'zeone-config-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const file = (name: string, text: string): string => { const p = join(dir, name); writeFileSync(p, text); return p }

describe('config loading', () => {
  it('an empty config is valid and has the documented defaults', () => {
    const c = validateConfig({})
    assert.equal(c.node.port, 8468)
    assert.equal(c.node.legacy, true)
    assert.equal(c.dataDir, '.zeone')
    assert.equal(c.legacy.maxFrameBytes, 4 << 20)
    assert.deepEqual(c.legacy.services, ['echo'])
  })

  it('precedence is file < env < flags, for YAML and TOML', () => {
    const yaml = file('a.yaml', 'node:\n  port: 1111\n  host: 127.0.0.1\nops:\n  logLevel: warn\n')
    const toml = file('a.toml', '[node]\nport = 1111\nhost = "127.0.0.1"\n[ops]\nlogLevel = "warn"\n')
    for (const f of [yaml, toml]) {
      const fileOnly = loadConfig({ file: f })
      assert.equal(fileOnly.node.port, 1111)
      assert.equal(fileOnly.ops.logLevel, 'warn')
      const env = { ZEONE_NODE__PORT: '2222', ZEONE_OPS__LOG_LEVEL: 'debug', UNRELATED: 'x' }
      const withEnv = loadConfig({ file: f, env })
      assert.equal(withEnv.node.port, 2222)
      assert.equal(withEnv.ops.logLevel, 'debug')
      assert.equal(withEnv.node.host, '127.0.0.1') // untouched file value survives the merge
      const withFlags = loadConfig({ file: f, env, flags: { node: { port: 3333 } } })
      assert.equal(withFlags.node.port, 3333)
      assert.equal(withFlags.ops.logLevel, 'debug')
    }
  })

  it('maps ZEONE_* names: __ nests, snake_case becomes camelCase, JSON arrays and booleans are parsed', () => {
    assert.deepEqual(configFromEnv({ ZEONE_NODE__BOOTSTRAP: '["a:1","b:2"]', ZEONE_NODE__LEGACY: 'false', ZEONE_DATA_DIR: '/x', ZEONE_OPS__HTTP_PORT: '-1' }),
      { node: { bootstrap: ['a:1', 'b:2'], legacy: false }, dataDir: '/x', ops: { httpPort: -1 } })
    assert.deepEqual(configFromAssignments(['__proto__.polluted=1', 'a.constructor.x=1']), { a: {} })
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
  })

  it('names every bad key path in the error', () => {
    const f = file('bad.yaml', 'node:\n  port: "abc"\n  bogus: 1\nops:\n  logLevel: loud\nnope: {}\n')
    let err: ConfigError | undefined
    try { loadConfig({ file: f }) } catch (e) { err = e as ConfigError }
    assert.ok(err instanceof ConfigError)
    assert.equal(err.code, 'config_invalid')
    const paths = err.issues.map((i) => i.path).sort()
    assert.deepEqual(paths, ['node.bogus', 'node.port', 'nope', 'ops.logLevel'])
    assert.match(err.message, /node\.port/)
    assert.throws(() => loadConfig({ env: { ZEONE_NODE__PORT: '99999' } }), (e: ConfigError) => e.issues[0]?.path === 'node.port')
  })

  it('refuses unreadable, unparsable, non-mapping and unknown-extension files', () => {
    assert.throws(() => loadConfig({ file: join(dir, 'missing.yaml') }), (e: ConfigError) => e.code === 'config_read')
    assert.throws(() => loadConfig({ file: file('x.yaml', 'a: [1,\n') }), (e: ConfigError) => e.code === 'config_parse')
    assert.throws(() => loadConfig({ file: file('y.toml', 'a = \n') }), (e: ConfigError) => e.code === 'config_parse')
    assert.throws(() => loadConfig({ file: file('z.yaml', '- 1\n- 2\n') }), (e: ConfigError) => e.code === 'config_parse')
    assert.throws(() => loadConfig({ file: file('c.ini', 'a=1') }), (e: ConfigError) => e.code === 'config_format')
  })
})

describe('config live reload', () => {
  it('applies a valid change and keeps the old config when the file turns invalid', async () => {
    const f = file('live.yaml', 'ops:\n  logLevel: info\n')
    const w = new ConfigWatcher({ sources: { file: f }, current: loadConfig({ file: f }), debounceMs: 20 })
    const reloads: string[] = []
    const errors: string[] = []
    w.on('reload', (c) => reloads.push(c.ops.logLevel))
    w.on('error', (e) => errors.push(e.message))
    w.start()
    try {
      const waitFor = async (cond: () => boolean): Promise<void> => {
        for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 20))
        assert.ok(cond())
      }
      // editors often write a temp file and rename it over the original
      writeFileSync(`${f}.tmp`, 'ops:\n  logLevel: debug\n')
      renameSync(`${f}.tmp`, f)
      await waitFor(() => reloads.length === 1)
      assert.equal(w.current.ops.logLevel, 'debug')
      writeFileSync(f, 'ops:\n  logLevel: shouting\n')
      await waitFor(() => errors.length >= 1)
      assert.match(errors[0]!, /ops\.logLevel/)
      assert.equal(w.current.ops.logLevel, 'debug')
      assert.equal(w.reload(), false)
    } finally {
      w.stop()
      w.stop()
    }
  })
})
