// `npm run bench [-- --json] [--quick]`: the benchmark of issue 7. Builds local 3- and 5-node
// clusters with `testnet` (fsync on, default timeouts), real `raft-signer start` processes and
// validator-node stand-ins speaking privval over unix sockets, and measures sign latency,
// throughput across many chains, memory, graceful hand-over and leader kill, next to the floor
// measured in the same run. Progress goes to stderr; the report (tables, or one JSON object with
// --json) to stdout. --quick is a smoke run for CI (under a minute, no timing assertions).

import { Command } from 'commander';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BenchCluster, LATENCY_CHAIN } from './bench_cluster';
import { measureGracefulTransfer, measureLeaderKill } from './failover';
import { measureFloor } from './floor';
import { LatencyResult, measureLatency } from './latency';
import { BenchReport, checkTargets, ClusterReport, jsonReport, MachineInfo, textReport } from './report';
import { measureThroughput, ThroughputResult } from './throughput';

interface Plan {
  mode: 'full' | 'quick';
  nodes: number[];
  floor: { signSamples: number; fsyncSamples: number; rttSamples: number };
  latency: { samples: number; warmup: number; pauseMs: number; timeoutMs: number };
  throughputChains: number[];
  throughput: { stepMs: number; warmupMs: number; fractions: number[]; timeoutMs: number };
  gracefulTrials: number;
  killTrials: number;
}

const FULL: Plan = {
  mode: 'full',
  nodes: [3, 5],
  floor: { signSamples: 5000, fsyncSamples: 300, rttSamples: 2000 },
  latency: { samples: 5000, warmup: 300, pauseMs: 1, timeoutMs: 5000 },
  throughputChains: [10, 100],
  throughput: { stepMs: 4000, warmupMs: 1000, fractions: [0.25, 0.5, 0.75, 0.9], timeoutMs: 5000 },
  gracefulTrials: 10,
  killTrials: 20,
};

const QUICK: Plan = {
  mode: 'quick',
  nodes: [3],
  floor: { signSamples: 500, fsyncSamples: 50, rttSamples: 200 },
  latency: { samples: 200, warmup: 30, pauseMs: 1, timeoutMs: 5000 },
  throughputChains: [10],
  throughput: { stepMs: 1500, warmupMs: 300, fractions: [0.5], timeoutMs: 5000 },
  gracefulTrials: 1,
  killTrials: 2,
};

export interface BenchOptions {
  quick?: boolean;
  json?: boolean;
  /** Cluster sizes to run (default 3 and 5; --quick: 3). */
  nodes?: number[];
  /** Write each node's CPU profile (node --cpu-prof) into this directory. */
  profile?: string;
  /** Leave each cluster's files (logs, stores) in place. */
  keep?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
}

function machineInfo(): MachineInfo {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1].trim();
  } catch {
    // Not Linux: os.cpus() is what there is.
  }
  return { cores: os.availableParallelism(), cpuModel, node: process.versions.node, platform: `${os.platform()} ${os.release()}`, memoryGiB: os.totalmem() / 2 ** 30 };
}

