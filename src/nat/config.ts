import { z } from 'zod'

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port')

/** Config section `nat` (owned by src/nat). Every field has a default so an empty section is valid. */
export const natConfigSchema = z.object({
  /** Run NAT traversal (UDP socket, discovery, punching, signalling). @default true */
  enabled: z.boolean().default(true),
  /** Local UDP port of the udx socket used for STUN, punching and UDP links (0 = any). @default 0 */
  udpPort: z.number().int().min(0).max(65535).default(0),
  /** @default '0.0.0.0' */
  udpHost: z.string().default('0.0.0.0'),
  /** STUN servers (host:port) for NAT discovery; the first one that answers is used. RFC 5780 needs OTHER-ADDRESS. */
  stunServers: z.array(hostPort).default([]),
  /** Re-run NAT discovery this often. @default 300000 */
  rediscoverMs: z.number().int().min(1000).default(300_000),
  /** STUN server role (RFC 5780 with an alternate address) for public nodes. */
  stunServer: z.object({
    /** @default false */
    enabled: z.boolean().default(false),
    /** Primary listen address host:port. @default '0.0.0.0:3478' */
    primary: hostPort.default('0.0.0.0:3478'),
    /** Alternate IP:port (second public IP) for CHANGE-REQUEST; empty = plain STUN. @default '' */
    alternate: z.union([hostPort, z.literal('')]).default(''),
    /** @default 2000 */
    maxRepliesPerSecond: z.number().int().min(1).default(2000),
  }).strict().prefault({}),
  /** Node ids (base64) of rendezvous nodes to signal through when no direct link carries signalling. */
  rendezvous: z.array(z.string()).default([]),
  /** Forward signalling for other peers (rendezvous role). @default true */
  forwardSignals: z.boolean().default(true),
  /** Hole-punching parameters. */
  punch: z.object({
    /** Pacing between checks (RFC 8445 Ta), ms. @default 20 */
    paceMs: z.number().int().min(5).max(1000).default(20),
    /** Sockets the hard (symmetric) side opens for the birthday approach. @default 256 */
    birthdaySockets: z.number().int().min(0).max(1024).default(256),
    /** Random-port probes per second from the easy side (polite default). @default 250 */
    sprayPps: z.number().int().min(1).max(10_000).default(250),
    /** @default 8000 */
    maxSprayProbes: z.number().int().min(0).max(65_536).default(8000),
    /** @default 1500 */
    escalateAfterMs: z.number().int().min(0).default(1500),
    /** @default 15000 */
    timeoutMs: z.number().int().min(100).default(15_000),
    /** Use the birthday approach at all. @default true */
    birthday: z.boolean().default(true),
    /**
     * Try TCP simultaneous open (UDP blocked), in parallel with UDP punching, for pairs whose mappings keep ports
     * predictable (never for a destination-dependent mapping on either side). @default true
     */
    tcp: z.boolean().default(true),
    /** How long TCP simultaneous open is tried. @default 8000 */
    tcpTimeoutMs: z.number().int().min(100).default(8000),
    /** Head start of UDP punching before TCP simultaneous open joins the race (sooner when UDP fails). @default 500 */
    tcpDelayMs: z.number().int().min(0).max(60_000).default(500),
    /**
     * Checks we send, per attempt a peer asked for, to its addresses before an authenticated check came from them
     * (opens our NAT towards the peer without letting it aim our traffic elsewhere). @default 50
     */
    unsolicitedChecks: z.number().int().min(0).max(1000).default(50),
    /**
     * Take part in the birthday approach for a peer that called us: at most 64 sockets / 2000 random-port probes per
     * attempt, aimed only at the IP the caller's link was observed at (it proved that address with a handshake), and
     * only within the inbound admission limits. Without it a peer behind a symmetric NAT and one behind a
     * port-restricted cone reach each other only through a relay. @default true
     */
    inboundBirthday: z.boolean().default(true),
    /** An attempt a peer asked for ends when it sent no authenticated check within this long. @default 4000 */
    inboundIdleMs: z.number().int().min(100).default(4000),
    /** Attempts one peer may ask for in a burst / per minute; one in flight at a time. @default 2 / 6 */
    inboundPerPeerBurst: z.number().int().min(1).max(1000).default(2),
    inboundPerPeerPerMinute: z.number().positive().max(60_000).default(6),
    /** Attempts all peers together may ask for in a burst / per minute. @default 16 / 60 */
    inboundGlobalBurst: z.number().int().min(1).max(10_000).default(16),
    inboundGlobalPerMinute: z.number().positive().max(600_000).default(60),
  }).strict().prefault({}),
  /** Relay service (RELAY capability) and relay use. */
  relay: z.object({
    /** Forward circuits for other peers. @default false */
    enabled: z.boolean().default(false),
    /** Circuits open at once on this relay. @default 64 */
    maxCircuits: z.number().int().min(0).max(65_536).default(64),
    /** Circuits one peer may hold on this relay. @default 4 */
    maxCircuitsPerPeer: z.number().int().min(0).max(1024).default(4),
    /** Bytes one circuit may carry before it is closed (0 = unlimited). @default 1073741824 */
    maxBytesPerCircuit: z.number().int().min(0).default(1024 ** 3),
    /** Relay to peers whose address is private/loopback/link-local (labs only). @default false */
    allowPrivatePeers: z.boolean().default(false),
    /** Fall back to a relayed link when punching fails. @default true */
    useRelays: z.boolean().default(true),
    /** Node ids (base64) of preferred relays; otherwise the rendezvous is asked. */
    relays: z.array(z.string()).default([]),
    /** Keep trying to upgrade a relayed link to a punched one this often (0 = never). @default 30000 */
    upgradeIntervalMs: z.number().int().min(0).default(30_000),
  }).strict().prefault({}),
  /**
   * Liveness of the links NAT traversal made (punched UDX, TCP simultaneous open, relayed, TURN): a link that
   * received nothing for `intervalMs` gets a NAT_ECHO probe; `misses` unanswered probes (each `timeoutMs`) close it
   * as dead, and a link we opened is routed again (another relay, TURN or a punched path).
   */
  liveness: z.object({
    /** Probe the links NAT traversal made (lab: a black-holed or killed relay is routed around). @default true */
    enabled: z.boolean().default(true),
    /** @default 1000 */
    intervalMs: z.number().int().min(100).max(600_000).default(1000),
    /** @default 2000 */
    timeoutMs: z.number().int().min(100).max(600_000).default(2000),
    /** @default 2 */
    misses: z.number().int().min(1).max(100).default(2),
    /** Route a dead link we opened again without operator action. @default true */
    reroute: z.boolean().default(true),
  }).strict().prefault({}),
  /** TURN servers (RFC 8656) used as a relay when punching fails and no relay node helps. */
  turn: z.object({
    servers: z.array(z.object({
      /** host:port */
      server: hostPort,
      username: z.string(),
      password: z.string(),
    }).strict()).default([]),
  }).strict().prefault({}),
  /** Signalling requests forwarded per second per peer (rendezvous role). @default 10 */
  signalsPerSecond: z.number().positive().default(10),
}).strict()

export type NatConfig = z.infer<typeof natConfigSchema>
