/**
 * The Emmett event-store contract as our own node:test cases, checked with
 * Emmett's own `CommandHandler` on a small shopping-cart decider: what Emmett
 * users rely on (learned from Emmett's `EventStore` types and its shared
 * event-store feature tests, written anew here). A store passes it by calling
 * {@link emmettContract} from its test file:
 *
 * ```ts ignore
 * emmettContract("rabbit, fake client", () => Promise.resolve({ store, unique: (p) => `${p}-1` }));
 * ```
 *
 * It checks: append and read with bigint versions from 1 and global
 * positions, metadata (streamName, messageId, streamPosition,
 * globalPosition); the expected-version constants and `ExpectedVersionConflictError`
 * with the current and expected versions; time travel with `read: { to }`
 * on `aggregateStream` and `readStream`, and `from`/`maxCount`; `streamExists`;
 * a decider through `CommandHandler`; and concurrent handlers on one stream
 * that all succeed by retrying on conflicts, leaving dense versions.
 *
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  CommandHandler,
  type Event,
  type EventStore,
  ExpectedVersionConflictError,
  isExpectedVersionConflictError,
  NO_CONCURRENCY_CHECK,
  type ReadEventMetadataWithGlobalPosition,
  STREAM_DOES_NOT_EXIST,
  STREAM_EXISTS,
} from "@event-driven-io/emmett";

/** What one contract run needs. */
export interface EmmettSubject {
  /** The store under test. */
  store: EventStore<ReadEventMetadataWithGlobalPosition>;
  /** A stream name no other test uses. */
  unique(prefix: string): string;
}

// The shopping cart decider.
type PricedItem = { productId: string; quantity: number; price: number };
type ProductItemAdded = Event<"ProductItemAdded", { productItem: PricedItem }>;
type DiscountApplied = Event<"DiscountApplied", { percent: number }>;
type ShoppingCartConfirmed = Event<"ShoppingCartConfirmed", { at: string }>;
type CartEvent = ProductItemAdded | DiscountApplied | ShoppingCartConfirmed;
type Cart = { status: "open" | "confirmed"; items: PricedItem[]; total: number };

const initialState = (): Cart => ({ status: "open", items: [], total: 0 });
const evolve = (cart: Cart, event: CartEvent): Cart => {
  switch (event.type) {
    case "ProductItemAdded": {
      const { productItem } = event.data;
      return {
        ...cart,
        items: [...cart.items, productItem],
        total: cart.total + productItem.quantity * productItem.price,
      };
    }
    case "DiscountApplied":
      return { ...cart, total: cart.total * (1 - event.data.percent / 100) };
    case "ShoppingCartConfirmed":
      return { ...cart, status: "confirmed" };
  }
};
const addItem = (productItem: PricedItem) => (cart: Cart): ProductItemAdded => {
  if (cart.status !== "open") throw new Error("Cannot add to a confirmed cart");
  return { type: "ProductItemAdded", data: { productItem } };
};
const confirm = (cart: Cart): ShoppingCartConfirmed => {
  if (cart.items.length === 0) throw new Error("Cannot confirm an empty cart");
  return { type: "ShoppingCartConfirmed", data: { at: "2026-12-02T00:00:00.000Z" } };
};
const book: PricedItem = { productId: "book", quantity: 10, price: 3 };

