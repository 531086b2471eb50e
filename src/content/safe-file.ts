/**
 * Opening the download's own files (`.zeone-part`, `.zeone-state`) without ever writing through a link someone
 * planted there: O_NOFOLLOW refuses a symlink as the last component (prepareTarget already refuses symlinked
 * parents), O_EXCL makes a create fail rather than reuse whatever appeared, and fstat on the open descriptor proves
 * it is a regular file with one name (a hard link to a file elsewhere would be truncated through otherwise).
 */
import { closeSync, constants, fstatSync, openSync, type Stats } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { DownloadError } from './errors.js'

const { O_RDWR, O_RDONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants

function refused(path: string, err: unknown): never {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ELOOP' || code === 'EMLINK') throw new DownloadError('unsafe_file', `${path} is a symbolic link: refusing to open or write through it`)
  if (code === 'EEXIST') throw new DownloadError('unsafe_file', `${path} appeared while it was being created: refusing to reuse it`)
  throw err
}

function checkStats(path: string, st: Stats): void {
  if (!st.isFile()) throw new DownloadError('unsafe_file', `${path} is not a regular file: refusing to write to it`)
  if (st.nlink !== 1) throw new DownloadError('unsafe_file', `${path} has ${st.nlink} hard links: refusing to write through a hard link`)
}

/** Opens `path` read-write: the existing file when `existing`, else a new one (fails if anything is there). */
export async function openOwnFile(path: string, existing: boolean, mode = 0o644): Promise<FileHandle> {
  let fh: FileHandle
  try {
    fh = await open(path, existing ? O_RDWR | O_NOFOLLOW : O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode)
  } catch (err) { refused(path, err) }
  try {
    checkStats(path, await fh.stat())
  } catch (err) {
    await fh.close().catch(() => {})
    throw err
  }
  return fh
}

/**
 * Synchronous descriptor for `path`: read-write (`rw`, the existing file, else created with O_EXCL) or read-only
 * (`r`); undefined when `r` finds nothing there.
 */
export function openOwnFileSync(path: string, how: 'rw' | 'r', mode = 0o600): number | undefined {
  let fd: number | undefined
  try {
    fd = openSync(path, (how === 'r' ? O_RDONLY : O_RDWR) | O_NOFOLLOW)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') refused(path, err)
    if (how === 'r') return undefined
    try { fd = openSync(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, mode) } catch (e) { refused(path, e) }
  }
  try {
    checkStats(path, fstatSync(fd))
  } catch (err) {
    closeSync(fd)
    throw err
  }
  return fd
}
