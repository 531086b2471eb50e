import { test } from 'node:test'
import assert from 'node:assert/strict'
import { AddressPolicy, addressClass, hostOf } from '../../src/util/address-class.js'
import { addressPolicyFor } from '../../src/transport/address-policy.js'

test('addressClass sorts IPv4, IPv6 and mapped literals into their ranges', () => {
  const cases: Array<[string, string]> = [
    ['8.8.8.8', 'public'], ['1.1.1.1', 'public'], ['127.0.0.1', 'loopback'], ['127.9.9.9', 'loopback'],
    ['10.1.2.3', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'], ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'], ['169.254.1.1', 'link-local'], ['169.254.169.254', 'metadata'],
    ['100.64.0.1', 'cgnat'], ['100.128.0.1', 'public'], ['0.0.0.0', 'unspecified'], ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'], ['203.0.113.5', 'reserved'],
    ['::1', 'loopback'], ['[::1]', 'loopback'], ['::', 'unspecified'], ['fe80::1%eth0', 'link-local'],
    ['fd12::1', 'private'], ['fc00::1', 'private'], ['ff02::1', 'multicast'], ['2001:db8::1', 'reserved'],
    ['2606:4700::1111', 'public'], ['::ffff:127.0.0.1', 'loopback'], ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'metadata'], ['64:ff9b::10.0.0.1', 'private'], ['fd00:ec2::254', 'metadata'],
    ['example.com', 'not-ip'], ['localhost', 'not-ip'], ['1.2.3', 'not-ip'], ['', 'not-ip'], ['1.2.3.4.5', 'not-ip'],
    ['0x7f.0.0.1', 'not-ip'], ['017.0.0.1', 'not-ip'],
  ]
  for (const [h, c] of cases) assert.equal(addressClass(h), c, h)
})

test('AddressPolicy modes', () => {
  const deny = new AddressPolicy('deny')
  assert.ok(deny.allows('8.8.8.8'))
  for (const h of ['127.0.0.1', '10.0.0.1', '169.254.169.254', '::1', 'example.com']) assert.ok(!deny.allows(h), h)
  const allow = new AddressPolicy('allow')
  for (const h of ['127.0.0.1', '10.0.0.1', '::1', '8.8.8.8']) assert.ok(allow.allows(h), h)
  for (const h of ['0.0.0.0', '224.0.0.1', 'example.com']) assert.ok(!allow.allows(h), h)
  const auto = new AddressPolicy('auto', ['127.0.0.1', 'example.org'])
  assert.ok(auto.allows('127.0.0.5') && auto.allows('8.8.8.8'))
  assert.ok(!auto.allows('10.0.0.1') && !auto.allows('169.254.169.254') && !auto.allows('192.168.0.1'))
  const autoLan = new AddressPolicy('auto', ['169.254.169.254', '192.168.1.10'])
  assert.ok(autoLan.allows('192.168.7.7') && !autoLan.allows('169.254.169.254') && !autoLan.allows('127.0.0.1'))
})

test('addressPolicyFor derives auto classes from bootstrap and a non-wildcard listening host', () => {
  assert.equal(hostOf('[::1]:8468'), '::1')
  assert.equal(hostOf('10.0.0.1:8468'), '10.0.0.1')
  const open = addressPolicyFor({ privateAddresses: 'auto', bootstrap: ['8.8.8.8:8468'], host: '0.0.0.0' })
  assert.ok(!open.allows('127.0.0.1'))
  const lab = addressPolicyFor({ privateAddresses: 'auto', bootstrap: [], host: '127.0.0.1' })
  assert.ok(lab.allows('127.0.0.1') && !lab.allows('10.0.0.1'))
  const boot = addressPolicyFor({ privateAddresses: 'auto', bootstrap: ['[::1]:9000'], host: '::' })
  assert.ok(boot.allows('::1') && boot.allows('127.0.0.1') && !boot.allows('10.0.0.1'))
})
