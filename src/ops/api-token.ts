/**
 * The local HTTP API's bearer token: `<dataDir>/api.token`, 64 hex digits, mode 0600 (like Kubo's API or
 * Jupyter's token). Whoever can read the node's data dir can spend its credits through the API; a web page in the
 * owner's browser cannot, because it can neither read the file nor attach the header cross-origin without asking.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, closeSync, constants, fstatSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { ZeoneError } from '../util/errors.js'

export const API_TOKEN_FILE = 'api.token'
const TOKEN_RE = /^[0-9a-f]{64}$/

export function apiTokenPath(dataDir: string): string { return join(dataDir, API_TOKEN_FILE) }

/** Reads the token of a data dir (for the CLI and other local clients); undefined when there is none yet. */
export function readApiToken(dataDir: string): string | undefined {
  let fd: number
  try { fd = openSync(apiTokenPath(dataDir), constants.O_RDONLY | constants.O_NOFOLLOW) } catch { return undefined }
  try {
    const t = readFileSync(fd, 'utf8').trim()
    return TOKEN_RE.test(t) ? t : undefined
  } finally { closeSync(fd) }
}

/** The node's token: the one in the data dir (made 0600 if it was wider), else a new one written 0600. */
export function loadOrCreateApiToken(dataDir: string): string {
  const path = apiTokenPath(dataDir)
  let fd: number | undefined
  try { fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW) } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ELOOP') throw new ZeoneError('api_token', `${path} is a symbolic link: refusing it as the API token`)
    if (code !== 'ENOENT') throw err
  }
  if (fd !== undefined) {
    try {
      const st = fstatSync(fd)
      if (!st.isFile()) throw new ZeoneError('api_token', `${path} is not a regular file`)
      if ((st.mode & 0o077) !== 0) chmodSync(path, 0o600)
      const t = readFileSync(fd, 'utf8').trim()
      if (TOKEN_RE.test(t)) return t
    } finally { closeSync(fd) }
  }
  // new (or unreadable) token: written to a fresh 0600 file, then renamed into place
  const token = randomBytes(32).toString('hex')
  const tmp = `${path}.${process.pid}.tmp`
  const w = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
  try { writeSync(w, `${token}\n`) } finally { closeSync(w) }
  renameSync(tmp, path)
  return token
}
