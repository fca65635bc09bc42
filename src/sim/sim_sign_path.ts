// The sign path of signer/sign_coordinator.ts, rule for rule, as simulator events instead of
// timers and promises, so that a seed replays it exactly (DESIGN.md, "The sign path"):
//
//   1. the receiving node answers from its own applied record: a refusal at once, a signature
//      only once the entry that wrote the record is applied on this node;
//   2. otherwise it forwards to the node it believes leads (an RPC that may be delayed, lost or
//      cut), or decides itself when it leads: the leader coalesces identical requests, batches
//      the rest into one entry (encodeSignerCommand), and answers {index, term, position} once
//      its own apply of that index shows the decision in the same term;
//   3. the receiving node waits until it has applied that index itself and releases only its OWN
//      decision for that position (same request, same term), or else what its own record says;
//   4. no leader, no quorum, a passed deadline: a refusal.
//
// Before all of it, as node/member_sign_coordinator.ts does: a node that is not a voter, or that
// runs on a store the membership does not name (a lost or replaced disk), refuses at once; it
// neither forwards nor proposes nor releases.
//
// The coordinator's awaits become continuations (host.after, host.waitApplied, host.call) that die
// with the node's process when it crashes and wait while it is paused. Two deliberately broken
// variants exist to show that the invariants catch them: `releaseBeforeCommit` and
// `releaseWithoutApply` (see SignPathOptions).

import { encodeCanonicalSignBytes, decodeCanonicalSignBytes } from '../privval/sign_bytes';
import { Timestamp } from '../privval/messages';
import { ProposalRefusedError } from '../raft/errors';
import type { Raft } from '../raft/raft';
import { incarnationOf, NodeId } from '../raft/types';
import { KeyRing } from '../signer/key_ring';
import type { LeaderAnswer } from '../signer/sign_coordinator';
import { encodeSignerCommand } from '../signer/signer_codec';
import type { SignerStateMachine } from '../signer/signer_state_machine';
import { sameSignRequest, SignOutcome, SignRefusalReason, SignRequest, signRequestKey } from '../signer/sign_types';
import { ReleasedSignature } from './signer_invariants';

/** What the sign path sees of a node that is up. */
export interface SignNodeView {
  readonly raft: Raft;
  readonly machine: SignerStateMachine;
}

/** The simulator, as the sign path uses it. Every continuation is bound to the node's current process. */
export interface SignPathHost {
  now(): number;
  /** The node while its process is up; null when crashed, decommissioned or unknown. */
  live(id: NodeId): SignNodeView | null;
  /** A number that changes whenever the node's process dies, so per-process state can be dropped. */
  epoch(id: NodeId): number;
  /** Runs `fn` on node `id` after `ms`, unless its process has died by then; waits while it is paused. */
  after(id: NodeId, ms: number, fn: () => void): void;
  /** The applied index the release check trusts: RaftNode.appliedDurably(), what its waitApplied waits for. */
  appliedIndex(id: NodeId): number;
  /** The last index whose state-machine writes the node's disk holds (for the checker only). */
  durableApplied(id: NodeId): number;
  /** Runs `fn` on node `id` once appliedIndex(id) >= index (at once if it already is), unless its process dies first. */
  waitApplied(id: NodeId, index: number, fn: () => void): void;
  /** Raft.propose on node `id` as its driver would run it (queued while a Ready is being persisted). */
  propose(id: NodeId, data: Uint8Array, done: (r: { index: number; term: number } | ProposalRefusedError) => void): void;
  /**
   * A unary RPC from `origin` to `target` over the simulated network: `serve` runs on the target,
   * its answer travels back to `onAnswer` on the origin. A target that is down (or dies while
   * serving) fails the call: `onFail` on the origin. A cut link or a lost message leaves the call
   * hanging (the origin's deadline ends it).
   */
  call<A>(origin: NodeId, target: NodeId, serve: (respond: (a: A) => void) => void, onAnswer: (a: A) => void, onFail: () => void): void;
  /** A signature leaves node `r.node` now. */
  released(r: ReleasedSignature): void;
}

export interface SignPathOptions {
  /** How long a request may take in all (sign_coordinator's deadlineMs). */
  deadlineMs: number;
  /** Most requests per log entry. */
  maxBatch?: number;
  /**
   * BROKEN, tests only: the leader signs a request above its record at once, before any entry for
   * it is committed (it still proposes one), and the receiving node releases what it is told.
   */
  releaseBeforeCommit?: boolean;
  /**
   * BROKEN, tests only: the receiving node releases the leader's outcome (the leader's own
   * signature) without applying the index itself, and answers from its in-memory record without
   * waiting until the entry that wrote it is applied on disk.
   */
  releaseWithoutApply?: boolean;
}

