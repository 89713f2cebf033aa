/**
 * The slice of pm2's messaging libraries the pm2 supervisor uses. They ship
 * no types; these say exactly what `pm2.ts` relies on (the same calls pm2's
 * own `lib/Client.js` makes).
 */
declare module "pm2-axon" {
  interface AxonSocket {
    set(option: "retry timeout" | "retry max timeout", value: number): this
    connect(path: string): this
    close(): void
    on(event: "connect" | "close", listener: () => void): this
    on(event: "error", listener: (error: Error) => void): this
    once(event: "connect" | "close", listener: () => void): this
    once(event: "error", listener: (error: Error) => void): this
    off(event: "connect" | "close", listener: () => void): this
    off(event: "error", listener: (error: Error) => void): this
  }
  interface SubEmitterSocket {
    connect(path: string): this
    close(): void
    /** `topic` may hold `*` wildcards; each wildcard's match is passed before the payload. */
    on(topic: string, listener: (...args: ReadonlyArray<unknown>) => void): this
  }
  function socket(type: "req"): AxonSocket
  function socket(type: "sub-emitter"): SubEmitterSocket
  const axon: { socket: typeof socket }
  export default axon
  export type { AxonSocket, SubEmitterSocket }
}

declare module "pm2-axon-rpc" {
  import type { AxonSocket } from "pm2-axon"

  class Client {
    constructor(sock: AxonSocket)
    /** `call(method, ...args, callback)`: the last argument is the node-style callback. */
    call(method: string, ...argsAndCallback: ReadonlyArray<unknown>): void
  }
  const rpc: { Client: typeof Client }
  export default rpc
}
