/**
 * An exclusive, non-blocking `flock(2)` on a file for the life of the
 * process: the store's single-writer lock. The kernel drops it when the
 * process dies (SIGKILL included), so a crashed server never leaves a stale
 * lock behind.
 *
 * Both runtimes take the same kind of lock, so a Deno server and a Node
 * server on one file exclude each other (and `flock -n FILE true` from
 * util-linux sees it too):
 * - Deno: `Deno.FsFile.tryLock(true)`, which is `flock(LOCK_EX | LOCK_NB)`.
 * - Node has no `flock`; `koffi` (a maintained FFI package with prebuilt
 *   binaries, no compiler needed at install) calls libc's `flock` on an fd
 *   of our own. Not `fs-native-extensions`: it takes OFD `fcntl` locks on
 *   Linux, which do not conflict with Deno's `flock`.
 *
 * The holder's pid, for the message, comes from `/proc/locks` on Linux.
 *
 * @module
 */
import { open, readFile, stat } from "node:fs/promises";
import process from "node:process";
import { StoreLockedError } from "../errors.ts";

/**
 * A held lock; {@link FileLock.release} or the process's death frees it.
 *
 * @example Release it once
 * ```ts
 * import { type FileLock, lockFile } from "./file_lock.ts";
 * const lock: FileLock = await lockFile("./storage");
 * await lock.release();
 * ```
 */
export interface FileLock {
  /** Free the lock (closes the descriptor that holds it). */
  release(): Promise<void>;
}

// deno-lint-ignore no-explicit-any
const Deno = (globalThis as any).Deno;

/**
 * Take an exclusive lock on `path` (which must exist) without waiting.
 *
 * @throws {StoreLockedError} When another open file description (another
 *   process, or another store in this one) holds it; carries the holder's pid
 *   where the OS tells it.
 * @param path The file to lock; it must exist.
 * @returns The held lock.
 * @example Hold a store's lock while the store is open
 * ```ts
 * import { lockFile } from "./file_lock.ts";
 * const lock = await lockFile("./storage");
 * // … append to ./storage …
 * await lock.release();
 * ```
 */
export async function lockFile(path: string): Promise<FileLock> {
  const lock = Deno?.FsFile ? await lockDeno(path) : await lockNode(path);
  if (lock) return lock;
  throw new StoreLockedError(path, await lockHolder(path));
}

async function lockDeno(path: string): Promise<FileLock | undefined> {
  const file = await Deno.open(path, { read: true, write: true });
  let locked = false;
  try {
    locked = await file.tryLock(true);
  } finally {
    if (!locked) file.close();
  }
  if (!locked) return undefined;
  let released = false;
  return {
    release: () => {
      if (!released) {
        released = true;
        file.close(); // closing the descriptor drops the flock
      }
      return Promise.resolve();
    },
  };
}

const LOCK_EX = 2;
const LOCK_NB = 4;
type Flock = (fd: number, operation: number) => number;
let nodeFlock: Promise<Flock> | undefined;

function loadFlock(): Promise<Flock> {
  nodeFlock ??= (async () => {
    const koffi = (await import("koffi")).default;
    const libc = koffi.load(process.platform === "darwin" ? "libc.dylib" : "libc.so.6");
    return libc.func("int flock(int, int)") as Flock;
  })();
  return nodeFlock;
}

async function lockNode(path: string): Promise<FileLock | undefined> {
  const flock = await loadFlock();
  const handle = await open(path, "r+");
  if (flock(handle.fd, LOCK_EX | LOCK_NB) !== 0) {
    await handle.close();
    return undefined;
  }
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      await handle.close();
    },
  };
}

/** The pid holding a flock on `path`, from /proc/locks (Linux); undefined elsewhere or when unknown. */
async function lockHolder(path: string): Promise<number | undefined> {
  try {
    const { ino } = await stat(path);
    const table = await readFile("/proc/locks", "utf8");
    for (const line of table.split("\n")) {
      // "1: FLOCK  ADVISORY  WRITE 5494 fe:00:2146529 0 EOF"
      const m = /^\d+:\s+FLOCK\s+\S+\s+WRITE\s+(\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)\s/.exec(line);
      if (m && Number(m[2]) === ino) return Number(m[1]);
    }
  } catch {
    // No /proc (macOS) or unreadable: the message goes without a pid.
  }
  return undefined;
}
