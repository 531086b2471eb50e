/**
 * Child of the vpn bench: a TCP source on 127.0.0.1. A client sends one line `N\n` and receives N bytes (a random
 * 1 MiB block repeated), then the source closes. Prints {port}.
 */
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'

const block = randomBytes(1 << 20)
const srv = createServer((s) => {
  s.on('error', () => {})
  let head = ''
  const onData = (b: Buffer): void => {
    head += b.toString('latin1')
    const nl = head.indexOf('\n')
    if (nl < 0) { if (head.length > 32) s.destroy(); return }
    s.off('data', onData)
    let left = Number(head.slice(0, nl))
    const pump = (): void => {
      while (left > 0) {
        const n = Math.min(left, block.length)
        left -= n
        if (!s.write(n === block.length ? block : block.subarray(0, n))) { s.once('drain', pump); return }
      }
      s.end()
    }
    pump()
  }
  s.on('data', onData)
})
srv.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (srv.address() as { port: number }).port })))
process.stdin.on('data', () => {}).on('end', () => process.exit(0))
