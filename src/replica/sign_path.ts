// The sign path of one node (docs/design.md, "The sign path, step by step"), deterministic and
// host-neutral: every wait is a callback on the host's clock or on the driver, so the simulator
// replays it exactly and the node process runs the very same rules.
//
//   0. only a voter named with its own store signs: any other node refuses at once, and neither
//      forwards nor proposes nor releases ('not-a-voter');
//   1. the node's own applied record answers first: a refusal at once, a signature once the entry
//      that wrote the record is durably applied here (release_rule.ts);
//   2. otherwise the leader decides: a follower forwards the request; the leader coalesces
//      identical concurrent requests and batches new ones into one log entry, and answers where
//      the request's fate is recorded once its own apply shows the decision in the same term;
//   3. the entry commits, and every node applies it with the FilePV rules (SignerStateMachine);
//   4. this node releases a signature only after it has durably applied that index, and only from
//      its OWN decision or record (release_rule.ts), never from what the leader said.
// A forward is abandoned as soon as this node follows another leader; retries wake early on a
// role change; a leader that is stopping is asked again elsewhere. No leader, no quorum or a
// passed deadline gives a refusal; nothing is ever signed outside the log.

import type { Logger } from '../log/logger';
import { ProposalRefusedError } from '../raft/errors';
import type { KeyRing } from '../signer/key_ring';
import { encodeSignerCommand, ImportStateCommand, signRequestProblem } from '../signer/signer_codec';
import type { ImportOutcome, SignerStateMachine } from '../signer/signer_state_machine';
import { refused, SignRefusal, SignRefusalReason, SignRequest, signRequestKey } from '../cometbft/sign_types';
import { NodeStoppedError, ReplicaDriver } from './driver';
import type { Clock, SignForwarder, Timer } from './host';
import type { LeaderAnswer } from './leader_answer';
import { brokenRelease, BrokenRelease, DecidedAt, ReleaseAnswer, releaseRule } from './release_rule';
import { RaftSignerError } from '../util/errors';

export interface SignPathOptions {
  driver: ReplicaDriver;
  machine: SignerStateMachine;
  keys: KeyRing;
  clock: Clock;
  forwarder: SignForwarder;
  /** How long a request may take in all (below the validator node's read timeout). */
  deadlineMs: number;
  logger: Logger;
  /** Most requests per log entry; more wait for the next entry. */
  maxBatch?: number;
  /** BROKEN, tests only: the leader signs at once, before any entry commits, and the receiving node releases its word. */
  releaseBeforeCommit?: boolean;
  /** BROKEN, tests only: a node releases what it has not durably applied itself (release_rule.ts). */
  releaseWithoutApply?: boolean;
  /**
   * BROKEN, tests only: the release check trusts the core's own applied index, which runs ahead
   * of the disk while a snapshot from the leader is being written, instead of the driver's.
   */
  trustCoreApplied?: boolean;
  /** Where to count (the simulator shares one set across a node's processes and the cluster). */
  counters?: SignPathCounters;
}

/** How often a request without a leader to ask tries again (sooner on a role change). */
export const NO_LEADER_RETRY_MS = 10;
const DEFAULT_MAX_BATCH = 256;

/** Counters for metrics and the simulator's summary. */
export interface SignPathCounters {
  forwards: number;
  entries: number;
  coalesced: number;
  /** Refusals by a voter that runs on a store the membership does not name. */
  foreignStore: number;
}

type Ticket = { index: number; term: number; position: number };

/** Identical requests in flight on a leader share one ticket. */
interface SharedTicket {
  result: Ticket | null;
  error: Error | null;
  waiters: ((error: Error | null, ticket: Ticket | null) => void)[];
}

/** One request on its way through this node's sign path. */
interface Attempt {
  request: SignRequest;
  deadline: number;
  done: boolean;
  reply: (answer: ReleaseAnswer) => void;
  deadlineTimer: Timer | null;
}

