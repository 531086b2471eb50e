/** Shared by the NAT hostile tests: wait until a node holds a link to a peer. */
import type { Link } from '../../src/interfaces/link.js'
import type { ZeoneNode } from '../../src/node.js'

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export async function waitLink(n: ZeoneNode, id: Uint8Array): Promise<Link> {
  for (let i = 0; i < 1000; i++) {
    const l = n.transport!.get(id)
    if (l) return l
    await sleep(20)
  }
  throw new Error('no link')
}
