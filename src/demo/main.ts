#!/usr/bin/env node
// `npm run demo`: a local 3-node raft-signer cluster of real processes serving three validator-node
// stand-ins that produce blocks, with a live view, and keys to kill and restart nodes while it
// signs. Without a terminal (a pipe, CI, a test), or with --duration, it prints events and status
// lines instead and reads the same keys as lines; --script runs keys at given times.
//
// However it ends (q, Ctrl-C, SIGTERM, the duration, an error), it stops every process it started
// and removes its temporary directory before exiting: close() when there is time, killNow() from
// the 'exit' handler when there is not.

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { commandForKey, commandHelp, parseScript, ScriptStep } from './demo_commands';
import { DemoSession } from './demo_session';
import { renderEventLine, renderScreen, renderStatusLine, renderSummary } from './demo_view';
import { DemoTerminal, LineTerminal, LiveTerminal } from './terminal';

export interface DemoOptions {
  /** Seconds from the first block; null: until q or a signal. */
  durationS: number | null;
  script: ScriptStep[];
  blockMs: number;
  json: boolean;
}

const NODES = 3;
const CHAIN_ID = 'demo-chain';
/** Now and then one stand-in asks for something conflicting, to show that it is refused. */
const DISAGREEMENT_RATE = 0.05;
const REDRAW_MS = 500;
const STATUS_LINE_MS = 5000;
/** If stopping takes longer than this, kill what is left and exit anyway. */
const CLOSE_GUARD_MS = 20_000;
const EXIT_SIGNAL: Partial<Record<NodeJS.Signals, number>> = {
  // Ctrl-C is how a person ends the demo: a normal end, not a failure.
  SIGINT: 0,
  SIGTERM: 143,
  SIGHUP: 129,
};

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

function blockMs(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 10 || n > 60_000) throw new InvalidArgumentError('must be a whole number of milliseconds from 10 to 60000');
  return n;
}

/** Parses the demo's arguments (as process.argv); throws CommanderError on a bad command line. */
export function parseDemoOptions(argv: readonly string[]): DemoOptions {
  const program = new Command('npm run demo --')
    .description('a local 3-node raft-signer cluster signing blocks for three validator-node stand-ins, live')
    .addOption(new Option('--duration <seconds>', 'run without the live view for this long (from the first block), print a summary, exit').argParser(positiveNumber))
    .addOption(
      new Option('--script <steps>', 'keys to press at given seconds from the first block, e.g. "5:k,9:2,12:2" (k, t, q, 1-3)').argParser((v) =>
        parseScriptOption(v),
      ),
    )
    .addOption(new Option('--block-ms <ms>', 'pause between heights').default(500).argParser(blockMs))
    .option('--json', 'print the summary as one JSON object on the last line')
    .exitOverride()
    .parse([...argv]);
  const opts = program.opts<{ duration?: number; script?: ScriptStep[]; blockMs: number; json?: boolean }>();
  return { durationS: opts.duration ?? null, script: opts.script ?? [], blockMs: opts.blockMs, json: opts.json === true };
}