export class SignPath {
  readonly counters: SignPathCounters;
  private readonly driver: ReplicaDriver;
  private readonly machine: SignerStateMachine;
  private readonly keys: KeyRing;
  private readonly clock: Clock;
  private readonly forwarder: SignForwarder;
  private readonly logger: Logger;
  private readonly maxBatch: number;
  private readonly broken: BrokenRelease | undefined;
  private batch: { request: SignRequest; ticket: SharedTicket }[] = [];
  private flushScheduled = false;
  private readonly inFlight = new Map<string, SharedTicket>();
  /** Requests waiting to retry: woken early when this node learns of a new role or leader. */
  private readonly retryWaiters = new Set<() => void>();
  /** Forwards in flight, each watching for this node to follow another leader. */
  private readonly leaderWatchers = new Set<() => void>();

  constructor(private readonly options: SignPathOptions) {
    this.counters = options.counters ?? { forwards: 0, entries: 0, coalesced: 0, foreignStore: 0 };
    this.driver = options.driver;
    this.machine = options.machine;
    this.keys = options.keys;
    this.clock = options.clock;
    this.forwarder = options.forwarder;
    this.logger = options.logger;
    this.maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    this.broken = options.releaseBeforeCommit ? 'trust-leader' : options.releaseWithoutApply ? 'release-without-apply' : undefined;
    // A hand-over is over as soon as this node hears of the new leader: retry then, not at the end
    // of the pause (a graceful stop of the leader should cost no more).
    this.driver.onRoleChange(() => {
      const waiters = [...this.retryWaiters];
      this.retryWaiters.clear();
      for (const wake of waiters) wake();
      for (const watch of [...this.leaderWatchers]) watch();
    });
  }

  get deadlineMs(): number {
    return this.options.deadlineMs;
  }

  publicKeyFor(chainId: string): Uint8Array | null {
    return this.keys.keyFor(chainId)?.publicKey ?? null;
  }

  /** The whole sign path for a request from a validator node or a tool; `reply` is called exactly once. */
  sign(request: SignRequest, timeoutMs: number, reply: (answer: ReleaseAnswer) => void): void {
    const att: Attempt = { request, deadline: this.clock.now() + Math.min(timeoutMs, this.options.deadlineMs), done: false, reply, deadlineTimer: null };
    const notAVoter = this.notAVoterRefusal();
    if (notAVoter) return this.finish(att, notAVoter);
    if (this.driver.isStopped()) return this.finish(att, this.stoppedRefusal());
    att.deadlineTimer = this.clock.after(att.deadline - this.clock.now(), () =>
      this.finish(att, refused('deadline', `the cluster did not decide within ${this.options.deadlineMs} ms (no quorum, or no leader)`)),
    );
    const invalid = signRequestProblem(request);
    if (invalid) return this.finish(att, refused('invalid-request', invalid));
    const problem = this.chainProblem(request);
    if (problem) return this.finish(att, problem);
    this.guard(att, () => this.consult(att, null));
  }

  /**
   * Null for a voter named with its own store; otherwise the refusal, saying what this node is and
   * what to do. A learner (the passive standby of an active-passive setup) must not drive the
   * chain's signing nor move a watermark; a node on a store the membership does not name (its data
   * was lost or replaced) must not vote with a past it no longer has.
   */
  notAVoterRefusal(): SignRefusal | null {
    const status = this.driver.status();
    const id = this.driver.id;
    const voter = status.confState.voters.includes(id);
    if (voter && status.incarnationMatches) return null;
    if (voter) {
      this.counters.foreignStore++;
      return refused(
        'not-a-voter',
        `node ${id} runs on a store the cluster does not know (its data was lost or replaced): it signs nothing until ` +
          `it is removed and added again as a learner under this store, then promoted`,
      );
    }
    return refused(
      'not-a-voter',
      status.isLearner
        ? `node ${id} is a learner (passive standby): it signs nothing until promoted (raft-signer cluster promote --id ${id})`
        : `node ${id} is not a voting member of the cluster (not yet added, or removed): it signs nothing`,
    );
  }

