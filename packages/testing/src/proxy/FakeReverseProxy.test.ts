import { describe, expect, it } from "@effect/vitest"
import { ReverseProxy } from "@tamanu-lifecycle/core"
import { Effect, TestClock } from "effect"
import { FakeReverseProxy, FakeReverseProxyControl } from "./FakeReverseProxy.js"

describe("FakeReverseProxy", () => {
  it.effect("records each reload with its time and answers as scripted", () =>
    Effect.gen(function* () {
      const proxy = yield* ReverseProxy
      const control = yield* FakeReverseProxyControl
      expect(yield* proxy.reload).toEqual({ reloaded: true, warnings: [] })
      yield* TestClock.adjust("3 seconds")
      const failed = { reloaded: false, warnings: ["systemctl reload caddy: Unit caddy.service not loaded."] }
      yield* control.answer(failed)
      expect(yield* proxy.reload).toEqual(failed)
      expect((yield* control.reloads).map((r) => [r.at, r.result.reloaded])).toEqual([
        [0, true],
        [3000, false],
      ])
    }).pipe(Effect.provide(FakeReverseProxy.layer())),
  )
})
