// Shared helpers of the event-store tests: a small event vocabulary and a store opened on a root directory.
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type * as BinLogger from "../src/BinLogger.ts"
import * as Decider from "../src/Decider.ts"
import * as EventStore from "../src/EventStore.ts"
import * as EventType from "../src/EventType.ts"

export const Opened = EventType.make("Opened", Schema.Struct({ owner: Schema.String }))
export const Deposited = EventType.make("Deposited", Schema.Struct({ amount: Schema.Number }))
export const Withdrawn = EventType.make("Withdrawn", Schema.Struct({ amount: Schema.Number }))
export const Events = EventType.registry(Opened, Deposited, Withdrawn)
export type Event = EventType.EventOf<typeof Opened | typeof Deposited | typeof Withdrawn>

export const storeLayer = (root: string, options: Partial<EventStore.StandaloneOptions> = {}) =>
  Layer.fresh(EventStore.layerWithLog({ root, ...options }))

/** Runs `f` against a store opened on `root` and closes it (writing its final checkpoint) afterwards. */
export const withStore = <A, E>(
  root: string,
  f: Effect.Effect<A, E, EventStore.EventStore | BinLogger.BinLogger | Scope.Scope>,
  options: Partial<EventStore.StandaloneOptions> = {}
) => Effect.scoped(f.pipe(Effect.provide(storeLayer(root, options))))

// --- a small account decider over the events above ---

export class NotOpen extends Schema.TaggedError<NotOpen>()("NotOpen", {}) {}
export class AlreadyOpen extends Schema.TaggedError<AlreadyOpen>()("AlreadyOpen", {}) {}
export class InsufficientFunds extends Schema.TaggedError<InsufficientFunds>()("InsufficientFunds", {
  balance: Schema.Number,
  requested: Schema.Number
}) {}

export type Command =
  | { readonly _tag: "Open"; readonly owner: string }
  | { readonly _tag: "Deposit"; readonly amount: number }
  | { readonly _tag: "Withdraw"; readonly amount: number }

export const State = Schema.Struct({ open: Schema.Boolean, balance: Schema.Number, events: Schema.Number })
export type State = typeof State.Type

export const account = Decider.make<Command, Event, State, NotOpen | AlreadyOpen | InsufficientFunds>({
  initialState: () => ({ open: false, balance: 0, events: 0 }),
  decide: (command, state) => {
    switch (command._tag) {
      case "Open":
        return state.open ? Decider.reject(new AlreadyOpen()) : Decider.accept(Opened.make({ owner: command.owner }))
      case "Deposit":
        return !state.open ? Decider.reject(new NotOpen()) : Decider.accept(Deposited.make({ amount: command.amount }))
      case "Withdraw":
        if (!state.open) return Decider.reject(new NotOpen())
        if (state.balance < command.amount) {
          return Decider.reject(new InsufficientFunds({ balance: state.balance, requested: command.amount }))
        }
        return Decider.accept(Withdrawn.make({ amount: command.amount }))
    }
  },
  evolve: (state, event) => {
    switch (event.type) {
      case "Opened":
        return { ...state, open: true, events: state.events + 1 }
      case "Deposited":
        return { ...state, balance: state.balance + event.data.amount, events: state.events + 1 }
      case "Withdrawn":
        return { ...state, balance: state.balance - event.data.amount, events: state.events + 1 }
    }
  }
})
