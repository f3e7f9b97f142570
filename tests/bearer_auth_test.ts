/**
 * Unit tests of the bearer-token check: what passes, what gets a 401 with
 * `WWW-Authenticate: Bearer`, and that the token is never echoed.
 *
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { bearerAuth } from "../lib/bearer_auth.ts";

const TOKEN = "tok-3f9a1c7e-ops";

function request(authorization?: string): Request {
  return new Request("http://x/", { headers: authorization === undefined ? {} : { authorization } });
}

describe("bearerAuth", () => {
  const refuse = bearerAuth(TOKEN);

  it("lets through a request with the token (scheme in any case)", () => {
    assert.equal(refuse(request(`Bearer ${TOKEN}`)), undefined);
    assert.equal(refuse(request(`bearer ${TOKEN}`)), undefined);
  });

  it("answers 401 with WWW-Authenticate: Bearer without the token", async () => {
    const cases: Array<[string | undefined, RegExp]> = [
      [undefined, /needs the server's bearer token/],
      [`Bearer ${TOKEN}x`, /not the server's/],
      [`Bearer ${TOKEN.slice(0, -1)}`, /not the server's/],
      ["Bearer ", /not Bearer <token>/],
      [`Basic ${btoa(`u:${TOKEN}`)}`, /not Bearer <token>/],
      [`Bearer ${TOKEN} extra`, /not Bearer <token>/],
      ["", /not Bearer <token>/],
    ];
    for (const [header, message] of cases) {
      const denied = refuse(request(header));
      assert.ok(denied, `refused: ${header}`);
      assert.equal(denied.status, 401);
      assert.match(denied.headers.get("www-authenticate") ?? "", /^Bearer realm="rabbit-eventstore"/);
      const text = await denied.text();
      assert.match(text, message);
      assert.ok(!text.includes(TOKEN) && !text.includes(TOKEN.slice(0, -1)), "the token is not echoed");
    }
  });
});
