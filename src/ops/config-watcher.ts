/**
 * Live reload: watches the config file (its directory, so editors that replace the file by rename are seen),
 * reloads all sources after a short debounce, validates, and emits 'reload' with the new config. An invalid file is
 * refused: 'error' is emitted (and logged) and the previous config stays in force.
 */
import { EventEmitter } from 'node:events'
import { watch, type FSWatcher } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import type { ZeoneConfig } from './config-schema.js'
import { loadConfig, type ConfigSources } from './config.js'

export interface ConfigWatcherInit {
  sources: ConfigSources & { file: string }
  current: ZeoneConfig
  logger?: Logger
  /** @default 100 */
  debounceMs?: number
}

export interface ConfigWatcherEvents {
  reload: [config: ZeoneConfig, previous: ZeoneConfig]
  error: [err: Error]
}

export class ConfigWatcher extends EventEmitter<ConfigWatcherEvents> {
  #init: ConfigWatcherInit
  #current: ZeoneConfig
  #watcher: FSWatcher | undefined
  #timer: NodeJS.Timeout | undefined
  #logger: Logger
  #lastText = ''

  constructor(init: ConfigWatcherInit) {
    super()
    this.#init = init
    this.#current = init.current
    this.#logger = init.logger ?? silentLogger
  }

  get current(): ZeoneConfig { return this.#current }

  start(): void {
    if (this.#watcher) return
    const file = resolve(this.#init.sources.file)
    const name = basename(file)
    this.#lastText = JSON.stringify(this.#current)
    this.#watcher = watch(dirname(file), { persistent: false }, (_ev, changed) => {
      if (changed !== null && changed !== name) return
      this.#schedule()
    })
    this.#watcher.on('error', (err) => this.#logger.warn({ err: err.message }, 'config watcher error'))
  }

  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => { this.#timer = undefined; this.reload() }, this.#init.debounceMs ?? 100)
    this.#timer.unref()
  }

  /** Re-reads every source now; returns true if a new config was applied. */
  reload(): boolean {
    let next: ZeoneConfig
    try {
      next = loadConfig(this.#init.sources)
    } catch (err) {
      this.#logger.error({ err: (err as Error).message }, 'config reload refused; keeping the previous config')
      if (this.listenerCount('error') > 0) this.emit('error', err as Error)
      return false
    }
    const text = JSON.stringify(next)
    if (text === this.#lastText) return false
    this.#lastText = text
    const prev = this.#current
    this.#current = next
    this.#logger.info('config reloaded')
    this.emit('reload', next, prev)
    return true
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#watcher?.close()
    this.#watcher = undefined
  }
}
