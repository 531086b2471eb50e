/** Turns a Node file-system error about a user-named path into an InvalidInputError that names the argument. */
import { InvalidInputError } from './errors.js'

const BY_ERRNO: Record<string, { code: string; says: string }> = {
  ENOENT: { code: 'not_found', says: 'does not exist' },
  ENOTDIR: { code: 'not_found', says: 'does not exist (a part of it is not a directory)' },
  EACCES: { code: 'forbidden', says: 'is not readable by the node (permission denied)' },
  EPERM: { code: 'forbidden', says: 'is not readable by the node (operation not permitted)' },
  EISDIR: { code: 'bad_request', says: 'is a directory where a file is needed' },
  ELOOP: { code: 'bad_request', says: 'has too many symbolic links' },
  ENAMETOOLONG: { code: 'bad_request', says: 'is too long' },
}

/** An InvalidInputError for `err` if it is a file-system error the user can fix; otherwise undefined. */
export function fsInputError(err: unknown, what?: string, fix?: string): InvalidInputError | undefined {
  const e = err as NodeJS.ErrnoException | null
  const known = e && typeof e.code === 'string' ? BY_ERRNO[e.code] : undefined
  if (!known) return undefined
  const path = typeof e!.path === 'string' ? e!.path : undefined
  const subject = what !== undefined ? `'${what}'${path ? ` (${path})` : ''}` : path ?? 'a path'
  return new InvalidInputError(known.code, `${subject} ${known.says}${fix ? `: ${fix}` : ''}`, { cause: err })
}
