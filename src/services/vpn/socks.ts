/**
 * SOCKS5 (RFC 1928) with optional username/password (RFC 1929): pure parsers over the bytes received so far, and
 * the handshake over a socket. CONNECT, and UDP ASSOCIATE when the caller allows it (socks-relay.ts); BIND is
 * answered "command not supported". Domain names are passed on unresolved: the exit resolves them. Every read is bounded by the format
 * (at most 2 + 255 greeting bytes, 3 + 2 * 255 auth bytes, 7 + 255 request bytes).
 */
import type { Socket } from 'node:net'
import { timingSafeEqual } from 'node:crypto'
import { formatIp, parseIp } from './ip.js'
import { Rep } from './messages.js'

export type Parsed<T> = { need: true } | { need: false; value: T; used: number }

export interface SocksRequest { cmd: number; atyp: number; host: string; port: number }

export class SocksError extends Error {
  override readonly name = 'SocksError'
  constructor(readonly rep: number | undefined, message: string) { super(message) }
}

const NEED = { need: true } as const

/** Client greeting: VER 5, NMETHODS, METHODS. */
export function parseGreeting(b: Uint8Array): Parsed<number[]> {
  if (b.length < 2) return NEED
  if (b[0] !== 5) throw new SocksError(undefined, `not SOCKS5 (version byte ${b[0]})`)
  const n = b[1]!
  if (n === 0) throw new SocksError(undefined, 'no authentication methods offered')
  if (b.length < 2 + n) return NEED
  return { need: false, value: [...b.subarray(2, 2 + n)], used: 2 + n }
}

/** RFC 1929 request: VER 1, ULEN, UNAME, PLEN, PASSWD. */
export function parseAuth(b: Uint8Array): Parsed<{ user: Uint8Array; pass: Uint8Array }> {
  if (b.length < 2) return NEED
  if (b[0] !== 1) throw new SocksError(undefined, `bad username/password version ${b[0]}`)
  const ul = b[1]!
  if (b.length < 3 + ul) return NEED
  const pl = b[2 + ul]!
  if (b.length < 3 + ul + pl) return NEED
  return { need: false, value: { user: b.subarray(2, 2 + ul), pass: b.subarray(3 + ul, 3 + ul + pl) }, used: 3 + ul + pl }
}

/** Request: VER 5, CMD, RSV 0, ATYP (1 IPv4, 3 domain, 4 IPv6), DST.ADDR, DST.PORT. */
export function parseRequest(b: Uint8Array): Parsed<SocksRequest> {
  if (b.length < 5) return NEED
  if (b[0] !== 5) throw new SocksError(Rep.general, `bad request version ${b[0]}`)
  if (b[2] !== 0) throw new SocksError(Rep.general, 'reserved byte must be 0')
  const atyp = b[3]!
  let host: string
  let at: number
  if (atyp === 1) {
    if (b.length < 10) return NEED
    host = `${b[4]}.${b[5]}.${b[6]}.${b[7]}`
    at = 8
  } else if (atyp === 4) {
    if (b.length < 22) return NEED
    const ip = new Uint8Array(16)
    ip.set(b.subarray(4, 20))
    host = formatIp(ip)
    at = 20
  } else if (atyp === 3) {
    const n = b[4]!
    if (n === 0) throw new SocksError(Rep.general, 'empty domain name')
    if (b.length < 5 + n + 2) return NEED
    host = Buffer.from(b.subarray(5, 5 + n)).toString('latin1')
    at = 5 + n
  } else {
    throw new SocksError(Rep.atypUnsupported, `address type ${atyp} not supported`)
  }
  const port = (b[at]! << 8) | b[at + 1]!
  return { need: false, value: { cmd: b[1]!, atyp, host, port }, used: at + 2 }
}

/** A reply with BND.ADDR 0.0.0.0:0 (the exit's address is not disclosed). */
export function reply(rep: number): Uint8Array {
  return Uint8Array.of(5, rep, 0, 1, 0, 0, 0, 0, 0, 0)
}

