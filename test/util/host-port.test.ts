import assert from 'node:assert/strict'
import { test } from 'node:test'
import { formatHostPort, parseHostPort } from '../../src/util/host-port.js'

test('parseHostPort: v4, names and bracketed v6; the port range; clear errors', () => {
  assert.deepEqual(parseHostPort('10.0.0.1:8468'), { host: '10.0.0.1', port: 8468 })
  assert.deepEqual(parseHostPort('seed.example.org:1'), { host: 'seed.example.org', port: 1 })
  assert.deepEqual(parseHostPort('[2001:db8::1]:65535'), { host: '2001:db8::1', port: 65535 })
  assert.deepEqual(parseHostPort('[fe80::1%eth0]:9'), { host: 'fe80::1%eth0', port: 9 })
  assert.deepEqual(parseHostPort('127.0.0.1:0', { allowAnyPort: true }), { host: '127.0.0.1', port: 0 })
  for (const bad of ['127.0.0.1:0', '1.2.3.4:65536', '1.2.3.4', ':80', 'host:', 'a b:1', 'user@host:22', '[::1]', 'http://x:1', '1.2.3.4:+1']) {
    assert.throws(() => parseHostPort(bad), (e: Error & { code?: string }) => e.code === 'bad_address', bad)
  }
  assert.throws(() => parseHostPort('2001:db8::1:8468'), /in brackets/)
  assert.throws(() => parseHostPort('x', { what: 'node.bootstrap entry' }), /^InvalidInputError: node.bootstrap entry: expected host:port/)
  for (const s of ['10.0.0.1:8468', '[2001:db8::1]:1']) assert.equal(formatHostPort(parseHostPort(s)), s)
})
