#!/usr/bin/env node
// `npm run sim -- --seeds N [--seed S] [--nodes 3|5] [--chaos-ms MS]`: runs the deterministic Raft
// simulation over many seeds (both CPU cores), prints one summary line, and on a violation the
// seed and the command that replays it. Exits non-zero on any violation.

import { Command, InvalidArgumentError } from 'commander';
import os from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { runSimulation, SimulationResult } from './raft_simulation';

interface Job {
  seeds: number[];
  nodes: number | null;
  chaosMs?: number;
}

function nodesFor(seed: number, fixed: number | null): number {
  return fixed ?? (seed % 2 === 0 ? 3 : 5);
}

function runJob(job: Job): SimulationResult[] {
  const failures: SimulationResult[] = [];
  let events = 0;
  for (const seed of job.seeds) {
    const r = runSimulation({ seed, nodes: nodesFor(seed, job.nodes), chaosMs: job.chaosMs });
    events += r.events;
    if (r.violations.length > 0) failures.push(r);
  }
  return [{ seed: -1, nodes: 0, events, violations: [], committed: 0, leaderChanges: 0, crashes: 0 }, ...failures];
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

async function main(): Promise<void> {
  const program = new Command('sim')
    .description('Deterministic simulation of the Raft core under faults')
    .option('--seeds <n>', 'how many seeds to run', positiveInt, 100)
    .option('--seed <s>', 'first seed (alone: replay exactly this seed)', positiveInt)
    .option('--nodes <n>', 'founding voters: 3 or 5 (default: 3 for even seeds, 5 for odd)', positiveInt)
    .option('--chaos-ms <ms>', 'virtual milliseconds of faults per seed', positiveInt)
    .option('--workers <n>', 'worker threads', positiveInt, Math.max(1, Math.min(os.cpus().length, 4)));
  program.parse();
  const o = program.opts<{ seeds: number; seed?: number; nodes?: number; chaosMs?: number; workers: number }>();
  if (o.nodes !== undefined && o.nodes !== 3 && o.nodes !== 5) {
    console.error('--nodes must be 3 or 5');
    process.exit(2);
  }
  const first = o.seed ?? 1;
  const count = o.seed !== undefined && process.argv.indexOf('--seeds') < 0 ? 1 : o.seeds;
  const seeds = Array.from({ length: count }, (_, i) => first + i);
  const workers = Math.min(o.workers, seeds.length);
  const started = Date.now();
  const slices: number[][] = Array.from({ length: workers }, () => []);
  seeds.forEach((s, i) => slices[i % workers].push(s));
  const results = await Promise.all(
    slices.map(
      (slice) =>
        new Promise<SimulationResult[]>((resolve, reject) => {
          const w = new Worker(__filename, { workerData: { seeds: slice, nodes: o.nodes ?? null, chaosMs: o.chaosMs } satisfies Job });
          w.once('message', resolve);
          w.once('error', reject);
        }),
    ),
  );
  let events = 0;
  const failures: SimulationResult[] = [];
  for (const r of results) {
    events += r[0].events;
    failures.push(...r.slice(1));
  }
  failures.sort((a, b) => a.seed - b.seed);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`seeds=${seeds.length} events=${events} violations=${failures.length} time=${seconds}s`);
  for (const f of failures.slice(0, 10)) {
    console.log(`seed ${f.seed} (${f.nodes} nodes): ${f.violations[0]}`);
    console.log(`  replay: npm run sim -- --seed ${f.seed} --nodes ${f.nodes}${o.chaosMs ? ` --chaos-ms ${o.chaosMs}` : ''}`);
  }
  process.exit(failures.length > 0 ? 1 : 0);
}

if (isMainThread) {
  main().catch((e) => {
    console.error(e);
    process.exit(2);
  });
} else {
  parentPort?.postMessage(runJob(workerData as Job));
}
