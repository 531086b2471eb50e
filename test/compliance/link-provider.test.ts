/**
 * The LinkProvider suite against every implementation: the simulator's MemoryNetwork and the ConnectionManager over
 * in-memory pipes, TCP, UDX and relay circuits (issue 23 item 3, issue 24 item 1).
 */
import { linkProviderSuite } from './link-provider.js'
import { memory, memoryStreams, relayed, tcp, udx } from './rigs.js'

linkProviderSuite('memory network', memory, { streams: false })
linkProviderSuite('manager over memory pipes', memoryStreams)
linkProviderSuite('manager over tcp', tcp)
linkProviderSuite('manager over udx', udx)
linkProviderSuite('manager over relay circuits', relayed)
