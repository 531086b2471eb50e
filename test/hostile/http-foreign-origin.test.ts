/**
 * Hostile web page, issue 14 part 8: a page in the owner's browser reaches the node's local HTTP API. A WebSocket
 * upgrade with `Origin: http://evil.example`, a `text/plain` POST with a foreign Host (DNS rebinding) and a POST
 * without the API token must all be refused before any credits are spent; the owner's client (token from the data
 * dir) is still served, and read-only /metrics and /healthz stay open.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, statSync } from 'node:fs'
import { request } from 'node:http'
import { join } from 'node:path'
import WebSocket from 'ws'
import { createNode } from '../../src/node.js'
import { validateConfig } from '../../src/ops/config.js'
import { tinyModel } from '../cortex/helpers.js'
import { tempDir } from './misc-helpers.js'

interface Reply { status: number; body: string }

function send(port: number, opts: { method: string; path: string; headers: Record<string, string>; body?: string }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: opts.method, path: opts.path, headers: opts.headers, setHost: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

/** Opens a WebSocket with the given headers; resolves with 'open' or the refusal status. */
function upgrade(url: string, headers: Record<string, string>): Promise<{ opened: boolean; status?: number; ws?: WebSocket }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers })
    ws.once('open', () => resolve({ opened: true, ws }))
    ws.once('unexpected-response', (_req, res) => { resolve({ opened: false, status: res.statusCode }); res.resume(); ws.terminate() })
    ws.once('error', () => resolve({ opened: false }))
  })
}

test('http: foreign Origin upgrades, rebinding Hosts and token-less POSTs are refused; the owner is served, metrics stay open', async (t) => {
  const m = tinyModel({ family: 'gpt2', layers: 2, seed: 5 })
  t.after(() => m.cleanup())
  const dataDir = tempDir(t)
  const node = createNode(validateConfig({
    dataDir, node: { port: 0, host: '127.0.0.1', legacy: false }, ops: { httpPort: 0, logLevel: 'silent' },
    dht: { enabled: false }, cortex: { serve: [{ path: m.dir, modelId: 'tiny' }] },
  }))
  t.after(() => node.stop())
  await node.start()
  const port = node.httpAddress!.port
  const self = `127.0.0.1:${port}`
  const chat = JSON.stringify({ model: 'tiny', prompt: 'hello', max_tokens: 3 })

  const tokenFile = join(dataDir, 'api.token')
  let token = ''
  try { token = readFileSync(tokenFile, 'utf8').trim() } catch { /* checked below */ }

  // CSRF: a text/plain form POST from another site (no preflight), with and without a rebinding Host
  const csrf = await send(port, { method: 'POST', path: '/v1/chat/completions', headers: { host: self, 'content-type': 'text/plain', origin: 'http://evil.example' }, body: chat })
  assert.ok(csrf.status >= 400, `foreign-origin POST refused: ${csrf.status} ${csrf.body}`)
  const rebound = await send(port, { method: 'POST', path: '/v1/chat/completions', headers: { host: `evil.example:${port}`, 'content-type': 'text/plain' }, body: chat })
  assert.ok(rebound.status >= 400, `rebinding Host refused: ${rebound.status} ${rebound.body}`)
  const rebound2 = await send(port, { method: 'POST', path: '/v1/chat/completions', headers: { host: `evil.example:${port}`, 'content-type': 'text/plain', authorization: `Bearer ${token}` }, body: chat })
  assert.equal(rebound2.status, 421, 'rebinding Host refused even with the token')
  const noToken = await send(port, { method: 'POST', path: '/v1/chat/completions', headers: { host: self, 'content-type': 'application/json' }, body: chat })
  assert.equal(noToken.status, 401, `POST without the token refused: ${noToken.body}`)
  const badToken = await send(port, { method: 'POST', path: '/v1/chat/completions', headers: { host: self, 'content-type': 'application/json', authorization: `Bearer ${'0'.repeat(64)}` }, body: chat })
  assert.equal(badToken.status, 401)

  // WebSocket from another site: refused with or without the token; without the token refused too
  const wsUrl = `ws://${self}/v1/chat/completions/ws`
  const evilWs = await upgrade(wsUrl, { origin: 'http://evil.example' })
  assert.equal(evilWs.opened, false, 'foreign-origin WebSocket refused')
  const evilWs2 = await upgrade(wsUrl, { origin: 'http://evil.example', authorization: `Bearer ${token}` })
  assert.equal(evilWs2.opened, false, 'foreign-origin WebSocket refused even with the token')
  assert.equal(evilWs2.status, 403)
  const anonWs = await upgrade(wsUrl, {})
  assert.equal(anonWs.opened, false, 'token-less WebSocket refused')

  // the token lives in the data dir, owner-only
  assert.equal(statSync(tokenFile).mode & 0o777, 0o600, 'api.token is 0600')
  assert.match(token, /^[0-9a-f]{64}$/)

  // the owner is served: POST and WebSocket with the token (same-origin pages on localhost too)
  const ok = await send(port, { method: 'POST', path: '/v1/chat/completions', headers: { host: self, 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: chat })
  assert.equal(ok.status, 200, ok.body)
  assert.equal((JSON.parse(ok.body) as { object: string }).object, 'chat.completion')
  const local = await send(port, { method: 'POST', path: '/v1/chat/completions', headers: { host: `localhost:${port}`, origin: `http://localhost:${port}`, authorization: `Bearer ${token}` }, body: chat })
  assert.equal(local.status, 200, local.body)
  const ownWs = await upgrade(wsUrl, { authorization: `Bearer ${token}` })
  assert.equal(ownWs.opened, true, 'owner WebSocket opens')
  const msgs: string[] = []
  await new Promise<void>((resolve) => {
    ownWs.ws!.on('message', (d) => { msgs.push(String(d)); if (/"done":true/.test(String(d)) || /error/.test(String(d))) resolve() })
    ownWs.ws!.send(chat)
  })
  assert.ok(msgs.some((x) => /"done":true/.test(x)), msgs.join('\n'))
  ownWs.ws!.close()

  // read-only endpoints stay open without a token (but not to a rebinding Host)
  assert.equal((await send(port, { method: 'GET', path: '/metrics', headers: { host: self } })).status, 200)
  assert.equal((await send(port, { method: 'GET', path: '/healthz', headers: { host: self } })).status, 200)
  assert.equal((await send(port, { method: 'GET', path: '/v1/models', headers: { host: self } })).status, 200)
  assert.equal((await send(port, { method: 'GET', path: '/metrics', headers: { host: 'evil.example' } })).status, 421)
})
