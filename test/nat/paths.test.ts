import { test } from 'node:test'
import assert from 'node:assert/strict'
import { PathSet } from '../../src/nat/paths.js'
import { getUdx, UdxDatagramSocket } from '../../src/nat/socket.js'
import type { PunchedPath } from '../../src/nat/punch/session.js'

/** A real path shape: a udx stream on a real socket (the punch itself is not needed to hold and release one). */
function pathOn(socket: UdxDatagramSocket): PunchedPath & { disposed: () => number } {
  let disposed = 0
  const stream = getUdx().createStream(1 + Math.floor(Math.random() * 1e6))
  return { socket, remote: { host: '127.0.0.1', port: 9 }, method: 'birthday', probesSent: 0, remoteMapping: 'endpoint-independent',
    stream, dispose: () => { disposed++ }, disposed: () => disposed }
}

test('paths: releaseAll (the service stop) closes every extra socket, never the primary; a release happens once', async () => {
  const primary = UdxDatagramSocket.bind(0, '127.0.0.1')
  const extra = [UdxDatagramSocket.bind(0, '127.0.0.1'), UdxDatagramSocket.bind(0, '127.0.0.1')]
  const set = new PathSet(() => primary)
  const all = [primary, ...extra]
  try {
  const onPrimary = pathOn(primary)
  const birthday = extra.map(pathOn)
  for (const p of [onPrimary, ...birthday]) set.hold(p)
  assert.equal(set.size, 3)
  await set.releaseAll()
  assert.equal(set.size, 0)
  for (const s of extra) assert.equal(s.raw.closing, true, 'a birthday path socket is closed at stop')
  assert.equal(primary.raw.closing, false, 'the shared socket stays open')
  for (const p of [onPrimary, ...birthday]) { assert.equal(p.disposed(), 1); assert.equal(p.stream.destroyed, true) }
  // a second release (the link's close after stop) does nothing more
  await set.release(birthday[0]!)
  assert.equal(birthday[0]!.disposed(), 1)
  // a race's losing path, never held, is released the same way
  const loserSock = UdxDatagramSocket.bind(0, '127.0.0.1')
  all.push(loserSock)
  const loser = pathOn(loserSock)
  await set.release(loser)
  assert.equal(loserSock.raw.closing, true)
  } finally {
    // a failed assertion must not leave sockets holding the test process open
    await Promise.all(all.map((s) => s.close()))
  }
})