  /**
   * The leader's half, for a request forwarded by a follower (or arriving here while leading):
   * answers where the request's fate is recorded, without releasing anything itself. `answer` is
   * called exactly once.
   */
  decideAsLeader(request: SignRequest, timeoutMs: number, answer: (a: LeaderAnswer) => void): void {
    let answered = false;
    let timer: Timer | null = null;
    const once = (a: LeaderAnswer): void => {
      if (answered) return;
      answered = true;
      timer?.cancel();
      answer(a);
    };
    const notLeader = (): void => {
      const leader = this.driver.status().leader;
      once({ kind: 'not-leader', leaderHint: leader === this.driver.id ? null : leader });
    };
    if (this.driver.isStopped()) return once({ kind: 'refused', reason: 'node-stopped', message: `node ${this.driver.id} is stopping` });
    const status = this.driver.status();
    if (status.leader !== this.driver.id) return once({ kind: 'not-leader', leaderHint: status.leader });
    const invalid = signRequestProblem(request);
    if (invalid) return once({ kind: 'refused', reason: 'invalid-request', message: invalid });
    const problem = this.chainProblem(request);
    if (problem) return once({ kind: 'refused', reason: problem.reason, message: problem.message });
    const ev = this.machine.evaluate(request);
    if (ev.outcome?.kind === 'refused') return once({ kind: 'refused', reason: ev.outcome.reason, message: ev.outcome.message });
    if (ev.outcome) return once({ kind: 'decided', index: ev.recordIndex, term: 0, position: -1 });
    if (this.options.releaseBeforeCommit) {
      // BROKEN: decided on this node's say-so; the entry is proposed but nobody waits for it.
      this.proposeCoalesced(request, () => {});
      const key = this.keys.keyMatching(request.chainId, request.pubKey);
      if (key) return once({ kind: 'broken-outcome', outcome: { kind: 'signed', signature: key.sign(request.signBytes) } });
    }
    const remaining = Math.min(timeoutMs, this.options.deadlineMs);
    const deadlineRefusal: LeaderAnswer = { kind: 'refused', reason: 'deadline', message: 'the leader could not commit the request in time (no quorum?)' };
    if (remaining <= 0) return once(deadlineRefusal);
    timer = this.clock.after(remaining, () => once(deadlineRefusal));
    this.proposeCoalesced(request, (error, ticket) => {
      if (error || !ticket) {
        if (error instanceof NodeStoppedError) return once({ kind: 'refused', reason: 'node-stopped', message: error.message });
        if (!(error instanceof ProposalRefusedError)) this.logger.error('proposing a sign entry failed unexpectedly', { error: error?.message });
        return notLeader();
      }
      this.driver.waitApplied(ticket.index, () => {
        if (this.driver.appliedDurably() < ticket.index || this.driver.failure() !== null) {
          return once({ kind: 'refused', reason: 'node-stopped', message: this.driver.stoppedError().message });
        }
        const decision = this.machine.decisionAt(ticket.index);
        // Another leader's entry replaced ours: the request was not decided, ask again.
        if (!decision || decision.term !== ticket.term) return notLeader();
        if (this.options.releaseWithoutApply) {
          const own = decision.signs[ticket.position];
          if (own) return once({ kind: 'broken-outcome', outcome: own.outcome });
        }
        once({ kind: 'decided', ...ticket });
      });
    });
  }

