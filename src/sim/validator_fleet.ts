// The validator nodes (CometBFT processes) of the simulation: per chain, several nodes that run
// the same validator key, each attached to one raft-signer node, asking it to sign every step of
// every height: a proposal (step 1), a prevote (2), a precommit (3). Each builds its own canonical
// sign bytes with its own clock, so two nodes asking for the same vote often differ only by
// timestamp; at a seeded rate they also disagree (one prevotes block A, another nil or block B;
// two propose different blocks), and now and then one asks again for a step it already passed
// (a restarted node re-signing its last vote). A node re-sends the same request when no answer
// comes in time, gives up after a few tries, and moves on when answered.

import crypto from 'node:crypto';
import { BlockId, SignedMsgType, Timestamp } from '../cometbft/messages';
import { proposalSignBytes, voteSignBytes } from '../cometbft/sign_bytes';
import { SeededRandom } from '../raft/rng';
import { NodeId } from '../raft/types';
import { SignOutcome, SignRequest } from '../cometbft/sign_types';

export interface FleetHost {
  now(): number;
  /** Runs `fn` after `ms` virtual milliseconds (the validator side never crashes). */
  after(ms: number, fn: () => void): void;
  /** The raft-signer node a validator node configured with `home` reaches now, or null. */
  route(home: NodeId): NodeId | null;
  /** Sends a request over the local privval connection; false when nothing listens there. `reply` is called at most once. */
  send(node: NodeId, request: SignRequest, reply: (outcome: SignOutcome) => void): boolean;
}

export interface FleetChain {
  chainId: string;
  pubKey: Uint8Array;
}

export interface FleetOptions {
  chains: FleetChain[];
  /** The raft-signer nodes validator nodes attach to, round robin. */
  homes: NodeId[];
  random: SeededRandom;
  validatorsPerChain: number;
  /** Virtual milliseconds per consensus step. */
  stepMs: number;
  /** Probability that a validator node signs something else than the majority at a step. */
  disagreement: number;
  /** A validator node re-sends after this long without an answer... */
  resendMs: number;
  /** ...and gives up after this many sends. */
  maxSends: number;
}

export interface FleetStats {
  requests: number;
  sends: number;
  signed: number;
  signedWithStoredTimestamp: number;
  refused: number;
  gaveUp: number;
  disagreements: number;
  replays: number;
}

/** Unix seconds of the simulated genesis, so timestamps look like real ones. */
const BASE_SECONDS = 1_700_000_000n;

interface ChainState {
  chain: FleetChain;
  height: bigint;
  round: number;
  step: 1 | 2 | 3;
  stepStartedAt: number;
  /** Requests first sent after the heal that were signed. */
  signedAfterHeal: number;
  /** When a validator node of this chain obtained a signature it asked for (virtual ms, in order). */
  signedAt: number[];
}

interface Hrs {
  height: bigint;
  round: number;
  step: 1 | 2 | 3;
  startedAt: number;
}

interface PendingSign {
  request: SignRequest;
  sends: number;
  firstSentAt: number;
  done: boolean;
}

interface ValidatorNode {
  chain: ChainState;
  home: NodeId;
  /** This node's clock offset: 0 for several nodes, so that some ask with identical bytes. */
  skewMs: number;
  pending: PendingSign | null;
  last: { hrs: Hrs; block: BlockId } | null;
}

export class ValidatorFleet {
  readonly stats: FleetStats = { requests: 0, sends: 0, signed: 0, signedWithStoredTimestamp: 0, refused: 0, gaveUp: 0, disagreements: 0, replays: 0 };
  private readonly chains: ChainState[];
  private readonly validators: ValidatorNode[] = [];
  private readonly rng: SeededRandom;
  private healAt = Infinity;

  constructor(
    private readonly host: FleetHost,
    private readonly opts: FleetOptions,
  ) {
    this.rng = opts.random;
    this.chains = opts.chains.map((chain) => ({ chain, height: 1n, round: 0, step: 1, stepStartedAt: 0, signedAfterHeal: 0, signedAt: [] }));
    let next = this.rng.nextInt(opts.homes.length);
    for (const chain of this.chains) {
      for (let i = 0; i < opts.validatorsPerChain; i++) {
        const skewMs = this.rng.pick([0, 0, 1, 3, 7]);
        this.validators.push({ chain, home: opts.homes[next++ % opts.homes.length], skewMs, pending: null, last: null });
      }
    }
  }

  /** Virtual milliseconds per consensus step (the target block time the availability is measured in). */
  get stepMs(): number {
    return this.opts.stepMs;
  }

  start(): void {
    for (const c of this.chains) this.host.after(this.rng.between(20, 20 + this.opts.stepMs), () => this.step(c));
  }

  /** Every fault has healed from now on. */
  markHeal(): void {
    this.healAt = this.host.now();
  }

