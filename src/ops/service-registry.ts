/** Layers provide services by name (economy provides 'usage', DHT provides 'providers', ...) and find each other's. */
import type { ServiceMap, ServiceRegistry } from '../interfaces/node-context.js'

export class MapServiceRegistry implements ServiceRegistry {
  #impls = new Map<keyof ServiceMap, unknown>()

  provide<K extends keyof ServiceMap>(name: K, impl: ServiceMap[K]): void {
    if (this.#impls.has(name)) throw new Error(`service '${String(name)}' is already provided`)
    this.#impls.set(name, impl)
  }

  get<K extends keyof ServiceMap>(name: K): ServiceMap[K] | undefined {
    return this.#impls.get(name) as ServiceMap[K] | undefined
  }

  names(): string[] { return [...this.#impls.keys()].map(String) }
}
