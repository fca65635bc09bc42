// Drives consensus heights for one chain through several validator-node stand-ins (one per
// raft-signer node), the way a set of sentry validator nodes sharing one validator key would ask
// for signatures: at each height a proposal from a rotating proposer, then a prevote and a
// precommit from every stand-in, each with its own timestamp. At a seeded rate they disagree (one
// prevotes the block, another nil or another block; two stand-ins propose different blocks), which
// is exactly what slashing protection must survive: at most one of them may get a signature.

import { createHash } from 'node:crypto';
import { SeededRandom } from '../raft/rng';
import { BlockId, Proposal, SignedMsgType, Timestamp, Vote, emptyVote } from '../cometbft/messages';
import { ValidatorStandin } from './validator_standin';
import { sleep } from '../util/sleep';

export type StepKind = 'proposal' | 'prevote' | 'precommit';

export interface RequestResult {
  standin: string;
  step: StepKind;
  /** What the stand-in asked for: 'block', 'other' (another block) or 'nil'. */
  choice: 'block' | 'other' | 'nil';
  /** signed; refused (RemoteSignerError); error (no answer: timeout or no connection). */
  outcome: 'signed' | 'refused' | 'error';
  message?: string;
  startedAt: number;
  latencyMs: number;
}

export interface HeightResult {
  chainId: string;
  height: bigint;
  startedAt: number;
  finishedAt: number;
  requests: RequestResult[];
  /** The proposal, a prevote and a precommit were each signed through at least one stand-in. */
  fullySigned: boolean;
}

export interface HeightDriverOptions {
  chainId: string;
  standins: ValidatorStandin[];
  /** Pause between the end of one height and the start of the next. */
  blockTimeMs: number;
  /** Probability that a height has a disagreeing stand-in (0..1). */
  disagreementRate: number;
  seed: number;
  /** First height (default 1). */
  startHeight?: bigint;
  /** Per request; the validator node's own deadline is 5 s. */
  requestTimeoutMs?: number;
  onHeight?: (result: HeightResult) => void;
}

function blockIdOf(tag: string): BlockId {
  const hash = createHash('sha256').update(tag).digest();
  return { hash, partSetHeader: { total: 1, hash: createHash('sha256').update(`${tag}/parts`).digest() } };
}

const NIL_BLOCK: BlockId = { hash: new Uint8Array(0), partSetHeader: { total: 0, hash: new Uint8Array(0) } };

function timestampNow(offsetMs: number): Timestamp {
  const ms = Date.now() + offsetMs;
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

export class HeightDriver {
  readonly results: HeightResult[] = [];
  private readonly random: SeededRandom;
  private running = false;
  private loop: Promise<void> | null = null;
  private height: bigint;

  constructor(private readonly options: HeightDriverOptions) {
    this.random = new SeededRandom(options.seed);
    this.height = options.startHeight ?? 1n;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops after the height in progress. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const result = await this.driveHeight(this.height);
      this.results.push(result);
      this.options.onHeight?.(result);
      this.height += 1n;
      if (this.running) await sleep(this.options.blockTimeMs);
    }
  }

  /** One height: proposal, then prevotes, then precommits. */
  async driveHeight(height: bigint): Promise<HeightResult> {
    const { standins, chainId } = this.options;
    const n = standins.length;
    const startedAt = Date.now();
    const block = blockIdOf(`${chainId}/${height}/block`);
    const other = blockIdOf(`${chainId}/${height}/other`);
    const disagree = this.random.chance(this.options.disagreementRate);
    // The disagreeing stand-in, and what it does: propose/vote another block, or vote nil.
    const dissenter = disagree ? this.random.nextInt(n) : -1;
    const dissent: 'other' | 'nil' = this.random.chance(0.5) ? 'other' : 'nil';
    // CometBFT rotates the proposer with the round: a proposer whose signer is gone misses its
    // round and the next round's proposer proposes. Modelled by starting at the first round whose
    // proposer has a signer connected.
    let round = 0;
    while (round < n - 1 && !standins[Number((height + BigInt(round)) % BigInt(n))].connected) round++;
    const proposer = Number((height + BigInt(round)) % BigInt(n));
    const requests: RequestResult[] = [];

    const proposals = [proposer];
    if (disagree && dissenter !== proposer) proposals.push(dissenter);
    requests.push(
      ...(await Promise.all(
        proposals.map((i) => {
          const choice = i === dissenter ? 'other' : 'block';
          const proposal: Proposal = {
            type: SignedMsgType.Proposal,
            height,
            round,
            polRound: -1,
            blockId: choice === 'other' ? other : block,
            timestamp: timestampNow(i),
            signature: new Uint8Array(0),
          };
          return this.ask(i, 'proposal', choice, () => standins[i].signProposal(chainId, proposal, { timeoutMs: this.timeout() }));
        }),
      )),
    );
    for (const step of ['prevote', 'precommit'] as const) {
      requests.push(
        ...(await Promise.all(
          standins.map((s, i) => {
            const choice = i === dissenter ? dissent : 'block';
            const vote: Vote = {
              ...emptyVote(),
              type: step === 'prevote' ? SignedMsgType.Prevote : SignedMsgType.Precommit,
              height,
              round,
              blockId: choice === 'block' ? block : choice === 'other' ? other : NIL_BLOCK,
              timestamp: timestampNow(i),
            };
            return this.ask(i, step, choice, () => s.signVote(chainId, vote, { timeoutMs: this.timeout() }));
          }),
        )),
      );
    }
    const signedStep = (step: StepKind): boolean => requests.some((r) => r.step === step && r.outcome === 'signed');
    return {
      chainId,
      height,
      startedAt,
      finishedAt: Date.now(),
      requests,
      fullySigned: signedStep('proposal') && signedStep('prevote') && signedStep('precommit'),
    };
  }

  private timeout(): number {
    return this.options.requestTimeoutMs ?? 5000;
  }

  private async ask(
    index: number,
    step: StepKind,
    choice: RequestResult['choice'],
    send: () => Promise<{ error: { description: string } | null }>,
  ): Promise<RequestResult> {
    const standin = this.options.standins[index];
    const startedAt = Date.now();
    const done = (outcome: RequestResult['outcome'], message?: string): RequestResult => ({
      standin: standin.history.source,
      step,
      choice,
      outcome,
      ...(message !== undefined ? { message } : {}),
      startedAt,
      latencyMs: Date.now() - startedAt,
    });
    // A validator node whose signer is not connected misses its vote; it does not hold up the
    // other validator nodes (each runs its own consensus), so it is not waited for.
    if (!standin.connected) return done('error', 'no signer connected');
    try {
      const response = await send();
      return response.error ? done('refused', response.error.description) : done('signed');
    } catch (e) {
      return done('error', (e as Error).message);
    }
  }
}
