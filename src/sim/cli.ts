#!/usr/bin/env node
// `npm run sim -- --seeds N [--seed S] [--nodes 3|5] [--chaos-ms MS] [--release-check core|disk]
// [--broken release-before-commit|release-without-apply|count-any-store]`: runs the deterministic simulation (Raft
// core, signer state machine, sign path, validator nodes) over many seeds (both CPU cores), prints
// one summary line (seeds, events, violations, time, then the signatures released and the
// refusals answered), and on a violation the seed and the command that replays it. Exits non-zero
// on any violation. Then one more line: the mean availability over the seeds (slots of the
// step time signed in while a majority was healthy, availability.ts) and the worst longest stall
// (seed, length, when, the faults active meanwhile).

import { Command, InvalidArgumentError } from 'commander';
import os from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { runSimulation, SimulationResult } from './raft_simulation';

type Broken = 'release-before-commit' | 'release-without-apply' | 'count-any-store';
const BROKEN: Broken[] = ['release-before-commit', 'release-without-apply', 'count-any-store'];

interface Job {
  seeds: number[];
  nodes: number | null;
  chaosMs?: number;
  releaseCheck?: 'core' | 'disk';
  broken?: Broken;
}

function nodesFor(seed: number, fixed: number | null): number {
  return fixed ?? (seed % 2 === 0 ? 3 : 5);
}

/** One seed's availability, as the main thread aggregates it. */
interface SeedAvailability {
  seed: number;
  nodes: number;
  availability: SimulationResult['availability'];
}

interface JobResult {
  events: number;
  signatures: number;
  refusals: number;
  availability: SeedAvailability[];
  failures: SimulationResult[];
}

function runJob(job: Job): JobResult {
  const failures: SimulationResult[] = [];
  const total: JobResult = { events: 0, signatures: 0, refusals: 0, availability: [], failures };
  for (const seed of job.seeds) {
    const r = runSimulation({
      seed,
      nodes: nodesFor(seed, job.nodes),
      chaosMs: job.chaosMs,
      releaseCheckIndex: job.releaseCheck,
      releaseBeforeCommit: job.broken === 'release-before-commit',
      releaseWithoutApply: job.broken === 'release-without-apply',
      countAnyStore: job.broken === 'count-any-store',
    });
    total.events += r.events;
    total.signatures += r.signatures;
    total.refusals += r.refusals;
    total.availability.push({ seed: r.seed, nodes: r.nodes, availability: r.availability });
    if (r.violations.length > 0) failures.push(r);
  }
  return total;
}

/** The mean ratio over the seeds and the longest stall of all (the lowest seed on a tie), in seed order. */
function availabilityLine(seeds: SeedAvailability[]): string {
  const sorted = [...seeds].sort((a, b) => a.seed - b.seed);
  const mean = sorted.reduce((sum, s) => sum + s.availability.ratio, 0) / Math.max(1, sorted.length);
  let worst: SeedAvailability | null = null;
  for (const s of sorted) if (!worst || s.availability.longestStallMs > worst.availability.longestStallMs) worst = s;
  const stall =
    worst && worst.availability.longestStallMs > 0
      ? ` longest-stall=${worst.availability.longestStallMs}ms (seed ${worst.seed}, ${worst.nodes} nodes, from t=${worst.availability.longestStallAt}ms: ${worst.availability.longestStallCause})`
      : ' longest-stall=0ms';
  return `availability=${mean.toFixed(4)}${stall}`;
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

async function main(): Promise<void> {
  const program = new Command('sim')
    .description('Deterministic simulation of the Raft core and the signer under faults')
    .option('--seeds <n>', 'how many seeds to run', positiveInt, 100)
    .option('--seed <s>', 'first seed (alone: replay exactly this seed)', positiveInt)
    .option('--nodes <n>', 'founding voters: 3 or 5 (default: 3 for even seeds, 5 for odd)', positiveInt)
    .option('--chaos-ms <ms>', 'virtual milliseconds of faults per seed', positiveInt)
    .option('--workers <n>', 'worker threads', positiveInt, Math.max(1, Math.min(os.cpus().length, 4)))
    .option('--release-check <index>', "the applied index a release trusts: 'disk' (durable, the default) or 'core' (Raft's log.applied, ahead of the disk during a snapshot install)")
    .option('--broken <variant>', 'run a deliberately broken variant: the sign path release-before-commit or release-without-apply, or the core count-any-store (counts answers from any store)');
  program.parse();
  const o = program.opts<{ seeds: number; seed?: number; nodes?: number; chaosMs?: number; workers: number; releaseCheck?: string; broken?: string }>();
  if (o.nodes !== undefined && o.nodes !== 3 && o.nodes !== 5) {
    console.error('--nodes must be 3 or 5');
    process.exit(2);
  }
  if (o.releaseCheck !== undefined && o.releaseCheck !== 'core' && o.releaseCheck !== 'disk') {
    console.error("--release-check must be 'core' or 'disk'");
    process.exit(2);
  }
  if (o.broken !== undefined && !BROKEN.includes(o.broken as Broken)) {
    console.error('--broken must be release-before-commit, release-without-apply or count-any-store');
    process.exit(2);
  }
  const job = { nodes: o.nodes ?? null, chaosMs: o.chaosMs, releaseCheck: o.releaseCheck as Job['releaseCheck'], broken: o.broken as Broken | undefined };
  const flags = `${o.chaosMs ? ` --chaos-ms ${o.chaosMs}` : ''}${o.releaseCheck ? ` --release-check ${o.releaseCheck}` : ''}${o.broken ? ` --broken ${o.broken}` : ''}`;
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
        new Promise<JobResult>((resolve, reject) => {
          const w = new Worker(__filename, { workerData: { ...job, seeds: slice } satisfies Job });
          w.once('message', resolve);
          w.once('error', reject);
        }),
    ),
  );
  let events = 0;
  let signatures = 0;
  let refusals = 0;
  const failures: SimulationResult[] = [];
  const availability: SeedAvailability[] = [];
  for (const r of results) {
    events += r.events;
    signatures += r.signatures;
    refusals += r.refusals;
    failures.push(...r.failures);
    availability.push(...r.availability);
  }
  failures.sort((a, b) => a.seed - b.seed);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`seeds=${seeds.length} events=${events} violations=${failures.length} time=${seconds}s signatures=${signatures} refusals=${refusals}`);
  console.log(availabilityLine(availability));
  for (const f of failures.slice(0, 10)) {
    console.log(`seed ${f.seed} (${f.nodes} nodes): ${f.violations[0]}`);
    console.log(`  replay: npm run sim -- --seed ${f.seed} --nodes ${f.nodes}${flags}`);
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
