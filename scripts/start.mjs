#!/usr/bin/env node
// `npm start [-- FLAGS]`: build when a source changed (./build-if-stale.mjs), then run `zeone start FLAGS` in this
// same process: one Node start-up fewer than `build-if-stale && zeone start`, which on a loaded 2-vCPU machine is
// a visible part of the time to the banner.
import { buildIfStale } from './build-if-stale.mjs'

const status = buildIfStale()
if (status !== 0) process.exit(status)
const bin = new URL('../bin/zeone.js', import.meta.url)
process.argv = [process.argv[0], bin.pathname, 'start', ...process.argv.slice(2)]
await import(bin.href)