  /**
   * Commits an imported priv_validator_state.json (leader only) and answers what applying it did:
   * it can only raise the watermark. `done(error)` when this node is not the leader
   * (ProposalRefusedError), it stops, the entry does not commit in time, or leadership changed.
   */
  importState(imp: ImportStateCommand, done: (error: Error | null, outcome?: ImportOutcome & { index: number }) => void): void {
    let data: Uint8Array;
    try {
      // The codec refuses what no node would accept (importProblem): nothing reaches the log.
      data = encodeSignerCommand({ kind: 'import-state', imports: [imp] });
    } catch (e) {
      return done(e as Error);
    }
    this.proposeAndApply(data, this.options.deadlineMs, 'the import', (error, ticket) => {
      if (error || !ticket) return done(error);
      const decision = this.machine.decisionAt(ticket.index);
      const outcome = decision?.term === ticket.term ? decision.imports[0] : undefined;
      if (!outcome) return done(new LeadershipChangedError('leadership changed before the import was committed; nothing was imported, try again'));
      done(null, { ...outcome, index: ticket.index });
    });
  }

  /**
   * A read barrier through the log, for reads that must include everything the cluster has
   * released (state export, and what a migration reads): Raft thesis 6.4 read-only queries, with a
   * log entry where the thesis uses ReadIndex, so the Raft core needs nothing new. The leader
   * appends an empty entry (every version applies it as a no-op) and waits until it has applied it
   * durably, still leading in the same term. Then that entry is committed under this leader, so
   * no other leader committed anything before it, and every entry committed before the read began,
   * hence every signature any node released, is in this node's applied records.
   */
  readBarrier(timeoutMs: number, done: (error: Error | null, at?: { index: number; term: number }) => void): void {
    this.proposeAndApply(new Uint8Array(0), timeoutMs, 'the read barrier', (error, ticket) => {
      if (error || !ticket) return done(error);
      // A node leads at most once per term, and a leader never replaces its own entries: still
      // leading in `term` means the entry applied at `index` is this barrier.
      const status = this.driver.status();
      if (status.leader !== this.driver.id || status.term !== ticket.term) {
        return done(new LeadershipChangedError(`leadership changed before the read barrier (entry ${ticket.index}) committed; nothing was read, try again`));
      }
      done(null, { index: ticket.index, term: ticket.term });
    });
  }

  // --- the receiving node's half --------------------------------------------------------------

  /** Steps 1 and 4: what the release rule says, waiting for this node's own apply where it asks. */
  private consult(att: Attempt, decided: DecidedAt | null): void {
    if (att.done) return;
    const verdict = releaseRule({ request: att.request, own: this.machine, durableApplied: this.appliedIndex(), decided, broken: this.broken });
    switch (verdict.kind) {
      case 'answer':
        // A node that stopped after an error (a failed write, a store it cannot trust) serves
        // nothing from its records any more, not even what it applied before.
        if (verdict.answer.kind !== 'refused' && this.driver.failure() !== null) return this.finish(att, this.stoppedRefusal());
        return this.finish(att, verdict.answer);
      case 'above':
        return this.leaderLoop(att);
      case 'wait':
        return this.driver.waitApplied(verdict.index, () =>
          this.guard(att, () => {
            if (this.appliedIndex() < verdict.index && this.driver.isStopped()) return this.finish(att, this.stoppedRefusal());
            this.consult(att, decided);
          }),
        );
    }
  }

