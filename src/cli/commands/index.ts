/** Every command group; src/cli/main.ts dispatches on the longest matching command name. */
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

export const allCommands: Command[] = [...node, ...dht, ...nat, ...content, ...economy, ...chain, ...cortex, ...modelCard, ...embed, ...vpn, ...devnet]