/** A reply naming a bound address (UDP ASSOCIATE: the relay's address and port on this node). */
export function replyBound(rep: number, ip: string, port: number): Uint8Array {
  const a = parseIp(ip)
  const v4 = !a || (a[10] === 0xff && a.subarray(0, 10).every((x) => x === 0))
  const addr = !a ? [0, 0, 0, 0] : v4 ? [...a.subarray(12)] : [...a]
  return Uint8Array.of(5, rep, 0, v4 ? 1 : 4, ...addr, port >> 8, port & 255)
}

export const CMD_CONNECT = 1
export const CMD_UDP_ASSOCIATE = 3

export interface SocksAuth { user: string; pass: string }

const eq = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && timingSafeEqual(a, b)

/**
 * Runs the SOCKS5 handshake on `socket` up to (not including) the reply to the request. Resolves with the CONNECT
 * (or UDP ASSOCIATE) request; rejects (after answering where SOCKS has an answer) on anything else. Bytes after the request are put
 * back into the socket.
 */
export function socksHandshake(socket: Socket, opts: { auth?: SocksAuth; timeoutMs: number; udp?: boolean }): Promise<SocksRequest> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0)
    let phase: 'greet' | 'auth' | 'req' = 'greet'
    const finish = (err?: Error, req?: SocksRequest): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('error', onErr)
      socket.off('close', onClose)
      if (err) reject(err)
      else resolve(req!)
    }
    const timer = setTimeout(() => finish(new SocksError(undefined, 'SOCKS handshake timed out')), opts.timeoutMs)
    timer.unref()
    const onErr = (e: Error): void => finish(e)
    const onClose = (): void => finish(new SocksError(undefined, 'client closed during the SOCKS handshake'))
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
      try {
        for (;;) {
          if (phase === 'greet') {
            const g = parseGreeting(buf)
            if (g.need) return
            buf = buf.subarray(g.used)
            const want = opts.auth ? 2 : 0
            if (!g.value.includes(want)) {
              socket.write(Uint8Array.of(5, 0xff))
              throw new SocksError(undefined, opts.auth ? 'client does not offer username/password' : 'client does not offer "no authentication"')
            }
            socket.write(Uint8Array.of(5, want))
            phase = opts.auth ? 'auth' : 'req'
          } else if (phase === 'auth') {
            const a = parseAuth(buf)
            if (a.need) return
            buf = buf.subarray(a.used)
            const ok = eq(a.value.user, Buffer.from(opts.auth!.user)) && eq(a.value.pass, Buffer.from(opts.auth!.pass))
            socket.write(Uint8Array.of(1, ok ? 0 : 1))
            if (!ok) throw new SocksError(undefined, 'bad username or password')
            phase = 'req'
          } else {
            const r = parseRequest(buf)
            if (r.need) return
            const rest = buf.subarray(r.used)
            const cmd = r.value.cmd
            if (cmd !== CMD_CONNECT && !(cmd === CMD_UDP_ASSOCIATE && opts.udp)) {
              throw new SocksError(Rep.cmdUnsupported, `command ${cmd} not supported (${opts.udp ? 'CONNECT and UDP ASSOCIATE' : 'CONNECT'} only)`)
            }
            // UDP ASSOCIATE names where the client will send from, and 0 means "not known yet"
            if (r.value.port === 0 && cmd === CMD_CONNECT) throw new SocksError(Rep.general, 'port 0')
            socket.pause()
            if (rest.length > 0) socket.unshift(rest)
            finish(undefined, r.value)
            return
          }
        }
      } catch (err) {
        if (err instanceof SocksError && err.rep !== undefined) socket.write(reply(err.rep))
        finish(err as Error)
      }
    }
    socket.on('data', onData)
    socket.on('error', onErr)
    socket.on('close', onClose)
  })
}
