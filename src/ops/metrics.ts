/** The node's Prometheus registry, with Node.js default metrics under the `zeone_` prefix. */
import { statfsSync, type StatsFs } from 'node:fs'
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client'

/** prom-client's default collectors add three gauges named `*_total`, a suffix the exposition format reserves for
 *  counters (`promtool check metrics` rejects them). Each repeats the sum of a labelled gauge that stays
 *  (`zeone_nodejs_active_handles{type}` etc.: `sum(zeone_nodejs_active_handles)` gives the same number). */
const GAUGES_NAMED_LIKE_COUNTERS = ['zeone_nodejs_active_handles_total', 'zeone_nodejs_active_requests_total', 'zeone_nodejs_active_resources_total']

export function createMetricsRegistry(opts: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry()
  if (opts.defaultMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: 'zeone_' })
    for (const name of GAUGES_NAMED_LIKE_COUNTERS) registry.removeSingleMetric(name)
  }
  return registry
}

/** Free and total bytes of the file system holding the data dir (ledger, records, content): the disk-full alert. */
export function registerDataDirMetrics(registry: Registry, dataDir: string): void {
  const read = (pick: (s: StatsFs) => number) => function (this: Gauge) {
    try { this.set(pick(statfsSync(dataDir))) } catch { /* data dir not there yet */ }
  }
  new Gauge({ name: 'zeone_data_dir_free_bytes', help: 'Bytes available to the node on the data dir file system', registers: [registry], collect: read((s) => s.bavail * s.bsize) })
  new Gauge({ name: 'zeone_data_dir_size_bytes', help: 'Size of the data dir file system', registers: [registry], collect: read((s) => s.blocks * s.bsize) })
}