/** What the leader tells a forwarding node: the coordinator's answer, or in the broken variants an outcome to release. */
type SimLeaderAnswer = LeaderAnswer | { kind: 'outcome'; outcome: SignOutcome };

export interface SignPathStats {
  requests: number;
  signed: number;
  signedWithStoredTimestamp: number;
  refused: Partial<Record<SignRefusalReason, number>>;
  forwards: number;
  entries: number;
  coalesced: number;
  /** Refusals by a voter that runs on a store the membership does not name (notAVoterRefusal). */
  foreignStore: number;
}

const NO_LEADER_RETRY_MS = 10;
const DEFAULT_MAX_BATCH = 256;

interface Attempt {
  origin: NodeId;
  request: SignRequest;
  deadline: number;
  done: boolean;
  reply: (outcome: SignOutcome) => void;
}

type TicketResult = { index: number; term: number; position: number };

/** Identical requests in flight on a leader share one ticket (sign_coordinator's inFlight). */
interface Ticket {
  result: TicketResult | null;
  failed: boolean;
  waiters: { ok: (t: TicketResult) => void; fail: () => void }[];
}

/** A leader's per-process state: the batch being filled and the tickets in flight. */
interface LeaderState {
  epoch: number;
  batch: { request: SignRequest; ticket: Ticket }[];
  flushScheduled: boolean;
  inFlight: Map<string, Ticket>;
}

function refused(reason: SignRefusalReason, message: string): SignOutcome {
  return { kind: 'refused', reason, message };
}

/** The sign bytes a validator node ends up with when told to use the stored timestamp. */
export function withTimestamp(signBytes: Uint8Array, step: 1 | 2 | 3, timestamp: Timestamp): Uint8Array {
  const c = decodeCanonicalSignBytes(signBytes, step === 1 ? 'proposal' : 'vote');
  return encodeCanonicalSignBytes({ ...c, timestamp: { seconds: timestamp.seconds, nanos: timestamp.nanos } });
}

export class SimSignPath {
  readonly stats: SignPathStats = {
    requests: 0,
    signed: 0,
    signedWithStoredTimestamp: 0,
    refused: {},
    forwards: 0,
    entries: 0,
    coalesced: 0,
    foreignStore: 0,
  };
  private readonly leaders = new Map<NodeId, LeaderState>();
  private readonly maxBatch: number;

  constructor(
    private readonly host: SignPathHost,
    private readonly keys: KeyRing,
    private readonly opts: SignPathOptions,
  ) {
    this.maxBatch = opts.maxBatch ?? DEFAULT_MAX_BATCH;
  }

  /** A validator node's request arrives at node `origin` (which is up). `reply` is called at most once. */
  sign(origin: NodeId, request: SignRequest, reply: (outcome: SignOutcome) => void): void {
    this.stats.requests++;
    const att: Attempt = { origin, request, deadline: this.host.now() + this.opts.deadlineMs, done: false, reply };
    const notAVoter = this.notAVoterRefusal(origin);
    if (notAVoter) return this.finish(att, notAVoter);
    this.host.after(origin, this.opts.deadlineMs, () =>
      this.finish(att, refused('deadline', `the cluster did not decide within ${this.opts.deadlineMs} ms (no quorum, or no leader)`)),
    );
    const problem = this.chainProblem(request);
    if (problem) return this.finish(att, refused(problem.reason, problem.message));
    this.fromRecord(att, () => this.leaderLoop(att));
  }

  /**
   * Mirrors MemberSignCoordinator.notAVoterRefusal (node/member_sign_coordinator.ts), the check
   * production makes before its sign path runs: only a voter whose store is the one the
   * membership names signs; every other node refuses with reason 'no-leader'. Keep the two alike.
   */
  private notAVoterRefusal(id: NodeId): SignOutcome | null {
    const node = this.host.live(id);
    if (!node) return null;
    const status = node.raft.status();
    if (status.confState.voters.includes(id) && status.incarnationMatches) return null;
    const foreign = !status.incarnationMatches && status.confState.voters.includes(id);
    if (foreign) this.stats.foreignStore++;
    const what = foreign
      ? `node ${id} runs on a store the cluster does not know (its data was lost or replaced): it signs nothing until ` +
        `it is removed and added again as a learner under this store, then promoted`
      : status.isLearner
        ? `node ${id} is a learner (passive standby): it signs nothing until promoted`
        : `node ${id} is not a voting member of the cluster (not yet added, or removed): it signs nothing`;
    return refused('no-leader', what);
  }

  /** For the checker: the node's membership names it with another store than its own. */
  private namedWithAnotherStore(id: NodeId): boolean {
    const raft = this.host.live(id)?.raft;
    if (!raft) return false;
    const cs = raft.confState;
    return (cs.voters.includes(id) || cs.learners.includes(id)) && incarnationOf(cs, id) !== raft.incarnation;
  }

