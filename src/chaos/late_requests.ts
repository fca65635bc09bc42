// Late requests: a validator node that lags behind the others asks, after a height is over, to
// sign a vote or proposal at that height again: the same vote with a new timestamp (FilePV must
// return the stored signature and timestamp), or a conflicting one (another block), which must be
// refused; or, further behind (a validator node restored from an old backup replaying heights),
// a conflicting vote at one of the last hundred heights, which must be refused as a regression.
// While a fault is in progress the harness also probes the last few heights this way (probe()):
// a cluster that lost its last decisions in a failover signs such a request if it reaches the
// new leader before the next height does; a correct one refuses it. This is what happens with several validator nodes sharing one key when one of them is
// slow, and it is the request that turns lost slashing state into a double sign: a cluster that
// forgot the decision (a lost log suffix, a node restored from an old copy that leads) would
// sign it. The HeightDriver's own disagreement arrives within the height, while the decision is
// still in flight; these arrive after it was committed, through whichever node the stand-in uses.

import { createHash } from 'node:crypto';
import { Proposal, SignedMsgType, Timestamp, Vote, emptyVote } from '../cometbft/messages';
import { SeededRandom } from '../raft/rng';
import { HeightResult } from '../standin/height_driver';
import { SignRecord } from '../standin/sign_history';
import { ValidatorStandin } from '../standin/validator_standin';

export type LateRequestKind = 'conflicting-prevote' | 'conflicting-precommit' | 'conflicting-proposal' | 'repeat-precommit' | 'old-height-prevote';

export interface LateRequestResult {
  chainId: string;
  standin: string;
  kind: LateRequestKind;
  height: bigint;
  round: number;
  /** signed; refused (RemoteSignerError); error (no answer or no connection). */
  outcome: 'signed' | 'refused' | 'error';
  message?: string;
  sentAt: number;
}

export interface LateRequestsOptions {
  chainId: string;
  standins: readonly ValidatorStandin[];
  /** Probability that a finished height gets a late request (0..1). */
  rate: number;
  seed: number;
  requestTimeoutMs?: number;
}

const KINDS: readonly LateRequestKind[] = ['conflicting-prevote', 'conflicting-precommit', 'conflicting-proposal', 'repeat-precommit', 'old-height-prevote'];
/** How many finished heights an old-height request may reach back. */
const OLD_HEIGHTS_KEPT = 100;
/** How far back a probe during a fault reaches: the heights a failover could have lost. */
const PROBED_HEIGHTS = 8;

function timestampNow(): Timestamp {
  const ms = Date.now();
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

/** A block id no stand-in of the HeightDriver ever votes for at this height. */
function lateBlockId(chainId: string, height: bigint): Vote['blockId'] {
  const tag = `${chainId}/${height}/late`;
  return {
    hash: createHash('sha256').update(tag).digest(),
    partSetHeader: { total: 1, hash: createHash('sha256').update(`${tag}/parts`).digest() },
  };
}

export class LateRequests {
  readonly results: LateRequestResult[] = [];
  private readonly random: SeededRandom;
  private readonly inFlight = new Set<Promise<void>>();
  /** Stand-ins with a probe in flight (one each, so probes never pile up in a stand-in's queue). */
  private readonly probing = new Set<ValidatorStandin>();
  /** Heights with something signed, and the round they were decided in, oldest first. */
  private readonly finished: { height: bigint; round: number }[] = [];
  private stopped = false;

  constructor(private readonly options: LateRequestsOptions) {
    this.random = new SeededRandom(options.seed);
  }

  /** Give it every finished height (HeightDriver's onHeight). */
  onHeight(result: HeightResult): void {
    if (this.stopped) return;
    // The round the height was decided in, and a precommit to repeat, from what was signed.
    const signed = this.options.standins.flatMap((s) => s.history.records.filter((r) => r.chainId === result.chainId && r.height === result.height));
    if (signed.length === 0) return;
    const round = Math.max(...signed.map((r) => r.round));
    this.finished.push({ height: result.height, round });
    if (this.finished.length > OLD_HEIGHTS_KEPT) this.finished.shift();
    if (!this.random.chance(this.options.rate)) return;
    const kind = this.random.pick(KINDS);
    const standin = this.random.pick(this.options.standins);
    if (!standin.connected) return;
    if (kind === 'old-height-prevote') {
      const old = this.finished.length > 1 ? this.random.pick(this.finished.slice(0, -1)) : undefined;
      if (old === undefined) return;
      this.track(this.send(standin, kind, old.height, old.round, undefined));
      return;
    }
    const precommit = signed.find((r): r is SignRecord & { message: { kind: 'vote'; vote: Vote } } => r.round === round && r.message.kind === 'vote' && r.message.vote.type === SignedMsgType.Precommit);
    if (kind === 'repeat-precommit' && precommit === undefined) return;
    this.track(this.send(standin, kind, result.height, round, precommit?.message.vote));
  }

  /** One conflicting prevote at one of the last few heights, from a stand-in not probing already. */
  probe(): void {
    if (this.stopped || this.finished.length === 0) return;
    const idle = this.options.standins.filter((s) => s.connected && !this.probing.has(s));
    if (idle.length === 0) return;
    const standin = this.random.pick(idle);
    const old = this.random.pick(this.finished.slice(-PROBED_HEIGHTS));
    this.probing.add(standin);
    this.track(this.send(standin, 'old-height-prevote', old.height, old.round, undefined).finally(() => this.probing.delete(standin)));
  }

  /** probe() from every connected stand-in that is not probing already. */
  probeAll(): void {
    for (let i = 0; i < this.options.standins.length; i++) this.probe();
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** No new requests; waits for those in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all([...this.inFlight]);
  }

  private async send(standin: ValidatorStandin, kind: LateRequestKind, height: bigint, round: number, precommit: Vote | undefined): Promise<void> {
    const { chainId } = this.options;
    const timeoutMs = this.options.requestTimeoutMs ?? 5000;
    const sentAt = Date.now();
    const done = (outcome: LateRequestResult['outcome'], message?: string): void => {
      this.results.push({ chainId, standin: standin.history.source, kind, height, round, outcome, ...(message !== undefined ? { message } : {}), sentAt });
    };
    try {
      let error: { description: string } | null;
      if (kind === 'conflicting-proposal') {
        const proposal: Proposal = { type: SignedMsgType.Proposal, height, round, polRound: -1, blockId: lateBlockId(chainId, height), timestamp: timestampNow(), signature: new Uint8Array(0) };
        error = (await standin.signProposal(chainId, proposal, { timeoutMs })).error;
      } else {
        const vote: Vote =
          kind === 'repeat-precommit' && precommit !== undefined
            ? { ...precommit, timestamp: timestampNow(), signature: new Uint8Array(0), extensionSignature: new Uint8Array(0) }
            : {
                ...emptyVote(),
                type: kind === 'conflicting-precommit' ? SignedMsgType.Precommit : SignedMsgType.Prevote,
                height,
                round,
                blockId: lateBlockId(chainId, height),
                timestamp: timestampNow(),
              };
        error = (await standin.signVote(chainId, vote, { timeoutMs })).error;
      }
      if (error === null) done('signed');
      else done('refused', error.description);
    } catch (err) {
      done('error', (err as Error).message);
    }
  }
}
