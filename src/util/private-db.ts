/**
 * Opening a SQLite database that only the node's owner may read (ARCHITECTURE: key files and databases are 0600).
 * SQLite gives the -wal, -shm and -journal files the mode of the main file, so the main file is created 0600
 * (O_EXCL, O_NOFOLLOW: never through a planted link) before SQLite opens it, whatever the umask; files an older
 * version left wider are narrowed, before any new data goes in.
 */
import Database from 'better-sqlite3'
import { chmodSync, closeSync, constants, lstatSync, openSync } from 'node:fs'

const SIDE_FILES = ['', '-wal', '-shm', '-journal']

/** Narrows `file` and its side files to 0600 where they exist and are wider. */
export function narrowDatabaseFiles(file: string): void {
  for (const suffix of SIDE_FILES) {
    const p = file + suffix
    let st
    try { st = lstatSync(p) } catch { continue }
    if (st.isSymbolicLink()) throw new Error(`${p} is a symbolic link: refusing to open a database through it`)
    if ((st.mode & 0o077) !== 0) chmodSync(p, 0o600)
  }
}

export function openPrivateDatabase(file: string, options?: Database.Options): Database.Database {
  if (file !== ':memory:' && !options?.readonly) {
    try {
      closeSync(openSync(file, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    narrowDatabaseFiles(file)
  }
  return new Database(file, options)
}
