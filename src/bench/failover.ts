// Failover as the validator nodes see it. While a stand-in on every other node keeps asking for
// signatures (one request in flight each, back to back, each on its own chain):
//   - SIGKILL of the leader: how long from the kill until every surviving node has released a
//     signature for a request sent after the kill (the slowest of them: a validator node attached
//     to it waits that long);
//   - SIGTERM of the leader (graceful stop: it hands leadership over first): the longest stretch
//     without a released signature on any surviving node, and whether any request failed.
// After each trial the node is restarted and the cluster left to settle (one leader, everything
// applied everywhere) before the next.

import { BenchCluster, throughputChain } from './bench_cluster';
import { Sample } from './chain_sequence';
import { LatencySummary, summarize } from './stats';
import { sleep } from '../util/sleep';

export interface KillTrial {
  victim: string;
  /** Kill -> first signature through the slowest surviving node (ms). */
  recoveryMs: number;
  failures: number;
}

export interface KillResult {
  trials: KillTrial[];
  recovery: LatencySummary;
  failures: number;
  firstFailure?: string;
}

export interface TransferTrial {
  victim: string;
  /** Longest interval between two consecutive signatures on one surviving node, around the stop (ms). */
  gapMs: number;
  /** Longest single request in that window (ms). */
  slowestRequestMs: number;
  failures: number;
}

export interface TransferResult {
  trials: TransferTrial[];
  gap: LatencySummary;
  failures: number;
  firstFailure?: string;
}

const PAUSE_MS = 1;
const REQUEST_TIMEOUT_MS = 5000;

/** Back-to-back requests through one node's stand-in, on a chain of its own, until stopped. */
class Client {
  readonly samples: Sample[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(
    readonly nodeId: string,
    bench: BenchCluster,
  ) {
    const index = bench.ids.indexOf(nodeId);
    // tp-<index> is attached to this node (tp-j goes to node j mod n).
    const chainId = throughputChain(index);
    const entry = bench.throughputStandins.find((t) => t.chainId === chainId);
    if (!entry || entry.nodeId !== nodeId) throw new Error(`no throughput chain attached to ${nodeId}`);
    const sequence = bench.sequence(chainId);
    this.loop = (async () => {
      while (this.running) {
        this.samples.push(await sequence.sendNext(entry.standin, REQUEST_TIMEOUT_MS));
        await sleep(PAUSE_MS);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

function describeFailure(samples: Sample[]): string | undefined {
  const f = samples.find((s) => s.outcome !== 'signed');
  return f ? `${f.outcome}: ${f.message ?? ''}` : undefined;
}

/** A trial's start: a settled cluster (its leader is the victim), and a signing client on every other node, running for 300 ms. */
async function startTrial(bench: BenchCluster): Promise<{ victim: string; clients: Client[] }> {
  const victim = await bench.waitSettled();
  const clients = bench.running().filter((id) => id !== victim).map((id) => new Client(id, bench));
  await sleep(300);
  return { victim, clients };
}

export async function measureLeaderKill(bench: BenchCluster, trials: number, log: (line: string) => void): Promise<KillResult> {
  const results: KillTrial[] = [];
  const all: Sample[] = [];
  for (let t = 0; t < trials; t++) {
    const { victim, clients } = await startTrial(bench);
    const t0 = performance.now();
    await bench.kill(victim);
    const deadline = t0 + 15_000;
    const firstAfter = (c: Client): Sample | undefined => c.samples.find((s) => s.start >= t0 && s.outcome === 'signed');
    while (performance.now() < deadline && !clients.every((c) => firstAfter(c) !== undefined)) await sleep(5);
    await Promise.all(clients.map((c) => c.stop()));
    const recoveries = clients.map((c) => (firstAfter(c)?.end ?? Infinity) - t0);
    const samples = clients.flatMap((c) => c.samples.filter((s) => s.end >= t0));
    all.push(...samples);
    const trial: KillTrial = { victim, recoveryMs: Math.max(...recoveries), failures: samples.filter((s) => s.outcome !== 'signed').length };
    results.push(trial);
    log(`  kill ${t + 1}/${trials}: ${victim} -> next signature after ${trial.recoveryMs.toFixed(0)} ms`);
    bench.start(victim);
  }
  await bench.waitSettled();
  const failures = results.reduce((n, r) => n + r.failures, 0);
  const out: KillResult = { trials: results, recovery: summarize(results.map((r) => r.recoveryMs)), failures };
  const first = describeFailure(all);
  if (first !== undefined) out.firstFailure = first;
  return out;
}

/** The longest interval between consecutive signatures of one client that ends inside [from, to]. */
function longestGap(samples: Sample[], from: number, to: number): number {
  const ends = samples.filter((s) => s.outcome === 'signed').map((s) => s.end);
  let gap = 0;
  for (let i = 1; i < ends.length; i++) {
    if (ends[i] >= from && ends[i - 1] <= to) gap = Math.max(gap, ends[i] - ends[i - 1]);
  }
  return gap;
}

export async function measureGracefulTransfer(bench: BenchCluster, trials: number, log: (line: string) => void): Promise<TransferResult> {
  const results: TransferTrial[] = [];
  const all: Sample[] = [];
  for (let t = 0; t < trials; t++) {
    const { victim, clients } = await startTrial(bench);
    const t0 = performance.now();
    await bench.stop(victim);
    const t1 = performance.now();
    await sleep(300);
    await Promise.all(clients.map((c) => c.stop()));
    const windowSamples = clients.flatMap((c) => c.samples.filter((s) => s.end >= t0));
    all.push(...windowSamples);
    const trial: TransferTrial = {
      victim,
      gapMs: Math.max(...clients.map((c) => longestGap(c.samples, t0, t1 + 300))),
      slowestRequestMs: Math.max(0, ...windowSamples.map((s) => s.end - s.start)),
      failures: windowSamples.filter((s) => s.outcome !== 'signed').length,
    };
    results.push(trial);
    log(`  graceful stop ${t + 1}/${trials}: ${victim} -> longest gap ${trial.gapMs.toFixed(1)} ms, ${trial.failures} failed`);
    bench.start(victim);
  }
  await bench.waitSettled();
  const failures = results.reduce((n, r) => n + r.failures, 0);
  const out: TransferResult = { trials: results, gap: summarize(results.map((r) => r.gapMs)), failures };
  const first = describeFailure(all);
  if (first !== undefined) out.firstFailure = first;
  return out;
}
