// The requests one validator node of one chain sends, in consensus order: at each height a
// proposal, a prevote and a precommit for the height's block, each with a fresh timestamp. Every
// request is distinct (a new height, round or step), so each needs its own log entry: nothing is
// answered from the record, and nothing is refused.

import { createHash } from 'node:crypto';
import { BlockId, Proposal, SignedMsgType, Timestamp, Vote, emptyVote } from '../cometbft/messages';
import { ValidatorStandin } from '../standin/validator_standin';

export type Outcome = 'signed' | 'refused' | 'error';

export interface Sample {
  /** performance.now() when the request was due (open loop) or sent (closed loop). */
  start: number;
  end: number;
  outcome: Outcome;
  /** Why it was refused or failed. */
  message?: string;
}

function timestampNow(): Timestamp {
  const ms = Date.now();
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

export class ChainSequence {
  private height: bigint;
  /** 0 proposal, 1 prevote, 2 precommit. */
  private step = 0;
  private block: BlockId;

  constructor(
    readonly chainId: string,
    startHeight = 1n,
  ) {
    this.height = startHeight;
    this.block = this.blockAt(startHeight);
  }

  /** Sends the next request through `standin` and reports how it went (never throws). */
  async sendNext(standin: ValidatorStandin, timeoutMs: number): Promise<Sample> {
    const start = performance.now();
    return this.sendNextDueAt(standin, timeoutMs, start);
  }

  /** As sendNext, with the latency counted from `due` (open-loop load). */
  async sendNextDueAt(standin: ValidatorStandin, timeoutMs: number, due: number): Promise<Sample> {
    const height = this.height;
    const step = this.step;
    this.step = (this.step + 1) % 3;
    if (this.step === 0) {
      this.height += 1n;
      this.block = this.blockAt(this.height);
    }
    try {
      let error: { description: string } | null;
      if (step === 0) {
        const proposal: Proposal = {
          type: SignedMsgType.Proposal,
          height,
          round: 0,
          polRound: -1,
          blockId: this.block,
          timestamp: timestampNow(),
          signature: new Uint8Array(0),
        };
        error = (await standin.signProposal(this.chainId, proposal, { timeoutMs })).error;
      } else {
        const vote: Vote = {
          ...emptyVote(),
          type: step === 1 ? SignedMsgType.Prevote : SignedMsgType.Precommit,
          height,
          round: 0,
          blockId: this.block,
          timestamp: timestampNow(),
        };
        // Vote extensions are not what is measured: CometBFT chains without them skip signing.
        error = (await standin.signVote(this.chainId, vote, { timeoutMs, skipExtensionSigning: true })).error;
      }
      const end = performance.now();
      return error === null ? { start: due, end, outcome: 'signed' } : { start: due, end, outcome: 'refused', message: error.description };
    } catch (e) {
      return { start: due, end: performance.now(), outcome: 'error', message: (e as Error).message };
    }
  }

  private blockAt(height: bigint): BlockId {
    const hash = createHash('sha256').update(`${this.chainId}/${height}`).digest();
    return { hash, partSetHeader: { total: 1, hash: createHash('sha256').update(hash).digest() } };
  }
}
