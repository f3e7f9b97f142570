/**
 * Environment variables on Deno (needs --allow-env) and Node.
 *
 * @module
 */
import process from "node:process";

/** A snapshot of the environment variables as a plain object. */
export function env(): Record<string, string | undefined> {
  return { ...process.env };
}