  private chainProblem(request: SignRequest): { reason: SignRefusalReason; message: string } | null {
    const key = this.keys.keyFor(request.chainId);
    if (!key) return { reason: 'unknown-chain', message: `chain ${JSON.stringify(request.chainId)} is not configured on this node` };
    if (!this.keys.keyMatching(request.chainId, request.pubKey)) return { reason: 'wrong-key', message: `chain ${request.chainId} is served with another key` };
    return null;
  }

  /**
   * Step 1 (releasableFromRecord): the node's own applied record answers. A refusal at once; a
   * signature only once the record's entry is applied here; `above` when a new entry is needed.
   */
  private fromRecord(att: Attempt, above: () => void): void {
    if (att.done) return;
    const node = this.host.live(att.origin);
    if (!node) return;
    const ev = node.machine.evaluate(att.request);
    if (ev.outcome === null) return above();
    if (ev.outcome.kind === 'refused') return this.finish(att, ev.outcome);
    if (this.opts.releaseWithoutApply || ev.recordIndex <= this.host.appliedIndex(att.origin)) return this.finish(att, ev.outcome);
    this.host.waitApplied(att.origin, ev.recordIndex, () => this.fromRecord(att, above));
  }

  /** Steps 2-3 (signUntil's loop): find the leader, have it decide, release on our own apply. */
  private leaderLoop(att: Attempt): void {
    if (att.done) return;
    if (this.host.now() >= att.deadline) return this.finish(att, refused('deadline', 'deadline passed'));
    const node = this.host.live(att.origin);
    if (!node) return;
    const leader = node.raft.leader;
    const retry = (): void => this.host.after(att.origin, NO_LEADER_RETRY_MS, () => this.leaderLoop(att));
    if (leader === null) return retry();
    const onAnswer = (a: SimLeaderAnswer): void => this.onAnswer(att, a, retry);
    if (leader === att.origin) return this.decideAsLeader(att.origin, att.request, att.deadline, onAnswer);
    this.stats.forwards++;
    this.host.call<SimLeaderAnswer>(
      att.origin,
      leader,
      (respond) => this.decideAsLeader(leader, att.request, att.deadline, respond),
      onAnswer,
      retry,
    );
  }

  private onAnswer(att: Attempt, a: SimLeaderAnswer, retry: () => void): void {
    if (att.done) return;
    switch (a.kind) {
      case 'refused':
        return this.finish(att, a.reason === 'deadline' ? refused('deadline', a.message) : refused(a.reason, a.message));
      case 'not-leader':
        return retry();
      case 'outcome':
        // Broken variants only: the leader's word is taken for it.
        return this.finish(att, a.outcome);
      case 'decided':
        return this.release(att, a);
    }
  }

  /** Step 4 (release): wait for our own apply of the index, then answer from our own decision or record. */
  private release(att: Attempt, a: { index: number; term: number; position: number }): void {
    this.host.waitApplied(att.origin, a.index, () => {
      if (att.done) return;
      const node = this.host.live(att.origin);
      if (!node) return;
      const decision = node.machine.decisionAt(a.index);
      if (decision && a.position >= 0 && decision.term === a.term) {
        const own = decision.signs[a.position];
        if (own && sameSignRequest(own.request, att.request)) return this.finish(att, own.outcome);
        return this.finish(att, refused('disagreement', `this node's entry ${a.index} does not hold the request the leader decided there`));
      }
      this.fromRecord(att, () =>
        this.finish(att, refused('disagreement', `this node applied index ${a.index} but its record does not hold the request`)),
      );
    });
  }

  /** The leader's half (decideAsLeader): where the request's fate is recorded; releases nothing. */
  private decideAsLeader(id: NodeId, request: SignRequest, deadline: number, answer: (a: SimLeaderAnswer) => void): void {
    let answered = false;
    const once = (a: SimLeaderAnswer): void => {
      if (answered) return;
      answered = true;
      answer(a);
    };
    const node = this.host.live(id);
    if (!node) return;
    const notLeader = (): void => {
      const leader = this.host.live(id)?.raft.leader ?? null;
      once({ kind: 'not-leader', leaderHint: leader === id ? null : leader });
    };
    if (node.raft.leader !== id) return once({ kind: 'not-leader', leaderHint: node.raft.leader });
    const problem = this.chainProblem(request);
    if (problem) return once({ kind: 'refused', ...problem });
    const ev = node.machine.evaluate(request);
    if (ev.outcome?.kind === 'refused') return once({ kind: 'refused', reason: ev.outcome.reason, message: ev.outcome.message });
    if (ev.outcome) return once({ kind: 'decided', index: ev.recordIndex, term: 0, position: -1 });
    if (this.opts.releaseBeforeCommit) {
      // BROKEN: decided on this node's say-so; the entry is proposed but nobody waits for it.
      this.proposeCoalesced(id, request, () => {}, () => {});
      const key = this.keys.keyMatching(request.chainId, request.pubKey);
      if (key) return once({ kind: 'outcome', outcome: { kind: 'signed', signature: key.sign(request.signBytes) } });
    }
    const remaining = deadline - this.host.now();
    if (remaining <= 0) return once({ kind: 'refused', reason: 'deadline', message: 'the leader could not commit the request in time (no quorum?)' });
    this.host.after(id, remaining, () =>
      once({ kind: 'refused', reason: 'deadline', message: 'the leader could not commit the request in time (no quorum?)' }),
    );
    this.proposeCoalesced(
      id,
      request,
      (ticket) =>
        this.host.waitApplied(id, ticket.index, () => {
          const decision = this.host.live(id)?.machine.decisionAt(ticket.index);
          if (!decision || decision.term !== ticket.term) return notLeader(); // ProposalLost
          if (this.opts.releaseWithoutApply) {
            const own = decision.signs[ticket.position];
            if (own) return once({ kind: 'outcome', outcome: own.outcome });
          }
          once({ kind: 'decided', ...ticket });
        }),
      notLeader,
    );
  }

