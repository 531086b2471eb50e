/**
 * The layers the composition root (node.ts) attaches, in order, each with the config slice it is handed: only the
 * sections the layer declared (its attach is typed `NodeContext<ItsLayerConfig>`, so the slice and the attach must
 * agree or this file does not compile).
 */
import type { AttachFn, NodeContext } from './interfaces/node-context.js'
import type { ZeoneConfig } from './ops/config-schema.js'

/**
 * One entry of the layer list: its name, its attach (lazily imported: a layer's module and its dependencies load
 * when the node attaches it, not when this file is imported) and the config slice the node hands it (only the
 * sections it declared, recomputed on every reload). An entry without a slice (a test's) gets its layer's slice by
 * name, or the whole config for a name the node does not know.
 */
export type LayerEntry = readonly [name: string, attach: AttachFn, config?: (c: ZeoneConfig) => object]

const layerLoaders: Array<() => Promise<unknown>> = []

/** A layer entry whose attach and config slice agree on the slice type `C`. */
function layer<C extends object>(name: string, load: () => Promise<{ attach: AttachFn<C> }>, config: (c: ZeoneConfig) => C): LayerEntry {
  layerLoaders.push(load)
  return [name, async (ctx: NodeContext<C>) => (await load()).attach(ctx), config]
}

/** Loads every layer's module without attaching it: a first start does this while the identity is minted (src/cli/identity-ahead.ts). */
export function preloadLayers(): Promise<unknown> { return Promise.all(layerLoaders.map((l) => l())) }

/** Layer attach order; stopped in reverse. */
export const LAYERS: readonly LayerEntry[] = [
  layer('services', () => import('./services/attach.js'), (c) => ({ services: c.services, node: c.node, legacy: c.legacy })),
  layer('dht', () => import('./dht/attach.js'), (c) => ({ dht: c.dht, node: c.node })),
  layer('nat', () => import('./nat/attach.js'), (c) => ({ nat: c.nat, node: c.node })),
  layer('content', () => import('./content/attach.js'), (c) => ({ content: c.content })),
  layer('economy', () => import('./economy/attach.js'), (c) => ({ economy: c.economy, chain: c.chain })),
  layer('vpn', () => import('./services/vpn/attach.js'), (c) => ({ vpn: c.vpn, economy: c.economy, dht: c.dht })),
  layer('cortex', () => import('./cortex/attach.js'), (c) => ({ cortex: c.cortex, chain: c.chain })),
  // last: the web dashboard reads the services the layers above registered (and no config)
  layer('dashboard', () => import('./ops/dashboard/attach.js'), () => ({})),
]

/** The config slice of a layer entry: its own, else that of the known layer of its name, else the whole config. */
export function sliceOf([name, , config]: LayerEntry): (c: ZeoneConfig) => object {
  return config ?? LAYERS.find(([n]) => n === name)?.[2] ?? ((c) => c)
}
