// The formal model (formal/handshake.m) against the code: (a) every model configuration gives its expected verdict
// (design proven, flaws and findings refuted) when Rumur is installed, and must be installed when
// REQUIRE_FORMAL_MODELS=1 (CI); (b) the model's declared message-field tables are exactly the CBOR keys the decoders
// of src/wire/handshake-messages.ts accept, so a field added to the wire without a modelling decision fails here.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { decodeHello, decodeHelloAck, decodeVerify, encodeHello, encodeHelloAck, encodeVerify, type Hello, type HelloAck } from '../../src/wire/handshake-messages.js'
import { decode, encode } from '../../src/wire/cbor.js'
import { HandshakeError } from '../../src/wire/handshake-errors.js'

const MODEL = 'formal/handshake.m'

/** Parses `-- @fields NAME` ... `-- @end` tables: field name -> how it is modelled. */
function modelFields(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>()
  for (const m of text.matchAll(/^-- @fields (\S+)\n([\s\S]*?)^-- @end$/gm)) {
    const rows = new Map<string, string>()
    for (const line of m[2]!.split('\n')) {
      const r = /^--\s+(\S+)\s+(modelled|opaque)\b/.exec(line)
      if (r) rows.set(r[1]!, r[2]!)
    }
    out.set(m[1]!, rows)
  }
  return out
}

const hello: Hello = {
  node_id: new Uint8Array(32).fill(1), ephemeral: new Uint8Array(32).fill(2), supported_versions: [2, 1], preferred_version: 2,
  capabilities: ['DHT'], suites: ['chacha20-poly1305'], listen_port: 1, timestamp: 1, nonce: new Uint8Array(32).fill(3), max_frame: 4096,
}
const ack: HelloAck = {
  node_id: new Uint8Array(32).fill(4), ephemeral: new Uint8Array(32).fill(5), supported_versions: [2, 1], version: 2, suite: 'chacha20-poly1305',
  capabilities: [], listen_port: 2, timestamp: 1, nonce: new Uint8Array(32).fill(6), max_frame: 4096, signature: new Uint8Array(64).fill(7),
}

/** The keys the code's strict decoder requires: each one, when removed, makes the decoder refuse the message. */
function requiredKeys(body: Uint8Array, decodeFn: (b: Uint8Array) => unknown): string[] {
  const map = decode(body) as Record<string, unknown>
  decodeFn(body) // the full message is accepted
  const keys = Object.keys(map)
  for (const k of keys) {
    const { [k]: _gone, ...rest } = map
    assert.throws(() => decodeFn(encode(rest as never)), HandshakeError, `decoder accepts a message without ${k}`)
  }
  // and an unknown key is refused, so `keys` is the whole schema
  assert.throws(() => decodeFn(encode({ ...map, extra_field: 1 } as never)), HandshakeError)
  return keys.sort()
}

test('formal model: field tables match the CBOR schemas of HELLO, HELLO_ACK and VERIFY', () => {
  const fields = modelFields(readFileSync(MODEL, 'utf8'))
  const code = new Map<string, string[]>([
    ['HELLO', requiredKeys(encodeHello(hello), decodeHello)],
    ['HELLO_ACK', requiredKeys(encodeHelloAck(ack), decodeHelloAck)],
    ['VERIFY', requiredKeys(encodeVerify({ signature: new Uint8Array(64) }), decodeVerify)],
  ])
  assert.deepEqual([...fields.keys()].sort(), [...code.keys()].sort(), 'the model declares a table per handshake message')
  for (const [msg, keys] of code) {
    assert.deepEqual([...fields.get(msg)!.keys()].sort(), keys, `${MODEL} @fields ${msg} vs src/wire/handshake-messages.ts`)
  }
  // the decisions the model rests on are modelled, not waved away
  for (const k of ['node_id', 'ephemeral', 'supported_versions', 'preferred_version', 'suites', 'nonce']) assert.equal(fields.get('HELLO')!.get(k), 'modelled', `HELLO ${k}`)
  for (const k of ['node_id', 'ephemeral', 'supported_versions', 'version', 'suite', 'nonce', 'signature']) assert.equal(fields.get('HELLO_ACK')!.get(k), 'modelled', `HELLO_ACK ${k}`)
})

test('formal model: the field-table parser sees a field the code lacks', () => {
  const text = readFileSync(MODEL, 'utf8').replace('--   nonce              modelled  Hello.nonce', '--   nonce              modelled  Hello.nonce\n--   ticket             modelled  x')
  assert.ok(modelFields(text).get('HELLO')!.has('ticket'))
})

function checkerInstalled(): boolean {
  return spawnSync('rumur', ['--version']).status === 0 && spawnSync('cc', ['--version']).status === 0
}

test('formal model: design proven, every flaw and finding refuted (Rumur)', { timeout: 20 * 60_000 }, (t) => {
  if (!checkerInstalled()) {
    if (process.env.REQUIRE_FORMAL_MODELS === '1') assert.fail('rumur and cc must be installed (REQUIRE_FORMAL_MODELS=1): apt-get install rumur gcc')
    t.skip('rumur not installed (apt-get install rumur); set REQUIRE_FORMAL_MODELS=1 to make this a failure')
    return
  }
  const r = spawnSync(process.execPath, ['formal/run.mjs'], { encoding: 'utf8', maxBuffer: 64 << 20 })
  const lines = r.stdout.split('\n').filter((l) => /^(ok|FAIL) /.test(l))
  t.diagnostic(lines.join('\n'))
  assert.equal(r.status, 0, `formal/run.mjs:\n${r.stdout}\n${r.stderr}`)
  for (const name of ['design-handshake', 'design-data', 'flaw-versions-unsigned', 'flaw-sign-own-nonce-mitm', 'flaw-sign-own-nonce-replay', 'flaw-no-seq-check']) {
    assert.ok(lines.some((l) => l.startsWith('ok ') && l.includes(name)), `${name} ran and gave its expected verdict`)
  }
})