  private leaderState(id: NodeId): LeaderState {
    const epoch = this.host.epoch(id);
    let st = this.leaders.get(id);
    if (!st || st.epoch !== epoch) {
      st = { epoch, batch: [], flushScheduled: false, inFlight: new Map() };
      this.leaders.set(id, st);
    }
    return st;
  }

  /** Joins an identical request in flight, or queues this one for the next entry. */
  private proposeCoalesced(id: NodeId, request: SignRequest, ok: (t: TicketResult) => void, fail: () => void): void {
    const st = this.leaderState(id);
    const key = signRequestKey(request);
    let ticket = st.inFlight.get(key);
    if (ticket) this.stats.coalesced++;
    else {
      const t: Ticket = { result: null, failed: false, waiters: [] };
      ticket = t;
      st.inFlight.set(key, t);
      st.batch.push({ request, ticket: t });
      if (!st.flushScheduled) {
        st.flushScheduled = true;
        this.host.after(id, 0, () => this.flush(id));
      }
      // Once its entry is applied the record answers identical requests; until then they share it.
      const forget = (): void => {
        if (st.inFlight.get(key) === t) st.inFlight.delete(key);
      };
      this.onTicket(t, (r) => this.host.waitApplied(id, r.index, forget), forget);
    }
    this.onTicket(ticket, ok, fail);
  }

  private onTicket(t: Ticket, ok: (r: TicketResult) => void, fail: () => void): void {
    if (t.result) ok(t.result);
    else if (t.failed) fail();
    else t.waiters.push({ ok, fail });
  }

  /** Proposes everything queued, in entries of at most maxBatch requests. */
  private flush(id: NodeId): void {
    const st = this.leaderState(id);
    st.flushScheduled = false;
    const queued = st.batch;
    st.batch = [];
    for (let start = 0; start < queued.length; start += this.maxBatch) {
      const chunk = queued.slice(start, start + this.maxBatch);
      const data = encodeSignerCommand({ kind: 'sign', requests: chunk.map((p) => p.request) });
      this.stats.entries++;
      this.host.propose(id, data, (r) => {
        chunk.forEach((p, position) => {
          const waiters = p.ticket.waiters;
          p.ticket.waiters = [];
          if (r instanceof ProposalRefusedError) {
            p.ticket.failed = true;
            for (const w of waiters) w.fail();
          } else {
            p.ticket.result = { index: r.index, term: r.term, position };
            for (const w of waiters) w.ok(p.ticket.result);
          }
        });
      });
    }
  }

  /** The answer leaves the node: a signature is recorded with the checker first. */
  private finish(att: Attempt, outcome: SignOutcome): void {
    if (att.done) return;
    att.done = true;
    if (outcome.kind === 'refused') {
      this.stats.refused[outcome.reason] = (this.stats.refused[outcome.reason] ?? 0) + 1;
    } else {
      const r = att.request;
      const stored = outcome.kind === 'signed-with-stored-timestamp';
      this.stats.signed++;
      if (stored) this.stats.signedWithStoredTimestamp++;
      this.host.released({
        chainId: r.chainId,
        pubKey: r.pubKey,
        height: r.height,
        round: r.round,
        step: r.step,
        requestBytes: r.signBytes,
        signedBytes: stored ? withTimestamp(r.signBytes, r.step, outcome.timestamp) : r.signBytes,
        signature: outcome.signature,
        storedTimestamp: stored,
        node: att.origin,
        durableApplied: this.host.durableApplied(att.origin),
        foreignStore: this.namedWithAnotherStore(att.origin),
      });
    }
    att.reply(outcome);
  }
}
