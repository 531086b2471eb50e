/**
 * Issue 23 item 5: a peer reads only registered ERROR codes and text that holds nothing local. A handler that throws a
 * file system error (with its path), an unregistered code, or a registered code whose message names a file, answers
 * over a real TCP session with `internal` or with the path scrubbed; the registry table in docs/protocol.md is current.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ZeoneError, InvalidInputError } from '../../src/util/errors.js'
import { INTERNAL_TEXT, isWireErrorCode, safeErrorText, toWireError, WIRE_ERROR_CODES } from '../../src/wire/error-codes.js'
import { MessageType } from '../../src/wire/message-types.js'
import { RemoteError } from '../../src/transport/errors.js'
import { addr, startNode } from '../transport/helpers.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

test('the ERROR code table in docs/protocol.md is the registry (run scripts/error-codes-doc.mjs after a change)', async () => {
  // @ts-expect-error: a plain .mjs script without types
  const { errorCodesTable, BEGIN, END } = await import('../../../scripts/error-codes-doc.mjs') as { errorCodesTable(c: unknown): string; BEGIN: string; END: string }
  const doc = readFileSync(join(root, 'docs', 'protocol.md'), 'utf8')
  const block = doc.slice(doc.indexOf(BEGIN) + BEGIN.length, doc.indexOf(END)).trim()
  assert.equal(block, errorCodesTable(WIRE_ERROR_CODES))
  const all = Object.values(WIRE_ERROR_CODES).flat()
  assert.equal(new Set(all).size, all.length, 'a code is registered twice')
  for (const c of all) assert.match(c, /^[a-z][a-z0-9_]{0,63}$/)
})

test('toWireError: registered codes keep their text (scrubbed), anything else is internal', () => {
  assert.deepEqual(toWireError(new InvalidInputError('bad_request', 'field x must be a uint')), { code: 'bad_request', message: 'field x must be a uint' })
  assert.deepEqual(toWireError(new ZeoneError('ledger_open', 'cannot open /var/lib/zeone/ledger.sqlite')), { code: 'internal', message: INTERNAL_TEXT })
  assert.deepEqual(toWireError(new TypeError("Cannot read properties of undefined (reading 'x')")), { code: 'internal', message: INTERNAL_TEXT })
  assert.deepEqual(toWireError(new TypeError('x'), 'bad_message'), { code: 'bad_message', message: 'bad_message' })
  assert.equal(toWireError(new ZeoneError('not_found', "no chunk at /home/op/.zeone/chunks/ab/cd (ENOENT)")).message, 'no chunk at <path> (ENOENT)')
  assert.equal(safeErrorText('C:\\Users\\op\\zeone\\x.key missing'), '<path> missing')
  assert.equal(safeErrorText('ratio 1/2 and 3/4 stay'), 'ratio 1/2 and 3/4 stay')
  assert.equal(safeErrorText('line\nbreak\u0000'), 'line break ')
  assert.ok(Buffer.byteLength(safeErrorText('é'.repeat(600))) <= 512)
  assert.ok(isWireErrorCode('unhandled_type') && !isWireErrorCode('handler_error'))
})

test('over a real session: the peer never sees a path, SQL or an unregistered code', async (t) => {
  const server = await startNode(t)
  const client = await startNode(t)
  const secret = join(server.dir, 'ledger.sqlite')
  let which = 0
  server.router.handle(MessageType.SERVICE_REQUEST, async () => {
    which++
    if (which === 1) await readFile(join(server.dir, 'no-such-dir', 'identity.key')) // ENOENT naming the path
    if (which === 2) throw new ZeoneError('ledger_flush', `SQLITE_BUSY: database is locked (${secret})`)
    if (which === 3) throw new InvalidInputError('not_found', `no record in ${secret}`)
  })
  const link = await client.cm.dial(addr(server))
  const errors: RemoteError[] = []
  for (let i = 0; i < 3; i++) {
    await assert.rejects(link.request(MessageType.SERVICE_REQUEST, new Uint8Array([i])), (e: unknown) => { errors.push(e as RemoteError); return e instanceof RemoteError })
  }
  assert.deepEqual(errors.map((e) => e.code), ['internal', 'internal', 'not_found'])
  for (const e of errors) {
    assert.ok(!e.message.includes(server.dir), `leaked the data dir: ${e.message}`)
    assert.ok(!/SQLITE|identity\.key|ENOENT/.test(e.message), `leaked local details: ${e.message}`)
  }
  assert.match(errors[2]!.message, /no record in <path>/)
})
