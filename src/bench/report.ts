// The benchmark's report: one JSON object (--json) or tables for a person, and the issue's
// targets each with its measured figure.

import { FloorMeasurement } from './floor';
import { KillResult, TransferResult } from './failover';
import { LatencyResult } from './latency';
import { NodeMemory } from './bench_cluster';
import { formatMs, LatencySummary, roundSummary } from './stats';
import { ThroughputResult } from './throughput';

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  node: string;
  platform: string;
  memoryGiB: number;
}

export interface ClusterReport {
  nodes: number;
  latency: LatencyResult[];
  throughput: ThroughputResult[];
  memory: NodeMemory[];
  graceful: TransferResult | null;
  leaderKill: KillResult | null;
}

export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean;
}

export interface BenchReport {
  mode: 'full' | 'quick';
  startedAt: string;
  durationSec: number;
  machine: MachineInfo;
  floor: FloorMeasurement;
  clusters: ClusterReport[];
  targets: TargetCheck[];
}

/** Checks the issue's targets against the 3-node figures (memory: every cluster). */
export function checkTargets(floor: FloorMeasurement, clusters: ClusterReport[]): TargetCheck[] {
  const out: TargetCheck[] = [];
  const three = clusters.find((c) => c.nodes === 3);
  if (!three) return out;
  const follower = three.latency.find((l) => l.role === 'follower');
  if (follower) {
    const ratio = follower.summary.p50 / floor.floorMs;
    out.push({
      target: 'follower-attached p50 within 2x the floor (3 nodes)',
      measured: `p50 ${formatMs(follower.summary.p50)} ms = ${ratio.toFixed(2)}x floor ${formatMs(floor.floorMs)} ms`,
      met: ratio <= 2,
    });
    out.push({
      target: 'follower-attached p99 under 10 ms (3 nodes)',
      measured: `p99 ${formatMs(follower.summary.p99)} ms`,
      met: follower.summary.p99 < 10,
    });
  }
  const hundred = three.throughput.find((t) => t.chains === 100);
  if (hundred) {
    out.push({
      target: 'at least 5000 signatures/s across 100 chains (3 nodes)',
      measured: `${Math.round(hundred.saturationPerSec)} /s`,
      met: hundred.saturationPerSec >= 5000,
    });
  }
  if (three.leaderKill) {
    const r = three.leaderKill.recovery;
    out.push({
      target: 'leader SIGKILL to next signature p99 under 1 s (3 nodes, default timeouts)',
      measured: `p50 ${formatMs(r.p50)} ms, p99 ${formatMs(r.p99)} ms, max ${formatMs(r.max)} ms over ${r.count} trials`,
      met: r.p99 < 1000,
    });
  }
  if (three.graceful) {
    const g = three.graceful;
    out.push({
      target: 'graceful transfer gap under 50 ms, no failed request (3 nodes)',
      measured: `max gap ${formatMs(g.gap.max)} ms over ${g.gap.count} trials, ${g.failures} failed requests`,
      met: g.gap.max < 50 && g.failures === 0,
    });
  }
  const peaks = clusters.flatMap((c) => c.memory.map((m) => m.peakRssMiB));
  if (peaks.length > 0) {
    const peak = Math.max(...peaks);
    out.push({ target: 'peak RSS under 150 MB per node', measured: `${peak.toFixed(0)} MiB (largest node)`, met: peak * 1.048576 < 150 });
  }
  return out;
}