  /** Steps 2-3: find the leader and have it decide; retry on no leader, not-leader and failures. */
  private leaderLoop(att: Attempt): void {
    if (att.done) return;
    if (this.clock.now() >= att.deadline) return this.finish(att, refused('deadline', `the cluster did not decide within ${this.options.deadlineMs} ms (no quorum, or no leader)`));
    if (this.driver.isStopped()) return this.finish(att, this.stoppedRefusal());
    const leader = this.driver.status().leader;
    if (leader === null) return this.retryPause(att);
    const onAnswer = (a: LeaderAnswer): void => this.guard(att, () => this.onLeaderAnswer(att, a));
    if (leader === this.driver.id) return this.decideAsLeader(att.request, att.deadline - this.clock.now(), onAnswer);
    this.counters.forwards++;
    let settled = false;
    const watch = (): void => {
      const now = this.driver.status().leader;
      // A leader that froze or was cut off keeps its callers waiting; once this node follows
      // another leader, ask that one (the old one's answer is not needed: nothing is released from it).
      if (now !== null && now !== leader) settle(() => this.leaderLoop(att));
    };
    const settle = (next: () => void): void => {
      if (settled) return;
      settled = true;
      this.leaderWatchers.delete(watch);
      call.cancel();
      this.guard(att, next);
    };
    this.leaderWatchers.add(watch);
    const call = this.forwarder.forward(
      leader,
      att.request,
      att.deadline - this.clock.now(),
      (a) => settle(() => this.onLeaderAnswer(att, a)),
      (error) =>
        settle(() => {
          this.logger.debug('forwarding to the leader failed; retrying', { leader, error: error.message });
          this.retryPause(att);
        }),
    );
    if (settled) call.cancel();
  }

  private onLeaderAnswer(att: Attempt, a: LeaderAnswer): void {
    if (att.done) return;
    switch (a.kind) {
      case 'refused':
        // A leader that is stopping says nothing about this request, only that it will not decide
        // it: ask whoever leads next, as when it cannot be reached at all.
        if (a.reason === 'node-stopped') return this.retryPause(att);
        return this.finish(att, refused(a.reason, a.message));
      case 'not-leader':
        return this.retryPause(att);
      case 'broken-outcome': {
        const answer = brokenRelease(this.broken, a.outcome);
        return this.finish(att, answer ?? refused('disagreement', 'the leader answered with an outcome, which is never released'));
      }
      case 'decided':
        return this.consult(att, { index: a.index, term: a.term, position: a.position });
    }
  }

  /** NO_LEADER_RETRY_MS, or less if this node learns of a new leader (or a new role) meanwhile. */
  private retryPause(att: Attempt): void {
    if (att.done) return;
    let woken = false;
    const wake = (): void => {
      if (woken) return;
      woken = true;
      timer.cancel();
      this.retryWaiters.delete(wake);
      this.guard(att, () => this.leaderLoop(att));
    };
    const timer = this.clock.after(NO_LEADER_RETRY_MS, wake);
    this.retryWaiters.add(wake);
  }

  // --- the leader's batching --------------------------------------------------------------------