async function benchCluster(nodes: number, plan: Plan, options: BenchOptions, log: (line: string) => void, floorOut: { done: boolean; run: (b: BenchCluster) => Promise<void> }): Promise<ClusterReport> {
  const maxChains = Math.max(...plan.throughputChains, nodes);
  const env: NodeJS.ProcessEnv = {};
  if (options.profile) {
    const dir = path.resolve(options.profile, `${nodes}-nodes`);
    fs.mkdirSync(dir, { recursive: true });
    // NODE_OPTIONS refuses --cpu-prof; a preloaded module records the same profile.
    env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --require ${path.join(__dirname, 'cpu_profile_preload.js')}`.trim();
    env.RAFT_SIGNER_CPU_PROF_DIR = dir;
  }
  log(`${nodes} nodes: creating a testnet with ${maxChains + 1} chains`);
  const bench = await BenchCluster.create({ nodes, throughputChains: maxChains, env });
  const report: ClusterReport = { nodes, latency: [], throughput: [], memory: [], graceful: null, leaderKill: null };
  try {
    if (!floorOut.done) await floorOut.run(bench);
    bench.startAll();
    const leader = await bench.waitSettled(60_000);
    log(`${nodes} nodes: leader ${leader}`);

    const lat = bench.sequence(LATENCY_CHAIN);
    const follower = bench.ids.find((id) => id !== leader) as string;
    for (const [id, role] of [
      [leader, 'leader'],
      [follower, 'follower'],
    ] as const) {
      const standin = bench.latencyStandins.get(id);
      if (!standin) throw new Error(`no stand-in on ${id}`);
      log(`${nodes} nodes: sign latency through the ${role} (${plan.latency.samples} requests)`);
      const result: LatencyResult = await measureLatency(standin, lat, { nodeId: id, role }, plan.latency);
      report.latency.push(result);
    }

    for (const chains of plan.throughputChains) {
      log(`${nodes} nodes: throughput across ${chains} chains`);
      const selected = bench.throughputStandins.slice(0, chains).map((t) => ({ standin: t.standin, sequence: bench.sequence(t.chainId) }));
      const result: ThroughputResult = await measureThroughput(selected, plan.throughput);
      log(`${nodes} nodes: ${chains} chains saturate at ${result.saturationPerSec.toFixed(0)} signatures/s`);
      report.throughput.push(result);
    }
    report.memory = bench.memory();

    log(`${nodes} nodes: graceful stop of the leader (${plan.gracefulTrials} trials)`);
    report.graceful = await measureGracefulTransfer(bench, plan.gracefulTrials, log);
    log(`${nodes} nodes: SIGKILL of the leader (${plan.killTrials} trials)`);
    report.leaderKill = await measureLeaderKill(bench, plan.killTrials, log);
  } catch (e) {
    log(`${nodes} nodes: failed: ${(e as Error).message}; node logs kept in ${bench.root}`);
    await bench.destroy({ keepFiles: true });
    throw e;
  }
  await bench.destroy({ graceful: options.profile !== undefined, keepFiles: options.keep });
  return report;
}

export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const plan = options.quick ? QUICK : FULL;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const started = Date.now();
  const clusters: ClusterReport[] = [];
  let floor: BenchReport['floor'] | undefined;
  const floorOut = {
    done: false,
    run: async (bench: BenchCluster): Promise<void> => {
      log('floor: Ed25519 sign, fsynced level put, gRPC round trip');
      // Measured on an idle machine, with the first cluster's certificates and on its disk.
      floor = await measureFloor({ tls: bench.tls(bench.ids[0]), nodeId: bench.ids[0], scratchDir: bench.root, ...plan.floor });
      floorOut.done = true;
    },
  };
  for (const nodes of options.nodes ?? plan.nodes) clusters.push(await benchCluster(nodes, plan, options, log, floorOut));
  if (!floor) throw new Error('no cluster was run, so no floor was measured');
  return {
    mode: plan.mode,
    startedAt: new Date(started).toISOString(),
    durationSec: (Date.now() - started) / 1000,
    machine: machineInfo(),
    floor,
    clusters,
    targets: checkTargets(floor, clusters),
  };
}

async function main(): Promise<void> {
  const program = new Command('bench')
    .description('sign latency, throughput, memory and failover of local raft-signer clusters, against the floor of this machine')
    .option('--json', 'print one JSON object instead of tables')
    .option('--quick', 'a smoke run (3 nodes, few samples) that finishes in under a minute')
    .option('--nodes <list>', 'cluster sizes, comma-separated (default 3,5; --quick: 3)')
    .option('--profile <dir>', 'write a CPU profile of every node process (node --cpu-prof) into this directory')
    .option('--keep', "keep each cluster's files (node logs, stores) after the run")
    .parse(process.argv);
  const opts = program.opts<{ json?: boolean; quick?: boolean; nodes?: string; profile?: string; keep?: boolean }>();
  const nodes = opts.nodes?.split(',').map((x) => Number(x.trim()));
  if (nodes && nodes.some((n) => !Number.isInteger(n) || n < 1 || n > 9)) throw new Error(`--nodes ${opts.nodes}: give sizes from 1 to 9`);
  const report = await runBench({ quick: opts.quick, json: opts.json, nodes, profile: opts.profile, keep: opts.keep });
  process.stdout.write(opts.json ? `${JSON.stringify(jsonReport(report))}\n` : `${textReport(report)}\n`);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  });
}