/** Rounds the latency summaries for the JSON object. */
export function jsonReport(report: BenchReport): unknown {
  return JSON.parse(
    JSON.stringify(report, (_key, value: unknown) => {
      if (value !== null && typeof value === 'object' && 'p50' in value && 'p999' in value) return roundSummary(value as LatencySummary);
      if (typeof value === 'number' && !Number.isInteger(value)) return Math.round(value * 1000) / 1000;
      return value;
    }),
  );
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function ratio(ms: number, floorMs: number): string {
  return Number.isFinite(ms) ? `${(ms / floorMs).toFixed(1)}x` : '-';
}

export function textReport(report: BenchReport): string {
  const { floor, machine } = report;
  const out: string[] = [];
  out.push(
    `raft-signer benchmark (${report.mode}) on ${machine.cores} cores, ${machine.cpuModel}, ${machine.memoryGiB.toFixed(0)} GiB, ` +
      `Node ${machine.node} (${machine.platform}); ${report.startedAt}, ${report.durationSec.toFixed(0)} s`,
  );
  out.push('');
  out.push('Floor (same run, same machine), ms');
  out.push(
    table(
      ['part', 'p50', 'p99', 'max'],
      [
        ['Ed25519 sign (node:crypto)', floor.ed25519Sign],
        ['fsynced level put', floor.fsyncedPut],
        ['gRPC unary round trip, loopback, mTLS', floor.grpcRoundTrip],
      ].map(([name, s]) => [name as string, formatMs((s as LatencySummary).p50), formatMs((s as LatencySummary).p99), formatMs((s as LatencySummary).max)]),
    ),
  );
  out.push(`floor = forward RTT + replicate RTT + fsync + sign = ${formatMs(floor.floorMs)} ms (medians)`);
  for (const c of report.clusters) {
    out.push('');
    out.push(`== ${c.nodes} nodes ==`);
    out.push('');
    out.push('Sign latency, one validator node at a time, ms (x = ratio to the floor)');
    out.push(
      table(
        ['attached to', 'n', 'p50', 'p90', 'p99', 'p99.9', 'max', 'p50 x', 'p99 x', 'failed'],
        c.latency.map((l) => [
          `${l.role} (${l.nodeId})`,
          String(l.summary.count),
          formatMs(l.summary.p50),
          formatMs(l.summary.p90),
          formatMs(l.summary.p99),
          formatMs(l.summary.p999),
          formatMs(l.summary.max),
          ratio(l.summary.p50, floor.floorMs),
          ratio(l.summary.p99, floor.floorMs),
          String(l.failures),
        ]),
      ),
    );
    if (c.throughput.length > 0) {
      out.push('');
      out.push('Throughput: distinct sign requests, one in flight per chain; latency at that load, ms');
      out.push(
        table(
          ['chains', 'load', 'offered/s', 'signed/s', 'p50', 'p99', 'max', 'p50 x', 'failed'],
          c.throughput.flatMap((t) =>
            t.steps.map((s) => [
              String(t.chains),
              s.load,
              s.offeredPerSec === null ? 'max' : String(s.offeredPerSec),
              s.signedPerSec.toFixed(0),
              formatMs(s.latency.p50),
              formatMs(s.latency.p99),
              formatMs(s.latency.max),
              ratio(s.latency.p50, floor.floorMs),
              String(s.failures),
            ]),
          ),
        ),
      );
    }
    if (c.memory.length > 0) {
      out.push('');
      out.push(`Peak RSS under load (VmHWM), MiB: ${c.memory.map((m) => `${m.id} ${m.peakRssMiB.toFixed(0)}`).join(', ')}`);
    }
    if (c.leaderKill || c.graceful) {
      out.push('');
      out.push('Failover, ms');
      const rows: string[][] = [];
      if (c.leaderKill) {
        const r = c.leaderKill.recovery;
        rows.push(['leader SIGKILL -> next signature', String(r.count), formatMs(r.p50), formatMs(r.p99), formatMs(r.max), String(c.leaderKill.failures)]);
      }
      if (c.graceful) {
        const g = c.graceful.gap;
        rows.push(['graceful stop (SIGTERM): longest gap', String(g.count), formatMs(g.p50), formatMs(g.p99), formatMs(g.max), String(c.graceful.failures)]);
      }
      out.push(table(['', 'trials', 'p50', 'p99', 'max', 'failed'], rows));
    }
  }
  if (report.targets.length > 0) {
    out.push('');
    out.push('Targets (issue 7)');
    out.push(table(['target', 'measured', 'met'], report.targets.map((t) => [t.target, t.measured, t.met ? 'yes' : 'NO'])));
  }
  return out.join('\n');
}
