// Writes ops/grafana/zeone-fleet.json (run from the repo root: node ops/grafana/generate.mjs). Panels are declared once here.
import { writeFileSync } from 'node:fs'
const I = 'instance=~"$instance"'
const R = '$__rate_interval'
const panels = [
  ['Nodes up', 'stat', [['sum(up{job="zeone", ' + I + '})', 'up']], 'none', 'How many selected nodes Prometheus can scrape'],
  ['Peers connected', 'timeseries', [[`zeone_peers_connected{${I}}`, '{{instance}}']], 'none', 'Authenticated links open per node'],
  ['Traffic by message type', 'timeseries', [[`sum by (type, direction) (rate(zeone_frame_bytes_total{${I}}[${R}]))`, '{{type}} {{direction}}']], 'Bps', 'Application payload bytes per second by wire message type'],
  ['Refusals by reason', 'timeseries', [[`sum by (reason) (rate(zeone_refusals_total{${I}}[${R}]))`, '{{reason}}']], 'ops', 'Refused connections, frames and messages per second'],
  ['Handshake failure ratio', 'timeseries', [[`sum by (instance) (rate(zeone_handshakes_total{outcome!="ok", ${I}}[${R}])) / sum by (instance) (rate(zeone_handshakes_total{${I}}[${R}]))`, '{{instance}}']], 'percentunit', 'Share of handshakes that did not end in a session'],
  ['DHT lookup latency', 'timeseries', [
    [`histogram_quantile(0.5, sum by (le) (rate(zeone_dht_lookup_seconds_bucket{${I}}[${R}])))`, 'p50'],
    [`histogram_quantile(0.95, sum by (le) (rate(zeone_dht_lookup_seconds_bucket{${I}}[${R}])))`, 'p95'],
  ], 's', 'Iterative lookups (find_node, find_value, get_providers), all outcomes'],
  ['Content fetch throughput', 'timeseries', [[`sum by (instance) (rate(zeone_content_fetched_bytes_total{${I}}[${R}]))`, '{{instance}}']], 'Bps', 'Verified chunk bytes fetched per second'],
  ['Credit balances', 'timeseries', [[`sum by (instance, side) (zeone_economy_balance_microcredits{${I}}) / 1e6`, '{{instance}} {{side}}']], 'none', 'Credits: owed_to_us (peers owe this node) and we_owe'],
  ['Inference tokens/s', 'timeseries', [[`sum by (instance) (rate(zeone_cortex_stage_tokens_total{${I}}[${R}]))`, '{{instance}}']], 'none', 'Token positions run through the stages each node serves'],
  ['Ledger entries pending', 'timeseries', [[`zeone_economy_ledger_pending{${I}}`, '{{instance}}']], 'none', 'Ledger entries not yet flushed to ledger.sqlite'],
  ['Data dir disk free', 'timeseries', [[`zeone_data_dir_free_bytes{${I}} / zeone_data_dir_size_bytes{${I}}`, '{{instance}}']], 'percentunit', 'Free share of the file system holding the data dir'],
]
const dash = {
  title: 'ZEONE fleet', uid: 'zeone-fleet', tags: ['zeone'], timezone: 'browser', schemaVersion: 39, version: 1, refresh: '30s',
  time: { from: 'now-1h', to: 'now' },
  __inputs: [{ name: 'DS_PROMETHEUS', label: 'Prometheus', type: 'datasource', pluginId: 'prometheus', pluginName: 'Prometheus' }],
  templating: { list: [
    { name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Data source', current: {} },
    { name: 'instance', type: 'query', label: 'Node', datasource: { type: 'prometheus', uid: '${datasource}' }, query: { query: 'label_values(up{job="zeone"}, instance)', refId: 'instance' }, definition: 'label_values(up{job="zeone"}, instance)', includeAll: true, multi: true, allValue: '.*', current: { text: 'All', value: '$__all' }, refresh: 2 },
  ] },
  panels: panels.map(([title, type, targets, unit, description], i) => ({
    id: i + 1, title, type, description,
    datasource: { type: 'prometheus', uid: '${datasource}' },
    gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
    fieldConfig: { defaults: { unit }, overrides: [] },
    targets: targets.map(([expr, legendFormat], j) => ({ refId: String.fromCharCode(65 + j), expr, legendFormat, datasource: { type: 'prometheus', uid: '${datasource}' } })),
  })),
}
writeFileSync('ops/grafana/zeone-fleet.json', JSON.stringify(dash, null, 2) + '\n')
