/**
 * Which runtime runs us, and whether a file is the program Deno was started
 * with: the one place outside the other seams that asks `Deno` directly.
 * (On Node the entry points are the npm bin and `require`/`import`, which call
 * `main()` themselves.)
 *
 * @module
 */

// deno-lint-ignore no-explicit-any
const deno = (globalThis as any).Deno;

/**
 * True on Deno, false on Node.
 *
 * @example Choose a runtime's fast path
 * ```ts
 * import { IS_DENO } from "./main_module.ts";
 * const decode = IS_DENO ? "TextDecoder" : "Buffer#toString";
 * console.log(decode);
 * ```
 */
export const IS_DENO: boolean = typeof deno?.version?.deno === "string";

/**
 * Whether Deno was started with the file named `fileName` (`deno run server.ts`):
 * a module's "am I the program?" test that also compiles to CommonJS (no `import.meta.main`).
 *
 * @param fileName The entry file's name, e.g. `"server.ts"`.
 * @example Run main() only when started as the program
 * ```ts
 * import { isDenoMainModule } from "./main_module.ts";
 * if (isDenoMainModule("tool.ts")) console.log("started as the program");
 * ```
 */
export function isDenoMainModule(fileName: string): boolean {
  const main = deno?.mainModule;
  return typeof main === "string" && main.endsWith(`/${fileName}`);
}
