import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type AddressInfo } from 'node:net'
import { listen } from '../../src/util/listen.js'
import { ZeoneError } from '../../src/util/errors.js'

test('listen: a taken port names the listener, the address and the flag that moves it', async () => {
  const holder = createServer()
  await listen(holder, 0, '127.0.0.1')
  const port = (holder.address() as AddressInfo).port
  const second = createServer()
  try {
    await assert.rejects(listen(second, port, '127.0.0.1', { what: 'HTTP API', fix: 'use --http-port N' }), (err: unknown) => {
      assert.ok(err instanceof ZeoneError)
      assert.equal(err.code, 'port_in_use')
      assert.match(err.message, new RegExp(`^HTTP API could not listen on 127\\.0\\.0\\.1:${port}: the address is already in use`))
      assert.match(err.message, /--http-port N/)
      return true
    })
    // Without a label the raw error is kept (callers that handle it themselves).
    await assert.rejects(listen(second, port, '127.0.0.1'), { code: 'EADDRINUSE' })
  } finally {
    second.close()
    await new Promise<void>((r) => holder.close(() => r()))
  }
})
