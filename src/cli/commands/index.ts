/**
 * Every command group, keyed by its module's file name (src/cli/commands/<key>.ts), in help order. The CLI itself
 * dispatches through the generated ../manifest.ts, which loads only the module of the command asked for; this list
 * is what the manifest is generated from and checked against (test/cli/manifest.test.ts).
 */
import type { Command } from '../command.js'
import { commands as node } from './node.js'
import { commands as dht } from './dht.js'
import { commands as nat } from './nat.js'
import { commands as content } from './content.js'
import { commands as economy } from './economy.js'
import { commands as chain } from './chain.js'
import { commands as cortex } from './cortex.js'
import { commands as modelCard } from './model-card.js'
import { commands as vpn } from './vpn.js'
import { commands as embed } from './embed.js'
import { commands as devnet } from './devnet.js'

export const commandModules: Readonly<Record<string, Command[]>> = {
  node, dht, nat, content, economy, chain, cortex, 'model-card': modelCard, embed, vpn, devnet,
}

export const allCommands: Command[] = Object.values(commandModules).flat()