/** Run the contract against the stores `subject` makes (one per test). */
export function emmettContract(name: string, subject: () => Promise<EmmettSubject>): void {
  describe(`Emmett EventStore contract: ${name}`, () => {
    const run = (title: string, body: (s: EmmettSubject) => Promise<void>) =>
      it(title, async () => {
        await body(await subject());
      });

    run("appends with bigint versions and global positions, and reads them back with metadata", async (s) => {
      const stream = s.unique("cart");
      const first = await s.store.appendToStream<CartEvent>(stream, [
        { type: "ProductItemAdded", data: { productItem: book } },
      ], { expectedStreamVersion: STREAM_DOES_NOT_EXIST });
      assert.equal(first.nextExpectedStreamVersion, 1n);
      assert.equal(first.createdNewStream, true);
      const position = (first as { lastEventGlobalPosition?: bigint }).lastEventGlobalPosition;
      assert.equal(typeof position, "bigint");
      const second = await s.store.appendToStream<CartEvent>(stream, [
        { type: "DiscountApplied", data: { percent: 10 } },
        { type: "ShoppingCartConfirmed", data: { at: "now" } },
      ], { expectedStreamVersion: 1n });
      assert.equal(second.nextExpectedStreamVersion, 3n);
      assert.equal(second.createdNewStream, false);
      assert.equal((second as { lastEventGlobalPosition?: bigint }).lastEventGlobalPosition, position! + 2n);

      const read = await s.store.readStream<CartEvent>(stream);
      assert.equal(read.currentStreamVersion, 3n);
      assert.equal(read.streamExists, true);
      assert.deepEqual(read.events.map((e) => e.type), [
        "ProductItemAdded",
        "DiscountApplied",
        "ShoppingCartConfirmed",
      ]);
      assert.deepEqual(read.events[1].data, { percent: 10 });
      assert.deepEqual(read.events.map((e) => e.metadata.streamPosition), [1n, 2n, 3n]);
      assert.deepEqual(read.events.map((e) => e.metadata.globalPosition), [position, position! + 1n, position! + 2n]);
      for (const e of read.events) {
        assert.equal(e.metadata.streamName, stream);
        assert.equal(typeof e.metadata.messageId, "string");
        assert.equal(e.kind, "Event");
      }
      assert.equal(new Set(read.events.map((e) => e.metadata.messageId)).size, 3, "one messageId per event");
    });

    run("keeps event metadata", async (s) => {
      const stream = s.unique("meta");
      await s.store.appendToStream(stream, [{ type: "Tagged", data: { n: 1 }, metadata: { correlationId: "c-1" } }]);
      const { events } = await s.store.readStream(stream);
      assert.equal((events[0].metadata as Record<string, unknown>).correlationId, "c-1");
      assert.equal(events[0].metadata.streamPosition, 1n);
    });

    run("reads an unknown stream as empty at version 0", async (s) => {
      const read = await s.store.readStream(s.unique("none"));
      assert.deepEqual(read, { currentStreamVersion: 0n, events: [], streamExists: false });
      const aggregate = await s.store.aggregateStream(s.unique("none"), { evolve, initialState });
      assert.deepEqual(aggregate, { currentStreamVersion: 0n, state: initialState(), streamExists: false });
    });

    run(
      "refuses appends at the wrong expected version with ExpectedVersionConflictError, storing nothing",
      async (s) => {
        const stream = s.unique("conflict");
        const added = { type: "ProductItemAdded", data: { productItem: book } } as const;
        await assert.rejects(s.store.appendToStream(stream, [added], { expectedStreamVersion: STREAM_EXISTS }), (e) => {
          assert.ok(e instanceof ExpectedVersionConflictError);
          assert.ok(isExpectedVersionConflictError(e));
          assert.equal(e.current, "0");
          assert.equal(e.expected, STREAM_EXISTS);
          return true;
        });
        await s.store.appendToStream(stream, [added, added], { expectedStreamVersion: 0n });
        for (
          const [expected, text] of [[STREAM_DOES_NOT_EXIST, "STREAM_DOES_NOT_EXIST"], [1n, "1"], [3n, "3"]] as const
        ) {
          await assert.rejects(
            s.store.appendToStream(stream, [added], { expectedStreamVersion: expected }),
            (e) => e instanceof ExpectedVersionConflictError && e.current === "2" && e.expected === text,
          );
        }
        const ok = await s.store.appendToStream(stream, [added], { expectedStreamVersion: STREAM_EXISTS });
        assert.equal(ok.nextExpectedStreamVersion, 3n);
        const any = await s.store.appendToStream(stream, [added], { expectedStreamVersion: NO_CONCURRENCY_CHECK });
        assert.equal(any.nextExpectedStreamVersion, 4n);
        assert.equal((await s.store.readStream(stream)).events.length, 4, "refused appends stored nothing");
        await assert.rejects(
          s.store.readStream(stream, { expectedStreamVersion: 3n }),
          (e) => e instanceof ExpectedVersionConflictError && e.current === "4",
        );
      },
    );

    run(
      "travels in time with read: { to } on aggregateStream and readStream, and pages with from/maxCount",
      async (s) => {
        const stream = s.unique("travel");
        await s.store.appendToStream<CartEvent>(stream, [{ type: "ProductItemAdded", data: { productItem: book } }]);
        await s.store.appendToStream<CartEvent>(stream, [{ type: "ProductItemAdded", data: { productItem: book } }]);
        await s.store.appendToStream<CartEvent>(stream, [{ type: "DiscountApplied", data: { percent: 10 } }]);
        const at = (to: bigint) => s.store.aggregateStream(stream, { evolve, initialState, read: { to } });
        const [one, two, three] = [await at(1n), await at(2n), await at(3n)];
        assert.equal(one.currentStreamVersion, 1n);
        assert.deepEqual(one.state, { status: "open", items: [book], total: 30 });
        assert.equal(two.currentStreamVersion, 2n);
        assert.deepEqual(two.state, { status: "open", items: [book, book], total: 60 });
        assert.equal(three.currentStreamVersion, 3n);
        assert.deepEqual(three.state, { status: "open", items: [book, book], total: 54 });
        // evolve may take the event with its metadata.
        const versions = await s.store.aggregateStream(stream, {
          evolve: (
            seen: bigint[],
            event: { metadata: { streamPosition: bigint } },
          ) => [...seen, event.metadata.streamPosition],
          initialState: () => [] as bigint[],
          read: { to: 2n },
        });
        assert.deepEqual(versions.state, [1n, 2n]);

        const upTo2 = await s.store.readStream<CartEvent>(stream, { to: 2n });
        assert.deepEqual(upTo2.events.map((e) => e.metadata.streamPosition), [1n, 2n]);
        assert.equal(upTo2.currentStreamVersion, 3n, "readStream reports the stream's version, also with to");
        const from2 = await s.store.readStream(stream, { from: 2n });
        assert.deepEqual(from2.events.map((e) => e.metadata.streamPosition), [2n, 3n]);
        const page = await s.store.readStream(stream, { from: 2n, maxCount: 1n });
        assert.deepEqual(page.events.map((e) => e.metadata.streamPosition), [2n]);
        const pageState = await s.store.aggregateStream(stream, { evolve, initialState, read: { maxCount: 2n } });
        assert.equal(pageState.currentStreamVersion, 2n);
      },
    );

    run("streamExists tells streams with events from others", async (s) => {
      const a = s.unique("exists");
      const b = s.unique("exists");
      assert.equal(await s.store.streamExists(a), false);
      await s.store.appendToStream(a, [{ type: "ProductItemAdded", data: { productItem: book } }]);
      assert.equal(await s.store.streamExists(a), true);
      assert.equal(await s.store.streamExists(b), false);
    });

    run("runs a decider through Emmett's CommandHandler", async (s) => {
      const handle = CommandHandler<Cart, CartEvent>({ evolve, initialState });
      const cart = s.unique("cart");
      const first = await handle(s.store, cart, addItem(book), { expectedStreamVersion: STREAM_DOES_NOT_EXIST });
      assert.equal(first.nextExpectedStreamVersion, 1n);
      assert.equal(first.createdNewStream, true);
      const second = await handle(s.store, cart, [addItem(book), confirm]);
      assert.equal(second.nextExpectedStreamVersion, 3n);
      assert.deepEqual(second.newState, { status: "confirmed", items: [book, book], total: 60 });
      assert.deepEqual(second.newEvents.map((e) => e.type), ["ProductItemAdded", "ShoppingCartConfirmed"]);
      await assert.rejects(handle(s.store, cart, addItem(book)), /Cannot add to a confirmed cart/);
      // A stale expected version fails fast, before the decision.
      await assert.rejects(
        handle(s.store, cart, addItem(book), { expectedStreamVersion: 1n }),
        (e) => e instanceof ExpectedVersionConflictError && e.current === "3" && e.expected === "1",
      );
      const { state, currentStreamVersion } = await s.store.aggregateStream(cart, { evolve, initialState });
      assert.equal(currentStreamVersion, 3n);
      assert.equal(state.status, "confirmed");
    });

    run("concurrent handlers on one stream all succeed by retrying on conflict; versions stay dense", async (s) => {
      const handle = CommandHandler<Cart, CartEvent>({
        evolve,
        initialState,
        retry: { onVersionConflict: { retries: 100, minTimeout: 1, maxTimeout: 20, factor: 1.5, randomize: true } },
      });
      const cart = s.unique("contended");
      const writers = 10;
      let conflicts = 0;
      const counting: EventStore<ReadEventMetadataWithGlobalPosition> = {
        ...s.store,
        appendToStream: (...args: Parameters<typeof s.store.appendToStream>) =>
          s.store.appendToStream(...args).catch((e) => {
            if (e instanceof ExpectedVersionConflictError) conflicts++;
            throw e;
          }),
      } as EventStore<ReadEventMetadataWithGlobalPosition>;
      const results = await Promise.all(
        Array.from({ length: writers }, (_, i) => handle(counting, cart, addItem({ ...book, productId: `p${i}` }))),
      );
      const versions = results.map((r) => r.nextExpectedStreamVersion).sort((a, b) => Number(a - b));
      assert.deepEqual(versions, Array.from({ length: writers }, (_, i) => BigInt(i + 1)));
      const { events, currentStreamVersion } = await s.store.readStream<CartEvent>(cart);
      assert.equal(currentStreamVersion, BigInt(writers));
      assert.deepEqual(events.map((e) => e.metadata.streamPosition), versions);
      assert.equal(new Set(events.map((e) => (e as ProductItemAdded).data.productItem.productId)).size, writers);
      assert.ok(conflicts > 0, "the writers really raced (at least one conflict was retried)");
    });

    run("refuses an empty append and versions that are not bigints", async (s) => {
      await assert.rejects(s.store.appendToStream(s.unique("empty"), []), TypeError);
      await assert.rejects(
        s.store.appendToStream(s.unique("bad"), [{ type: "X", data: {} }], {
          expectedStreamVersion: 1 as unknown as bigint,
        }),
        TypeError,
      );
      await assert.rejects(s.store.readStream(s.unique("bad"), { from: -1n }), RangeError);
    });
  });
}
