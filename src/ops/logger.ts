/** The node's pino logger: JSON lines on stderr, secrets redacted wherever they appear in a log object. */
import { pino, type DestinationStream, type LevelWithSilent } from 'pino'
import type { Logger } from '../interfaces/logger.js'

/** Object keys whose values never reach a log line (matched at the top level and one or two levels down). */
export const REDACTED_KEYS = [
  'secretKey', 'secret', 'seed', 'privateKey', 'private_key', 'password', 'passphrase', 'token', 'apiKey', 'api_key',
  'authorization', 'cookie', 'sessionKey', 'mnemonic',
]

export const REDACT_PATHS = REDACTED_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`])

export interface LoggerInit {
  /** @default 'info' */
  level?: LevelWithSilent
  /** Where JSON lines go. @default stderr */
  destination?: DestinationStream
  /** Static fields on every line (e.g. the node id). */
  base?: Record<string, unknown>
}

export type NodeLogger = Logger & { level: string }

export function createLogger(init: LoggerInit = {}): NodeLogger {
  const dest = init.destination ?? pino.destination({ fd: 2, sync: true })
  return pino({
    level: init.level ?? 'info',
    base: init.base ?? null,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  }, dest) as unknown as NodeLogger
}
