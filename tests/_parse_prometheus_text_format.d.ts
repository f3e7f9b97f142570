/**
 * Types for `parse-prometheus-text-format` (it ships none), for the npm build's type-check of the tests.
 *
 * @module
 */
declare module "parse-prometheus-text-format" {
  /** Parse a Prometheus text exposition into metric families. */
  export default function parse(text: string): unknown[];
}