  /**
   * Chains on which no request first sent after the heal was signed; with `maySign`, only those
   * with a validator node that reaches a raft-signer node for which it is true.
   */
  chainsWithoutSignatureAfterHeal(maySign?: (node: NodeId) => boolean): string[] {
    const served = (c: ChainState): boolean =>
      !maySign ||
      this.validators.some((v) => {
        if (v.chain !== c) return false;
        const node = this.host.route(v.home);
        return node !== null && maySign(node);
      });
    return this.chains.filter((c) => c.signedAfterHeal === 0 && served(c)).map((c) => c.chain.chainId);
  }

  /**
   * Per chain, when its validator nodes obtained the signatures they asked for (virtual ms, in
   * order): answers that came while the node still waited, not refusals nor late answers.
   */
  signatureTimes(): { chainId: string; times: readonly number[] }[] {
    return this.chains.map((c) => ({ chainId: c.chain.chainId, times: c.signedAt }));
  }

  /** The chain moves to its next step; every idle validator node asks to sign it. */
  private step(c: ChainState): void {
    this.host.after(this.opts.stepMs, () => this.step(c));
    if (c.stepStartedAt > 0) {
      if (c.step < 3) c.step = (c.step + 1) as 2 | 3;
      else {
        // Most heights decide in round 0; some need another round.
        if (this.rng.chance(0.15)) c.round++;
        else {
          c.height++;
          c.round = 0;
        }
        c.step = 1;
      }
    }
    c.stepStartedAt = this.host.now();
    const hrs: Hrs = { height: c.height, round: c.round, step: c.step, startedAt: c.stepStartedAt };
    for (const v of this.validators) {
      if (v.chain !== c || v.pending) continue;
      this.host.after(this.rng.between(0, Math.floor(this.opts.stepMs / 3)), () => this.issue(v, hrs));
    }
  }

  private blockId(c: ChainState, hrs: Hrs, variant: 'a' | 'b'): BlockId {
    const h = (s: string): Uint8Array => crypto.createHash('sha256').update(s).digest();
    const base = `${c.chain.chainId}/${hrs.height}/${hrs.round}/${variant}`;
    return { hash: h(base), partSetHeader: { total: 1, hash: h(`${base}/parts`) } };
  }

  private issue(v: ValidatorNode, current: Hrs): void {
    if (v.pending) return;
    const c = v.chain;
    let hrs = current;
    let block: BlockId;
    let timestampMs = current.startedAt + v.skewMs;
    if (v.last && this.rng.chance(0.03)) {
      // Asks again for the last thing it signed, with a fresh timestamp (a restarted node).
      this.stats.replays++;
      hrs = v.last.hrs;
      block = v.last.block;
      timestampMs = this.host.now() + v.skewMs;
    } else if (this.rng.chance(this.opts.disagreement)) {
      this.stats.disagreements++;
      block = hrs.step !== 1 && this.rng.chance(0.5) ? NIL_BLOCK : this.blockId(c, hrs, 'b');
    } else {
      block = this.blockId(c, hrs, 'a');
    }
    const timestamp: Timestamp = { seconds: BASE_SECONDS + BigInt(Math.floor(timestampMs / 1000)), nanos: (timestampMs % 1000) * 1_000_000 };
    const signBytes =
      hrs.step === 1
        ? proposalSignBytes(c.chain.chainId, { height: hrs.height, round: hrs.round, polRound: -1, blockId: block, timestamp })
        : voteSignBytes(c.chain.chainId, {
            type: hrs.step === 2 ? SignedMsgType.Prevote : SignedMsgType.Precommit,
            height: hrs.height,
            round: hrs.round,
            blockId: block,
            timestamp,
          });
    v.last = { hrs, block };
    const request: SignRequest = { chainId: c.chain.chainId, pubKey: c.chain.pubKey, height: hrs.height, round: hrs.round, step: hrs.step, signBytes };
    const p: PendingSign = { request, sends: 0, firstSentAt: this.host.now(), done: false };
    v.pending = p;
    this.stats.requests++;
    this.send(v, p);
  }

  private send(v: ValidatorNode, p: PendingSign): void {
    if (p.done) return;
    p.sends++;
    this.stats.sends++;
    const sends = p.sends;
    const node = this.host.route(v.home);
    if (node !== null) this.host.send(node, p.request, (outcome) => this.answered(v, p, outcome));
    this.host.after(this.opts.resendMs, () => {
      if (p.done || p.sends !== sends) return;
      if (p.sends < this.opts.maxSends) return this.send(v, p);
      p.done = true;
      v.pending = null;
      this.stats.gaveUp++;
    });
  }

  private answered(v: ValidatorNode, p: PendingSign, outcome: SignOutcome): void {
    if (p.done) return;
    p.done = true;
    if (v.pending === p) v.pending = null;
    if (outcome.kind === 'refused') {
      this.stats.refused++;
      return;
    }
    this.stats.signed++;
    v.chain.signedAt.push(this.host.now());
    if (outcome.kind === 'signed-with-stored-timestamp') this.stats.signedWithStoredTimestamp++;
    if (p.firstSentAt >= this.healAt) v.chain.signedAfterHeal++;
  }
}

const NIL_BLOCK: BlockId = { hash: new Uint8Array(0), partSetHeader: { total: 0, hash: new Uint8Array(0) } };
