#!/usr/bin/env node
// `raft-signer`: the command-line program. Each subcommand lives in its own file and adds itself
// with a `registerXCommand(program)`; this file only builds the program and turns failures into
// exit codes: 0 done, 1 refused or failed (one "error: ..." line, no stack trace for anything
// the message explains), 2 a command line that does not parse.

import { Command, CommanderError } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { registerChaosCommand } from './chaos_command';
import { EXIT_FAILURE, EXIT_USAGE, expectedErrorMessage } from './cli_errors';
import { registerClusterCommand } from './cluster_command';
import { registerKeysCommand } from './keys_command';
import { registerStartCommand } from './start_command';
import { registerStateCommand } from './state_command';
import { registerStatusCommand } from './status_command';
import { registerTestnetCommand } from './testnet_command';

/**
 * The version in package.json. Read at run time from two directories up, which is the package
 * root both from src/cli (ts-jest, ts-node) and from dist/cli (after tsc); importing the JSON would
 * pull a file outside rootDir into the build.
 */
export function packageVersion(): string {
  const file = path.join(__dirname, '..', '..', 'package.json');
  const parsed: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
  const version = typeof parsed === 'object' && parsed !== null ? (parsed as { version?: unknown }).version : undefined;
  if (typeof version !== 'string') throw new Error(`${file} has no version string`);
  return version;
}

/** The program with every subcommand registered. */
export function buildProgram(): Command {
  const program = new Command('raft-signer')
    .description('Highly available remote signer for CometBFT validators, replicated with Raft')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    // Throw instead of exiting, so that runCli decides the exit code; subcommands registered
    // below inherit this setting.
    .exitOverride();
  registerTestnetCommand(program);
  registerStartCommand(program);
  registerStatusCommand(program);
  registerKeysCommand(program);
  registerStateCommand(program);
  registerClusterCommand(program);
  registerChaosCommand(program);
  return program;
}

/** Runs the program on `argv` (as process.argv: node, script, args...); resolves to the exit code. */
export async function runCli(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has already printed its message (or the help, or the version).
      if (err.exitCode === 0) return 0;
      return EXIT_USAGE;
    }
    const message = expectedErrorMessage(err);
    if (message !== null) {
      process.stderr.write(`error: ${message}\n`);
    } else {
      // Not a failure any message foresaw: a bug, and the stack is what a report needs.
      process.stderr.write(`error (unexpected, please report): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    return EXIT_FAILURE;
  }
}

if (require.main === module) {
  // exitCode rather than exit(): let stdout and stderr drain before the process ends.
  void runCli(process.argv).then((code) => {
    // A command may have set a non-zero exit code itself (status without a majority).
    if (code !== 0 || process.exitCode === undefined) process.exitCode = code;
    // A command that failed may leave connections or timers behind (a node refused at start had
    // begun dialling its peers): once the message is out, nothing is left to wait for.
    if (code !== 0) process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
  });
}
