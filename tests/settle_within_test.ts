import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { settleWithin } from "../lib/settle_within.ts";

describe("settleWithin", () => {
  it("settles like the promise when it settles in time", async () => {
    assert.equal(await settleWithin(Promise.resolve("confirmed"), 1000, () => "late"), "confirmed");
    await assert.rejects(settleWithin(Promise.reject(new Error("nacked")), 1000, () => "late"), /nacked/);
  });

  it("settles with the fallback's value, or its error, when the promise never settles", async () => {
    const never = new Promise<string>(() => {});
    assert.equal(await settleWithin(never, 20, () => "timed out"), "timed out");
    await assert.rejects(
      settleWithin(never, 20, () => {
        throw new Error("not confirmed within 20 ms");
      }),
      /not confirmed within 20 ms/,
    );
  });

  it("ignores a rejection that comes after the timeout", async () => {
    let reject!: (error: Error) => void;
    const late = new Promise<string>((_, r) => (reject = r));
    assert.equal(await settleWithin(late, 20, () => "moved on"), "moved on");
    reject(new Error("too late")); // would end the process as an unhandled rejection if not ignored
    await new Promise((resolve) => setTimeout(resolve, 20));
  });
});
