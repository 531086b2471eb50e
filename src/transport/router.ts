/** Typed message router: later layers register one handler per message type. */
import type { Handler, Inbound, MessageRouter } from '../interfaces/link.js'
import type { Logger } from '../interfaces/logger.js'
import { silentLogger } from '../interfaces/logger.js'
import { ZeoneError } from '../util/errors.js'
import { MessageType, messageTypeName } from '../wire/message-types.js'
import { toWireError } from '../wire/error-codes.js'
import { encodeError } from './rpc-link.js'

export interface RouterInit {
  logger?: Logger
  /** Called for every message nobody handles or whose handler fails: feeds refusal metrics and trust. */
  onRefusal?: (msg: Inbound, reason: string) => void
}

export class Router implements MessageRouter {
  #handlers = new Map<number, Handler>()
  #logger: Logger
  #onRefusal: ((msg: Inbound, reason: string) => void) | undefined

  constructor(init: RouterInit = {}) {
    this.#logger = init.logger ?? silentLogger
    this.#onRefusal = init.onRefusal
  }

  handle(type: number, handler: Handler): () => void {
    if (this.#handlers.has(type)) throw new Error(`a handler for ${messageTypeName(type)} is already registered`)
    this.#handlers.set(type, handler)
    return () => { if (this.#handlers.get(type) === handler) this.#handlers.delete(type) }
  }

  has(type: number): boolean { return this.#handlers.has(type) }

  /** Dispatches one inbound message; never throws. */
  dispatch = (msg: Inbound): void => {
    const h = this.#handlers.get(msg.type)
    if (!h) {
      this.#onRefusal?.(msg, 'unhandled_type')
      msg.reply?.(MessageType.ERROR, encodeError('unhandled_type', `no handler for ${messageTypeName(msg.type)}`))
      return
    }
    let result: void | Promise<void>
    try {
      result = h(msg)
    } catch (err) {
      this.#fail(msg, err)
      return
    }
    if (result && typeof (result as Promise<void>).then === 'function') {
      (result as Promise<void>).catch((err) => this.#fail(msg, err))
    }
  }

  #fail(msg: Inbound, err: unknown): void {
    const local = err instanceof ZeoneError ? err.code : 'handler_error'
    const message = err instanceof Error ? err.message : String(err)
    // the full story stays here; the peer gets only a registered code and scrubbed text (src/wire/error-codes.ts)
    this.#logger.debug({ type: messageTypeName(msg.type), code: local, err: message }, 'handler refused message')
    this.#onRefusal?.(msg, local)
    const out = toWireError(err)
    msg.reply?.(MessageType.ERROR, encodeError(out.code, out.message))
  }
}
