/** Raw TCP baseline server: sends the file named in argv[2] to each connection, unframed and unencrypted. */
import { createReadStream } from 'node:fs'
import { createServer } from 'node:net'

const file = process.argv[2]!
const server = createServer((sock) => {
  createReadStream(file, { highWaterMark: 1 << 20 }).pipe(sock)
})
server.listen(0, '127.0.0.1', () => {
  const a = server.address()
  process.stdout.write(`${JSON.stringify({ port: typeof a === 'object' && a ? a.port : 0 })}\n`)
})
process.on('SIGTERM', () => { server.close(); process.exit(0) })