function parseScriptOption(value: string): ScriptStep[] {
  try {
    return parseScript(value, NODES);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

async function main(): Promise<void> {
  let options: DemoOptions;
  try {
    options = parseDemoOptions(process.argv);
  } catch (e) {
    // Commander printed the message (or the help).
    process.exitCode = e instanceof CommanderError && e.exitCode === 0 ? 0 : 2;
    return;
  }
  const live = options.durationS === null && process.stdin.isTTY === true && process.stdout.isTTY === true;
  const liveTerminal = live ? new LiveTerminal() : null;
  const terminal: DemoTerminal = liveTerminal ?? new LineTerminal();
  const say = (line: string): void => {
    process.stdout.write(line + '\n');
  };
  const timers: NodeJS.Timeout[] = [];
  // Set once the handlers below are in place, so that no signal can come between making the
  // temporary directory and being ready to remove it.
  let session: DemoSession | null = null;

  // Synchronous last resort, whatever path leads to exit.
  process.on('exit', () => {
    terminal.restore();
    session?.killNow();
  });

  let finishing = false;
  const finish = async (code: number, why?: string): Promise<void> => {
    if (finishing) return;
    finishing = true;
    for (const t of timers) clearTimeout(t);
    terminal.restore();
    if (why) process.stderr.write(`${why}\n`);
    const guard = setTimeout(() => {
      process.stderr.write(`stopping took over ${CLOSE_GUARD_MS / 1000} s: killing what is left\n`);
      process.exit(1);
    }, CLOSE_GUARD_MS);
    let exitCode = code;
    if (session === null) process.exit(exitCode);
    try {
      await session.close();
    } catch (e) {
      process.stderr.write(`error while stopping: ${(e as Error).message}\n`);
      exitCode = 1;
    }
    clearTimeout(guard);
    const summary = session.summary();
    if (summary.ranMs > 0) process.stdout.write(options.json ? JSON.stringify(summary) + '\n' : renderSummary(summary));
    if (summary.conflicts > 0 || summary.verificationFailures > 0 || summary.protocolErrors > 0) {
      process.stderr.write('SAFETY PROBLEM: a validator node received a conflicting, invalid or malformed signature; please report this\n');
      exitCode = 1;
    }
    process.exit(exitCode);
  };

  for (const [signal, code] of Object.entries(EXIT_SIGNAL) as [NodeJS.Signals, number][]) {
    process.on(signal, () => {
      // A second signal while stopping: no more waiting (the 'exit' handler kills and removes).
      if (finishing) process.exit(code === 0 ? 130 : code);
      void finish(code, live ? undefined : `${signal}: stopping`);
    });
  }
  const crash = (e: unknown): void => {
    const text = e instanceof Error ? (e.stack ?? e.message) : String(e);
    if (finishing) process.exit(1);
    void finish(1, `the demo failed: ${text}`);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);

  const running = new DemoSession({
    nodes: NODES,
    chainId: CHAIN_ID,
    blockTimeMs: options.blockMs,
    disagreementRate: DISAGREEMENT_RATE,
    seed: Date.now() % 2 ** 31,
    onEvent: live ? undefined : (e) => say(renderEventLine(e)),
    onProgress: (line) => say(line),
  });
  session = running;
  try {
    await running.setup();
  } catch (e) {
    await finish(1, `the demo could not start: ${(e as Error).message}`);
    return;
  }
  if (finishing) return;

  const help = commandHelp(running.nodeIds);
  const onKey = (key: string): void => {
    if (key === 'h' || key === '?' || key === 'help') {
      if (!live) for (const line of help) say(`  ${line}`);
      return;
    }
    const command = commandForKey(key, running.nodeIds.length);
    if (command === null) {
      if (!live) say(`unknown command "${key}": type one of k, t, q, 1-${running.nodeIds.length} (h for help)`);
      return;
    }
    if (command.kind === 'quit') void finish(0);
    else void running.run(command);
  };

  if (liveTerminal) {
    const draw = (): void => {
      const events = Math.max(3, Math.min(10, liveTerminal.height - 26));
      liveTerminal.draw(
        renderScreen(running.snapshot(), {
          width: liveTerminal.width,
          color: !process.env.NO_COLOR,
          events,
          statusCommand: running.statusCommand(),
        }),
      );
    };
    terminal.listen(onKey);
    draw();
    timers.push(setInterval(draw, REDRAW_MS));
    process.stdout.on('resize', draw);
  } else {
    say('cluster running. Commands (type one and press Enter):');
    for (const line of help) say(`  ${line}`);
    say('Or, from another shell:');
    say(`  ${running.statusCommand()}`);
    for (const n of running.snapshot().nodes) say(`  kill -KILL ${n.pid ?? '<pid>'}   # ${n.id} (the demo reports it; press its key to start it again)`);
    if (options.durationS !== null) say(`running for ${options.durationS} s, then stopping`);
    terminal.listen(onKey);
    timers.push(setInterval(() => say(renderStatusLine(running.snapshot())), STATUS_LINE_MS));
  }
  for (const step of options.script) {
    timers.push(
      setTimeout(() => {
        if (!live) say(`script: ${step.key} at ${step.atMs / 1000} s`);
        onKey(step.key);
      }, step.atMs),
    );
  }
  if (options.durationS !== null) timers.push(setTimeout(() => void finish(0), options.durationS * 1000));
}

if (require.main === module) void main();
