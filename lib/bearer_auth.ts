/**
 * Optional bearer-token auth for the server's HTTP side (`HTTPTOKEN`).
 *
 * A request is let through when its `Authorization: Bearer <token>` holds
 * the token. The comparison takes the same time whatever the token sent:
 * both sides are hashed with SHA-256 first (so their lengths are equal and
 * not revealed) and compared with `node:crypto`'s `timingSafeEqual`. The
 * token is never put in a response, a log line or an error.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Build the check for one token.
 *
 * @param token The token clients must send.
 * @returns A function that answers `undefined` for a request that carries the token, and the `401`
 *   to send (with `WWW-Authenticate: Bearer`) for one that does not.
 * @example Guard a handler
 * ```ts
 * import { bearerAuth } from "./bearer_auth.ts";
 * const refuse = bearerAuth("s3cret-token");
 * const denied = refuse(new Request("http://x/"));
 * console.log(denied?.status, denied?.headers.get("www-authenticate")); // 401 Bearer realm="rabbit-eventstore"
 * console.log(refuse(new Request("http://x/", { headers: { authorization: "Bearer s3cret-token" } }))); // undefined
 * ```
 */
export function bearerAuth(token: string): (request: Request) => Response | undefined {
  const expected = digest(token);
  return (request) => {
    const header = request.headers.get("authorization");
    if (header === null) {
      return unauthorized(
        `Bearer realm="${REALM}"`,
        "Cannot serve this request: it needs the server's bearer token (HTTPTOKEN; listeners and commands send HISTORYTOKEN)",
      );
    }
    const match = /^Bearer +(\S+) *$/i.exec(header);
    if (match && timingSafeEqual(digest(match[1]), expected)) return undefined;
    return unauthorized(
      `Bearer realm="${REALM}", error="invalid_token"`,
      match
        ? "Cannot serve this request: its bearer token is not the server's (HTTPTOKEN)"
        : "Cannot serve this request: its Authorization header is not Bearer <token>",
    );
  };
}

const REALM = "rabbit-eventstore";

function digest(text: string): Uint8Array {
  return createHash("sha256").update(text).digest();
}

function unauthorized(challenge: string, message: string): Response {
  return new Response(message + "\n", {
    status: 401,
    headers: {
      "www-authenticate": challenge,
      "content-type": "text/plain; charset=utf-8",
      "cache-control": "no-store",
    },
  });
}
