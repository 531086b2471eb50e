import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ExitPolicy, ExitPolicyError, parseRule } from '../../../src/services/vpn/policy.js'
import { formatIp, parseCidr, parseIp } from '../../../src/services/vpn/ip.js'

const refused = (p: ExitPolicy, host: string, port = 443): string | undefined => {
  const v = p.check(host, port)
  return v.ok ? undefined : v.code
}

test('IP literals parse strictly; names and sloppy IPv4 forms do not', () => {
  assert.equal(formatIp(parseIp('::ffff:7f00:1')!), '127.0.0.1')
  assert.equal(formatIp(parseIp('[::1]')!), '0:0:0:0:0:0:0:1')
  assert.equal(formatIp(parseIp('fe80::1%eth0')!), 'fe80:0:0:0:0:0:0:1')
  for (const s of ['127.1', '0x7f.0.0.1', '017.0.0.1', '2130706433', 'localhost', '', '1.2.3.4.5', ':::', '1::2::3', 'ffff:'.repeat(9) + '1'])
    assert.equal(parseIp(s), undefined, s)
  assert.equal(parseCidr('10.0.0.0/33'), undefined)
  assert.equal(parseCidr('::/129'), undefined)
  assert.equal(parseCidr('10.0.0.0/x'), undefined)
})

test('default policy refuses every inside range, in every spelling', () => {
  const p = new ExitPolicy()
  const inside = [
    '127.0.0.1', '127.255.255.254', '10.0.0.1', '10.255.255.255', '172.16.0.1', '172.31.255.255', '192.168.0.1',
    '169.254.0.1', '169.254.169.254', '100.64.0.1', '100.127.255.255', '224.0.0.1', '239.255.255.255', '0.0.0.0',
    '0.1.2.3', '255.255.255.255', '240.0.0.1',
    '::1', '[::1]', '0:0:0:0:0:0:0:1', '::', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'fe80::1%lo', 'febf::1', 'ff02::1',
    'ff0e::1', 'fd00:ec2::254',
    // IPv4 inside IPv6
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '::ffff:169.254.169.254', '::ffff:0.0.0.0', '::127.0.0.1',
    '64:ff9b::127.0.0.1', '64:ff9b::a00:1', '2002:7f00:1::1', '2002:a9fe:a9fe::', '2001:0:4136:e378:8000:63bf:80ff:fffe',
  ]
  for (const h of inside) assert.equal(refused(p, h), 'private_destination', h)
  const outside = ['8.8.8.8', '1.1.1.1', '172.32.0.1', '172.15.255.255', '100.128.0.0', '100.63.255.255', '169.253.255.255',
    '11.0.0.1', '2606:4700::1111', '::ffff:8.8.8.8', '2002:808:808::1', '223.255.255.255']
  for (const h of outside) assert.equal(refused(p, h), undefined, h)
  assert.equal(refused(p, 'localhost'), 'bad_address')
  assert.equal(refused(p, 'example.com'), 'bad_address')
  assert.equal(refused(p, '8.8.8.8', 0), 'bad_address')
  assert.equal(refused(p, '8.8.8.8', 65536), 'bad_address')
  assert.equal(refused(p, '8.8.8.8', 1.5), 'bad_address')
})

test('a broad accept never opens an inside range; naming a prefix inside it does', () => {
  for (const rules of [['accept *:*'], ['accept 0.0.0.0/0'], ['accept *4:*'], ['accept [::]/0'], ['accept 0.0.0.0/1'], ['accept 8.0.0.0/5']]) {
    const p = new ExitPolicy(rules)
    for (const h of ['127.0.0.1', '10.1.2.3', '169.254.169.254', '::ffff:10.1.2.3', '::1']) assert.equal(refused(p, h), 'private_destination', `${rules} ${h}`)
  }
  const lab = new ExitPolicy(['accept 10.1.2.0/24:80-443', 'accept 127.0.0.1:8080'])
  assert.equal(refused(lab, '10.1.2.3', 80), undefined)
  assert.equal(refused(lab, '::ffff:10.1.2.3', 443), undefined)
  assert.equal(refused(lab, '10.1.2.3', 22), 'private_destination')
  assert.equal(refused(lab, '10.1.3.1', 80), 'private_destination')
  assert.equal(refused(lab, '127.0.0.1', 8080), undefined)
  assert.equal(refused(lab, '127.0.0.2', 8080), 'private_destination')
  // 6to4 carrying the opened /24 is still refused: the rule named IPv4, not that IPv6 prefix
  assert.equal(refused(lab, '2002:a01:203::1', 80), 'private_destination')
  // a prefix wider than the range it touches opens nothing (10.0.0.0/7 covers 10/8 and 11/8)
  assert.equal(refused(new ExitPolicy(['accept 10.0.0.0/7']), '10.0.0.1'), 'private_destination')
  // unspecified, multicast and broadcast stay closed even when named
  for (const [r, h] of [['accept 0.0.0.0/8', '0.0.0.0'], ['accept 224.0.0.0/4', '224.0.0.1'], ['accept 255.255.255.255', '255.255.255.255'], ['accept [::]/128', '::']])
    assert.equal(refused(new ExitPolicy([r!]), h!), 'private_destination', r)
})

test('rules are first-match: reject ports and ranges, family wildcards', () => {
  const p = new ExitPolicy(['reject *:25', 'reject 1.2.3.0/24', 'accept *4:80-443', 'reject *4:*', 'reject [2001:db9::]/32:22'])
  assert.equal(refused(p, '8.8.8.8', 25), 'policy_rejected')
  assert.equal(refused(p, '2606:4700::1', 25), 'policy_rejected')
  assert.equal(refused(p, '1.2.3.4', 443), 'policy_rejected')
  assert.equal(refused(p, '8.8.8.8', 443), undefined)
  assert.equal(refused(p, '8.8.8.8', 8443), 'policy_rejected')
  assert.equal(refused(p, '2606:4700::1', 8443), undefined)
  assert.equal(refused(p, '2001:db9::1', 22), 'policy_rejected')
  const v = p.check('8.8.8.8', 25)
  assert.ok(!v.ok && v.reason.includes("'reject *:25'"))
})

test('malformed rules are refused with the reason; the digest is stable and changes with the rules', () => {
  for (const bad of ['allow *:*', 'accept', 'accept 10.0.0.0/40', 'accept *:0', 'accept *:70000', 'accept *:9-3', 'accept host.example:80', 'accept *:a', 'accept 1.2.3.4:5:6'])
    assert.throws(() => parseRule(bad), ExitPolicyError, bad)
  const a = new ExitPolicy(['reject *:25'])
  assert.equal(a.digest, new ExitPolicy(['reject  *:25 ']).digest)
  assert.notEqual(a.digest, new ExitPolicy().digest)
  assert.match(a.digest, /^[0-9a-f]{64}$/)
  assert.deepEqual(new ExitPolicy(['accept [fd00::]/8:443', 'reject 10.0.0.1']).canonical(), ['accept [fd00:0:0:0:0:0:0:0]/8:443', 'reject 10.0.0.1/32:*', 'default accept public'])
})
