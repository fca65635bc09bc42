// `raft-signer chaos`: a fresh local cluster of real raft-signer processes, validator-node
// stand-ins driving heights, a seeded nemesis injecting faults, and a checker judging what the
// stand-ins received (src/chaos/). Exit status 0 when nothing was double-signed and every
// signature verified, 1 on any safety violation (or when the run itself failed), 2 for a command
// line that does not parse, 130 for a clean run interrupted early. Liveness figures are
// reported, never turned into an exit status: how many heights a cluster signs under faults
// depends on the machine.

import { Command, InvalidArgumentError, Option } from 'commander';
import { randomInt } from 'node:crypto';
import path from 'node:path';
import { formatSummary } from '../chaos/chaos_report';
import { runChaos } from '../chaos/chaos_run';
import { BEYOND_BUDGET_FAULT_KINDS, FAULT_DESCRIPTIONS, FAULT_KINDS, FaultKind, parseFaultKinds } from '../chaos/nemesis_schedule';
import { EXIT_FAILURE } from './cli_errors';

/** A run stopped early by SIGINT/SIGTERM (128 + SIGINT, as shells report it). */
const EXIT_INTERRUPTED = 130;

interface ChaosCommandOptions {
  nodes: number;
  chains: number;
  duration: number;
  blockTime: number;
  seed?: number;
  faults: FaultKind[];
  out?: string;
  json?: boolean;
  keepFiles?: boolean;
}

/** "90s", "10m", "1m30s", "500ms", "1h"; a bare number is seconds. Returns milliseconds. */
export function parseDuration(value: string): number {
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    total += Number(m[1]) * (unit[m[2] as string] as number);
    matched = re.lastIndex;
  }
  if (matched === 0 || matched !== text.length) throw new InvalidArgumentError('must be a duration such as 60s, 10m, 1m30s or 500ms');
  return Math.round(total);
}

function parseNodes(value: string): number {
  if (value !== '3' && value !== '5') throw new InvalidArgumentError('must be 3 or 5');
  return Number(value);
}

function parseChains(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 16) throw new InvalidArgumentError('must be a whole number from 1 to 16');
  return Number(value);
}

function parseSeed(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 0xffffffff) throw new InvalidArgumentError('must be a whole number from 0 to 4294967295');
  return Number(value);
}

function parseFaults(value: string): FaultKind[] {
  try {
    return parseFaultKinds(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

function durationOption(min: number, what: string): (value: string) => number {
  return (value) => {
    const ms = parseDuration(value);
    if (ms < min) throw new InvalidArgumentError(`${what} must be at least ${min} ms`);
    return ms;
  };
}

export function registerChaosCommand(program: Command): void {
  program
    .command('chaos')
    .description('run a local cluster under seeded faults and check that nothing was double-signed and how much was signed')
    .addOption(new Option('--nodes <n>', 'cluster size: 3 or 5').argParser(parseNodes).default(3))
    .addOption(new Option('--chains <k>', 'chains signed for, each with its own key and one validator stand-in per node').argParser(parseChains).default(1))
    .addOption(new Option('--duration <time>', 'how long to drive heights (90s, 10m, 1m30s)').argParser(durationOption(5000, '--duration')).default(60_000, '60s'))
    .addOption(new Option('--block-time <time>', 'pause between heights').argParser(durationOption(10, '--block-time')).default(1000, '1s'))
    .addOption(new Option('--seed <n>', 'seed of the fault schedule and the stand-ins; the same seed replays the same schedule (default: random, printed)').argParser(parseSeed))
    .addOption(new Option('--faults <list>', 'comma-separated fault kinds (below), "all" or "none"').argParser(parseFaults).default([...FAULT_KINDS], 'all'))
    .option('--out <dir>', 'where to write timeline.svg, results.json and logs/ (default: ./chaos-seed-<seed>)')
    .option('--json', 'print the results as one JSON object instead of the summary')
    .option('--keep-files', "keep the cluster's temporary directory (for debugging)")
    .addHelpText(
      'after',
      '\nFaults:\n' +
        FAULT_KINDS.map((k) => `  ${k.padEnd(16)} ${FAULT_DESCRIPTIONS[k]}`).join('\n') +
        '\n\nBeyond the failure budget (only when named in --faults; the cluster may stop signing, never double-sign):\n' +
        BEYOND_BUDGET_FAULT_KINDS.map((k) => `  ${k.padEnd(16)} ${FAULT_DESCRIPTIONS[k]}`).join('\n') +
        '\n\nExit status: 0 no safety violation, 1 a double sign or a signature that does not verify (or the run failed), 130 interrupted.\n',
    )
    .action(async (opts: ChaosCommandOptions) => {
      const seed = opts.seed ?? randomInt(0, 2 ** 31);
      const outDir = path.resolve(opts.out ?? `chaos-seed-${seed}`);
      const controller = new AbortController();
      let interrupts = 0;
      // First Ctrl-C: stop early, heal, check what was recorded and report. Second: leave now
      // (runChaos's exit handler SIGKILLs the node processes on the way out).
      const onSignal = (signal: NodeJS.Signals): void => {
        interrupts++;
        if (interrupts === 1) {
          process.stderr.write(`\n${signal}: stopping the run early (again to quit at once)\n`);
          controller.abort();
        } else process.exit(130);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        if (!opts.json) process.stderr.write(`chaos seed ${seed}; results in ${outDir}\n`);
        const report = await runChaos({
          nodes: opts.nodes,
          chains: opts.chains,
          durationMs: opts.duration,
          blockTimeMs: opts.blockTime,
          seed,
          faults: opts.faults,
          outDir,
          onEvent: opts.json ? undefined : (line) => process.stderr.write(`${line}\n`),
          signal: controller.signal,
          keepFiles: opts.keepFiles === true,
        });
        process.stdout.write(opts.json ? JSON.stringify(report) + '\n' : formatSummary(report));
        if (!report.safety.ok) process.exitCode = EXIT_FAILURE;
        // Interrupted but clean: still not a finished run.
        else if (report.aborted) process.exitCode = EXIT_INTERRUPTED;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
