import type { NodeContext, Stoppable } from '../interfaces/node-context.js'

/** Wires the cortex layer into a running node. */
export async function attach(_ctx: NodeContext): Promise<Stoppable | void> {
  return undefined
}
