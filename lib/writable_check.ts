/**
 * Whether a file can take an append now, cheaply enough for every readiness
 * probe: opening the file for writing (a read-only mount, an immutable file,
 * a mode that forbids it; not `access(W_OK)`, which Deno answers from the
 * mode bits alone) and `statfs` on its file system (no block left),
 * each answer kept for a second, so that a probe rate does not become a
 * syscall rate. It is a hint for readiness, not a promise: a write can still
 * fail, and the append reports that.
 *
 * @module
 */
import { open, statfs } from "node:fs/promises";
import { dirname } from "node:path";
import { DEFAULTS } from "./defaults.ts";
import { describe } from "./errors.ts";

/**
 * A cached writability check of one file.
 *
 * @example Ask whether a file could be appended to
 * ```ts
 * import { WritableCheck } from "./writable_check.ts";
 * const check = new WritableCheck("/tmp");
 * console.log(await check.reason()); // undefined: writable
 * ```
 */
export class WritableCheck {
  readonly #path: string;
  readonly #ttl: number;
  #at = -Infinity;
  #last: Promise<string | undefined> = Promise.resolve(undefined);

  /**
   * A check of `path`, answered afresh at most once per `ttl`.
   *
   * @param path The file to check.
   * @param ttl How long an answer is reused, in ms. @default {DEFAULTS.http.writableCheckTtl}
   */
  constructor(path: string, ttl: number = DEFAULTS.http.writableCheckTtl) {
    this.#path = path;
    this.#ttl = ttl;
  }

  /** Why the file cannot take an append now (read-only, disk full), or undefined when it can. */
  reason(): Promise<string | undefined> {
    const now = Date.now();
    if (now - this.#at >= this.#ttl) {
      this.#at = now;
      this.#last = this.#check();
    }
    return this.#last;
  }

  async #check(): Promise<string | undefined> {
    try {
      // Opened for writing (neither created nor truncated), not access(W_OK): Deno's judges by mode bits.
      await (await open(this.#path, "r+")).close();
    } catch (error) {
      return `storage file ${this.#path} is not writable: ${describe(error)}`;
    }
    try {
      const disk = await statfs(dirname(this.#path));
      if (disk.bavail === 0) return `no space left on the disk of storage file ${this.#path}`;
    } catch {
      // No statfs here: the append reports a full disk when it meets one.
    }
    return undefined;
  }
}
