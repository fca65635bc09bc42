// Throughput across many chains: every chain's validator node (a stand-in, one request in flight
// as CometBFT allows) sends distinct requests. First closed loop, each stand-in sending its next
// request as soon as the last is answered: with one request in flight per chain that is the most
// `chains` validator nodes can ask for, i.e. saturation. Then open loop at fractions of that rate
// (requests due at fixed intervals per chain, latency counted from when each was due, so a stall
// shows up in the latency instead of silently lowering the load).

import { ValidatorStandin } from '../standin/validator_standin';
import { ChainSequence, Sample } from './chain_sequence';
import { LatencySummary, summarize } from './stats';
import { sleep } from '../util/sleep';

export interface ThroughputStep {
  /** 'saturation' (closed loop) or the open-loop fraction of the saturation rate. */
  load: string;
  /** Requests per second offered (null for closed loop: as fast as answered). */
  offeredPerSec: number | null;
  signedPerSec: number;
  latency: LatencySummary;
  failures: number;
  firstFailure?: string;
}

export interface ThroughputResult {
  chains: number;
  steps: ThroughputStep[];
  /** The closed-loop (saturated) rate. */
  saturationPerSec: number;
}

export interface ThroughputOptions {
  stepMs: number;
  warmupMs: number;
  /** Open-loop steps, as fractions of the saturation rate. */
  fractions: number[];
  timeoutMs: number;
}

export interface ThroughputChain {
  standin: ValidatorStandin;
  sequence: ChainSequence;
}

function step(load: string, offeredPerSec: number | null, samples: Sample[], from: number, to: number): ThroughputStep {
  const inWindow = samples.filter((s) => s.end >= from && s.end < to);
  const signed = inWindow.filter((s) => s.outcome === 'signed');
  const failed = inWindow.filter((s) => s.outcome !== 'signed');
  const out: ThroughputStep = {
    load,
    offeredPerSec,
    signedPerSec: signed.length / ((to - from) / 1000),
    latency: summarize(signed.map((s) => s.end - s.start)),
    failures: failed.length,
  };
  if (failed.length > 0) out.firstFailure = `${failed[0].outcome}: ${failed[0].message ?? ''}`;
  return out;
}

async function closedLoop(chains: ThroughputChain[], options: ThroughputOptions): Promise<ThroughputStep> {
  const samples: Sample[] = [];
  const begin = performance.now();
  const from = begin + options.warmupMs;
  const to = from + options.stepMs;
  await Promise.all(
    chains.map(async (c) => {
      while (performance.now() < to) samples.push(await c.sequence.sendNext(c.standin, options.timeoutMs));
    }),
  );
  return step('saturation', null, samples, from, to);
}

async function openLoop(chains: ThroughputChain[], ratePerSec: number, load: string, options: ThroughputOptions): Promise<ThroughputStep> {
  const samples: Sample[] = [];
  const intervalMs = (1000 * chains.length) / ratePerSec;
  const begin = performance.now();
  const from = begin + options.warmupMs;
  const to = from + options.stepMs;
  await Promise.all(
    chains.map(async (c, i) => {
      // Spread the chains' phases over one interval, so the load is even rather than in bursts.
      let due = begin + (intervalMs * i) / chains.length;
      while (due < to) {
        const wait = due - performance.now();
        if (wait > 0) await sleep(wait);
        samples.push(await c.sequence.sendNextDueAt(c.standin, options.timeoutMs, due));
        due += intervalMs;
      }
    }),
  );
  return step(load, ratePerSec, samples, from, to);
}

export async function measureThroughput(chains: ThroughputChain[], options: ThroughputOptions): Promise<ThroughputResult> {
  const saturated = await closedLoop(chains, options);
  const steps: ThroughputStep[] = [];
  for (const f of options.fractions) {
    const rate = Math.max(1, Math.round(saturated.signedPerSec * f));
    steps.push(await openLoop(chains, rate, `${Math.round(f * 100)}%`, options));
  }
  steps.push(saturated);
  return { chains: chains.length, steps, saturationPerSec: saturated.signedPerSec };
}
