/**
 * Make a directory's entries durable: fsync the directory itself, so a
 * file created or renamed in it is still there under its name after a power
 * loss (an fsync of the file alone does not promise its name).
 *
 * @module
 */
import { open } from "node:fs/promises";

/**
 * Fsync the directory `dir` (on Deno and Node alike: both open a directory
 * read-only and sync it).
 *
 * @param dir The directory whose entries (a rename into it) must survive a crash.
 * @example After renaming a file into place
 * ```ts
 * import { syncDirectory } from "./sync_directory.ts";
 * await syncDirectory("/tmp");
 * ```
 */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
