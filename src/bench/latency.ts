// Sign latency as one validator node sees it: one stand-in, one request at a time (as CometBFT
// sends them), each a new height/round/step that needs its own log entry, with nothing else
// loading the cluster. Measured from the stand-in's side of the unix socket: framing, the privval
// session, the whole sign path and the answer back.

import { ValidatorStandin } from '../standin/validator_standin';
import { ChainSequence, Sample } from './chain_sequence';
import { LatencySummary, summarize } from './stats';
import { sleep } from '../util/sleep';

export interface LatencyResult {
  /** The node the stand-in is attached to, and whether it led while measured. */
  nodeId: string;
  role: 'leader' | 'follower';
  summary: LatencySummary;
  /** Refused or failed requests (none expected). */
  failures: number;
  firstFailure?: string;
}

export interface LatencyOptions {
  samples: number;
  warmup: number;
  /** Pause between one answer and the next request (ms). */
  pauseMs: number;
  timeoutMs: number;
}

export async function measureLatency(
  standin: ValidatorStandin,
  sequence: ChainSequence,
  who: { nodeId: string; role: 'leader' | 'follower' },
  options: LatencyOptions,
): Promise<LatencyResult> {
  const samples: Sample[] = [];
  for (let i = 0; i < options.warmup + options.samples; i++) {
    const s = await sequence.sendNext(standin, options.timeoutMs);
    if (i >= options.warmup) samples.push(s);
    if (options.pauseMs > 0) await sleep(options.pauseMs);
  }
  const failed = samples.filter((s) => s.outcome !== 'signed');
  const result: LatencyResult = {
    ...who,
    summary: summarize(samples.filter((s) => s.outcome === 'signed').map((s) => s.end - s.start)),
    failures: failed.length,
  };
  if (failed.length > 0) result.firstFailure = `${failed[0].outcome}: ${failed[0].message ?? ''}`;
  return result;
}
