import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Identity } from '../../src/crypto/identity.js'
import type { Clock } from '../../src/interfaces/clock.js'
import { economyConfigSchema, type EconomyConfig } from '../../src/economy/config.js'
import { Economy, type EconomyInit } from '../../src/economy/economy.js'
import { LedgerStore } from '../../src/economy/ledger-store.js'

export function tempDir(prefix = 'zeone-eco-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export function idFrom(byte: number): Identity {
  return Identity.fromSeed(new Uint8Array(32).fill(byte))
}

/** A manual clock: timers fire only through advance(). */
export class ManualClock implements Clock {
  t: number
  #timers: Array<{ at: number; cb: () => void; live: boolean }> = []
  constructor(start = 1_767_225_600_000) { this.t = start }
  now(): number { return this.t }
  setTimeout(cb: () => void, ms: number): { cancel(): void } {
    const e = { at: this.t + ms, cb, live: true }
    this.#timers.push(e)
    return { cancel: () => { e.live = false } }
  }
  advance(ms: number): void {
    this.t += ms
    const due = this.#timers.filter((e) => e.live && e.at <= this.t)
    this.#timers = this.#timers.filter((e) => e.live && e.at > this.t)
    for (const e of due) e.cb()
  }
}

export function config(over: Record<string, unknown> = {}): EconomyConfig {
  return economyConfigSchema.parse(over)
}

export function makeEconomy(file: string, identity: Identity, clock: Clock, cfg: EconomyConfig = config(), extra: Partial<EconomyInit> = {}): Economy {
  const store = LedgerStore.open(file, { now: () => clock.now() })
  return new Economy({ identity, store, config: cfg, clock, ...extra })
}
