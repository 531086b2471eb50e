/**
 * The message-type registry: one byte in every v1/v2 frame header. Numbers 0x01-0x52 are the seed table and never
 * change. Each layer owns a range for its own types; the normative list with payload schemas is docs/protocol.md.
 *
 *   0x01-0x07 core (seed)            0x08-0x0f handshake and session control
 *   0x10-0x1f DHT (0x10-0x15 seed)   0x20-0x2f services (0x20-0x21 seed)
 *   0x30-0x3f VPN (0x30-0x32 seed)   0x40-0x4f content and CDN cache (0x40-0x41 seed)
 *   0x50-0x5f economy (0x50-0x52 seed)
 *   0x60-0x6f NAT traversal and relay   0x70-0x7f cortex (inference)   0x80-0xfe unassigned   0x00, 0xff reserved
 */
export const MessageType = {
  // core (seed)
  PING: 0x01,
  PONG: 0x02,
  DISCOVER: 0x03,
  PEER_LIST: 0x04,
  // handshake and session control
  HELLO: 0x08,
  HELLO_ACK: 0x09,
  VERIFY: 0x0a,
  ERROR: 0x0b,
  // 0x0c is reserved (the seed's CLOSE, never defined): docs/protocol.md §3
  // DHT (seed)
  DHT_FIND_NODE: 0x10,
  DHT_FIND_NODE_RESP: 0x11,
  DHT_FIND_VALUE: 0x12,
  DHT_FIND_VALUE_RESP: 0x13,
  DHT_STORE: 0x14,
  DHT_STORE_RESP: 0x15,
  // services (seed)
  SERVICE_REQUEST: 0x20,
  SERVICE_RESPONSE: 0x21,
  // VPN (seed)
  VPN_CONNECT: 0x30,
  VPN_DATA: 0x31,
  VPN_CLOSE: 0x32,
  // VPN UDP ASSOCIATE (docs/protocol/vpn.md §UDP)
  VPN_UDP_ASSOCIATE: 0x33,
  VPN_UDP_DATA: 0x34,
  VPN_UDP_CLOSE: 0x35,
  // CDN cache (seed)
  CACHE_REQUEST: 0x40,
  CACHE_RESPONSE: 0x41,
  // economy (seed)
  IOU: 0x50,
  BALANCE_CLAIM: 0x51,
  BALANCE_ACK: 0x52,
} as const


/** Ranges owned by each layer; a layer registers its extra types inside its own range only. */
export const TYPE_RANGES = {
  core: [0x01, 0x07],
  session: [0x08, 0x0f],
  dht: [0x10, 0x1f],
  services: [0x20, 0x2f],
  vpn: [0x30, 0x3f],
  content: [0x40, 0x4f],
  economy: [0x50, 0x5f],
  nat: [0x60, 0x6f],
  cortex: [0x70, 0x7f],
} as const satisfies Record<string, readonly [number, number]>

const names = new Map<number, string>()
for (const [name, value] of Object.entries(MessageType)) names.set(value, name)

/**
 * Registers a layer's extra message types (called once at module load by the layer's messages.ts).
 * Throws if a number is outside the layer's range or already taken: collisions are programming errors.
 */
export function registerMessageTypes(layer: keyof typeof TYPE_RANGES, types: Record<string, number>): void {
  const [lo, hi] = TYPE_RANGES[layer]
  for (const [name, value] of Object.entries(types)) {
    if (value < lo || value > hi) throw new RangeError(`message type ${name}=0x${value.toString(16)} outside ${layer} range`)
    const existing = names.get(value)
    if (existing !== undefined && existing !== name) throw new RangeError(`message type 0x${value.toString(16)} already used by ${existing}`)
    names.set(value, name)
  }
}

export function messageTypeName(type: number): string {
  return names.get(type) ?? `0x${type.toString(16).padStart(2, '0')}`
}
