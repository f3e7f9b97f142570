/**
 * The package version, printed by `rabbit-eventstore --version`. It must
 * equal `version` in deno.json (and package.json): the npm build refuses to
 * build otherwise, and tests/server_cli_test.ts checks it.
 *
 * @module
 */

/**
 * The package version.
 *
 * @example Print it
 * ```ts
 * import { VERSION } from "./version.ts";
 * console.log(`rabbit-eventstore ${VERSION}`);
 * ```
 */
export const VERSION = "0.1.0";
