/**
 * Environment variables on Deno (needs --allow-env) and Node.
 *
 * @module
 */
import process from "node:process";

/**
 * A snapshot of the environment variables as a plain object.
 *
 * @example Read one setting
 * ```ts
 * import { env } from "./env.ts";
 * console.log(env().STORAGEFILE ?? "./storage");
 * ```
 */
export function env(): Record<string, string | undefined> {
  return { ...process.env };
}
