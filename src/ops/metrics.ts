/** The node's Prometheus registry, with Node.js default metrics under the `zeone_` prefix. */
import { collectDefaultMetrics, Registry } from 'prom-client'

export function createMetricsRegistry(opts: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry()
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'zeone_' })
  return registry
}
