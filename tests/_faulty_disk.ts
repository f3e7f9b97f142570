/**
 * Disk faults for tests: a FileLike opener that uses real files and fails on
 * cue (the `open` seam of FileStorage, the `openFile` option of startServer),
 * and a small real disk (tmpfs) for a genuine ENOSPC.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { open as fsOpen } from "node:fs/promises";
import type { FileLike } from "../lib/file_storage.ts";

/** An injected disk error, shaped as Node reports one. */
export function ioError(code: "EIO" | "ENOSPC", syscall: string): Error {
  const text = code === "EIO" ? "i/o error" : "no space left on device";
  return Object.assign(new Error(`${code}: ${text}, ${syscall}`), { code, syscall });
}

/**
 * Opens real files through the FileLike seam and fails on cue. Counts the
 * calls on the append handle (the one opened "r+"); other handles are plain.
 */
export class FaultyDisk {
  /** write() calls on the append handle so far. */
  writes = 0;
  /** datasync() calls on the append handle so far. */
  datasyncs = 0;
  /** truncate() calls on the append handle so far. */
  truncates = 0;
  /**
   * Called before each write (n counts from 1); may return an error, thrown
   * after writing the first `writeFirst(length)` bytes of the requested
   * `length` for real (a write torn by the fault).
   */
  onWrite: (n: number) => { error: Error; writeFirst?: (length: number) => number } | undefined = () => undefined;
  /** Called before each datasync (n counts from 1); may return an error. */
  onDatasync: (n: number) => Error | undefined = () => undefined;
  /** Write at most this many bytes per call (short writes). */
  maxWrite = Infinity;
  /** Make truncate fail with EIO, as on a dead disk. */
  truncateFails = false;

  /** The opener to pass as `open` / `openFile`. */
  open = async (path: string, flags: string): Promise<FileLike> => {
    const handle = await fsOpen(path, flags);
    if (flags !== "r+") return handle as unknown as FileLike;
    return {
      read: (b, o, l, p) => handle.read(b, o, l, p),
      write: async (b, o, l, p) => {
        const fault = this.onWrite(++this.writes);
        if (fault) {
          const first = Math.max(0, Math.min(l, fault.writeFirst?.(l) ?? 0));
          if (first > 0) await handle.write(b, o, first, p);
          throw fault.error;
        }
        return await handle.write(b, o, Math.min(l, this.maxWrite), p);
      },
      datasync: async () => {
        const error = this.onDatasync(++this.datasyncs);
        if (error) throw error;
        await handle.datasync();
      },
      truncate: async (length) => {
        this.truncates++;
        if (this.truncateFails) throw ioError("EIO", "ftruncate");
        await handle.truncate(length);
      },
      stat: () => handle.stat(),
      close: () => handle.close(),
    };
  };
}

/** Mount a tmpfs of `size` (e.g. "256k") at `dir`; returns why not when this machine does not allow it. */
export function mountTmpfs(dir: string, size: string): string | undefined {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stdio: "pipe" });
    return undefined;
  } catch (error) {
    const stderr = (error as { stderr?: Uint8Array }).stderr;
    return (stderr ? new TextDecoder().decode(stderr).trim() : "") || String((error as Error).message);
  }
}

/** Grow a mounted tmpfs to `size`. */
export function resizeTmpfs(dir: string, size: string): void {
  execFileSync("mount", ["-o", `remount,size=${size}`, dir], { stdio: "pipe" });
}

/** Unmount a tmpfs mounted with {@link mountTmpfs}. */
export function unmount(dir: string): void {
  try {
    execFileSync("umount", [dir], { stdio: "pipe" });
  } catch {
    execFileSync("umount", ["--lazy", dir], { stdio: "pipe" }); // still busy: detach now, freed when the last file closes
  }
}

/**
 * Make `file` read-only for real (root ignores mode bits): a read-only bind mount of the file over
 * itself; descriptors already open stay writable, the path is not (`EROFS`). Undo with {@link unmount}.
 * Returns why not when this machine does not allow it.
 */
export function bindReadOnly(file: string): string | undefined {
  try {
    execFileSync("mount", ["--bind", file, file], { stdio: "pipe" });
  } catch (error) {
    return String((error as Error).message);
  }
  try {
    execFileSync("mount", ["-o", "remount,ro,bind", file], { stdio: "pipe" });
    return undefined;
  } catch (error) {
    unmount(file);
    return String((error as Error).message);
  }
}