  /** Joins an identical request already in flight, or queues this one for the next entry. */
  private proposeCoalesced(request: SignRequest, done: (error: Error | null, ticket: Ticket | null) => void): void {
    const key = signRequestKey(request);
    const existing = this.inFlight.get(key);
    if (existing) {
      this.counters.coalesced++;
      if (existing.result || existing.error) done(existing.error, existing.result);
      else existing.waiters.push(done);
      return;
    }
    const shared: SharedTicket = { result: null, error: null, waiters: [done] };
    this.inFlight.set(key, shared);
    // Once its entry is applied the record answers identical requests; until then they share it.
    const forget = (): void => {
      if (this.inFlight.get(key) === shared) this.inFlight.delete(key);
    };
    shared.waiters.push((error, ticket) => {
      if (error || !ticket) forget();
      else this.driver.waitApplied(ticket.index, forget);
    });
    this.batch.push({ request, ticket: shared });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.clock.soon(() => this.flush());
    }
  }

  /** Proposes everything queued, in entries of at most maxBatch requests. */
  private flush(): void {
    this.flushScheduled = false;
    const queued = this.batch;
    this.batch = [];
    for (let start = 0; start < queued.length; start += this.maxBatch) {
      const chunk = queued.slice(start, start + this.maxBatch);
      const settle = (error: Error | null, ticket: (position: number) => Ticket | null): void =>
        chunk.forEach((p, position) => {
          const t = ticket(position);
          p.ticket.result = t;
          p.ticket.error = error;
          for (const w of p.ticket.waiters.splice(0)) w(error, t);
        });
      let data: Uint8Array;
      try {
        data = encodeSignerCommand({ kind: 'sign', requests: chunk.map((p) => p.request) });
      } catch (e) {
        settle(e as Error, () => null);
        continue;
      }
      this.counters.entries++;
      this.driver.propose(data, (error, at) => settle(error, (position) => (at ? { index: at.index, term: at.term, position } : null)));
    }
  }

  /** Proposes `data` (leader only) and waits, up to `timeoutMs`, until this node applied it durably. */
  private proposeAndApply(data: Uint8Array, timeoutMs: number, what: string, done: (error: Error | null, ticket?: { index: number; term: number }) => void): void {
    let finished = false;
    let timer: Timer | null = null;
    const once = (error: Error | null, ticket?: { index: number; term: number }): void => {
      if (finished) return;
      finished = true;
      timer?.cancel();
      done(error, ticket);
    };
    let entry: number | null = null;
    // Armed before proposing: the answer comes in time even if the proposal itself is never answered.
    timer = this.clock.after(timeoutMs, () => once(new DeadlineError(`${what}${entry === null ? '' : ` (entry ${entry})`} was not committed within ${timeoutMs} ms (no quorum?)`)));
    this.driver.propose(data, (error, ticket) => {
      if (error || !ticket) return once(error);
      entry = ticket.index;
      this.driver.waitApplied(ticket.index, () => {
        if (this.driver.appliedDurably() < ticket.index) return once(this.driver.stoppedError());
        once(null, ticket);
      });
    });
  }

  // --- shared -----------------------------------------------------------------------------------

  private chainProblem(request: SignRequest): SignRefusal | null {
    const key = this.keys.keyFor(request.chainId);
    if (!key) return refused('unknown-chain', `chain ${JSON.stringify(request.chainId)} is not configured on this node`);
    if (!this.keys.keyMatching(request.chainId, request.pubKey)) {
      return refused('wrong-key', `chain ${request.chainId} is served with key ${key.address}, not the key asked for`);
    }
    return null;
  }

  /** The applied index the release rule trusts: the driver's durable one (BROKEN variant: the core's). */
  private appliedIndex(): number {
    return this.options.trustCoreApplied ? this.driver.raft.log.applied : this.driver.appliedDurably();
  }

  private stoppedRefusal(): SignRefusal {
    return refused('node-stopped', this.driver.stoppedError().message);
  }

  /** Runs a step of an attempt; a bug refuses the request (and is logged) instead of escaping into a timer. */
  private guard(att: Attempt, step: () => void): void {
    if (att.done) return;
    try {
      step();
    } catch (e) {
      this.logger.error('sign path failed unexpectedly; refusing', { error: (e as Error).message });
      this.finish(att, refused('node-stopped', `internal error: ${(e as Error).message}`));
    }
  }

  /** The answer leaves the sign path: a released signature (release_rule.ts) or a refusal. */
  private finish(att: Attempt, answer: ReleaseAnswer): void {
    if (att.done) return;
    att.done = true;
    att.deadlineTimer?.cancel();
    att.reply(answer);
  }
}

/** The entry did not commit and apply in time (no quorum?); nothing took effect that is known. */
export class DeadlineError extends RaftSignerError<{ code: 'DEADLINE'; reason: 'deadline' }> {
  readonly reason: SignRefusalReason = 'deadline';
  constructor(message: string) {
    super({ code: 'DEADLINE', reason: 'deadline' }, message);
    this.name = 'DeadlineError';
  }
}

/** Leadership changed before the entry committed; nothing took effect, try again. */
export class LeadershipChangedError extends RaftSignerError<{ code: 'LEADERSHIP_CHANGED' }> {
  constructor(message: string) {
    super({ code: 'LEADERSHIP_CHANGED' }, message);
    this.name = 'LeadershipChangedError';
  }
}
