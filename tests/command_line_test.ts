/**
 * lib/cli/command_line.ts: every command's arguments are read by one helper, which names what is wrong
 * in a UsageError (exit code 2), and writes each command's --help with the exit codes.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { commandHelp, type CommandSpec, integerOption, parseCommandLine } from "../lib/cli/command_line.ts";
import { UsageError } from "../lib/errors.ts";

const spec: CommandSpec = {
  name: "tail",
  synopsis: "tail [--from N] [--follow]",
  summary: "print records",
  description: ["Prints records."],
  options: {
    from: { type: "string", value: "N", description: "start at N" },
    follow: { type: "boolean", short: "f", description: "keep going" },
  },
  environment: ["HISTORYURL  the server"],
};

describe("parseCommandLine", () => {
  it("reads flags, values and --help", () => {
    assert.deepEqual(parseCommandLine(spec, ["--from", "5", "-f"]).values, { from: "5", follow: true });
    assert.deepEqual(parseCommandLine(spec, ["--from=7"]).values, { from: "7" });
    assert.equal(parseCommandLine(spec, ["--from", "5", "--help"]).help, true);
  });

  it("refuses an unknown option, a flag with a value, a value missing, an extra argument", () => {
    const refused = (args: string[], message: RegExp) =>
      assert.throws(() => parseCommandLine(spec, args), (error: Error) => {
        assert.ok(error instanceof UsageError);
        assert.match(error.message, message);
        return true;
      });
    refused(["--nope"], /^unknown option "--nope" for tail; run rabbit-eventstore tail --help for the usage$/);
    refused(["--follow=yes"], /^option --follow takes no value, got "yes"$/);
    refused(["--from"], /^option --from needs a value \(N\)/);
    refused(["extra"], /^unexpected argument "extra" for tail/);
    assert.throws(() => parseCommandLine({ ...spec, positionals: ["FILE"] }, []), /^UsageError: tail needs FILE/);
  });

  it("integerOption takes a non-negative integer only", () => {
    assert.equal(integerOption(parseCommandLine(spec, ["--from", "12"]), "from", 1), 12);
    assert.equal(integerOption(parseCommandLine(spec, []), "from", 1), 1);
    for (const bad of ["-1", "1.5", "abc", "1e3"]) {
      assert.throws(
        () => integerOption(parseCommandLine(spec, [`--from=${bad}`]), "from", 1),
        new UsageError(`option --from expects a non-negative integer, got "${bad}"`),
      );
    }
  });

  it("commandHelp lists the usage, the options with --help, the environment and the exit codes", () => {
    const help = commandHelp(spec);
    assert.match(help, /^Usage: rabbit-eventstore tail \[--from N\] \[--follow\]\n\nPrints records\.\n/);
    assert.match(
      help,
      /\n {6}--from N {2}start at N\n {2}-f, --follow {2}keep going\n {2}-h, --help {4}print this help/,
    );
    assert.match(help, /\nEnvironment variables:\n {2}HISTORYURL {2}the server\n/);
    assert.match(help, /\nExit codes:\n {2}0 {2}done\n {2}1 {2}failed.*\n {2}2 {2}usage error/);
  });
});
