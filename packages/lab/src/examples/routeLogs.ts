/**
 * Embedding example 4 (docs/embedding.md): where core's log lines go.
 *
 * Core never writes to stdout or stderr by itself, not even through Effect's
 * default logger. What its services notice on the way (the database did not
 * answer, an instance has no probe URL, each systemctl call and pm2 RPC at
 * debug level) goes to the loggers your program installs, and only there.
 * This one hands each line to `write`; `Logger.withMinimumLogLevel` on the
 * operation chooses the levels (Effect's default: info and above).
 */
import { Logger } from "effect"

const text = (message: unknown): string =>
  (Array.isArray(message) ? message : [message]).map((m) => (typeof m === "string" ? m : JSON.stringify(m))).join(" ")

export const logLinesTo = (write: (line: string) => void) =>
  Logger.add(Logger.make(({ logLevel, message }) => write(`${logLevel.label.toLowerCase()}: ${text(message)}`)))
