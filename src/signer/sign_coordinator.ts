// The sign path of one node (DESIGN.md, "The sign path, step by step"):
//
//   1. check the request against this node's applied records: an identical committed request is
//      answered at once, a conflict or regression is refused at once;
//   2. otherwise the leader decides: a follower forwards the request over gRPC; the leader
//      coalesces identical concurrent requests and batches new ones into one log entry;
//   3. the entry commits, and every node applies it with the FilePV rules (SignerStateMachine);
//   4. this node releases a signature only after it has applied (durably) the index that decided
//      the request, and only from its OWN decision or record, never from what the leader said.
//
// No leader, no quorum or a passed deadline gives a refusal; nothing is ever signed outside the
// log. Signatures are never produced here: they come from the records the state machine wrote.

import { Logger } from '../log/logger';
import { NodeStoppedError, RaftNode } from '../node/raft_node';
import { ProposalRefusedError } from '../raft/errors';
import { NodeId, Role } from '../raft/types';
import { KeyRing } from './key_ring';
import { encodeSignerCommand, ImportStateCommand, signRequestProblem } from './signer_codec';
import { ImportOutcome, SignerStateMachine } from './signer_state_machine';
import { sameSignRequest, SignOutcome, SignPath, SignRefusalReason, SignRequest, signRequestKey } from './sign_types';

/** The leader's answer to "decide this request": where its fate is recorded in the log. */
export type LeaderAnswer =
  /**
   * Decided by the entry at `index` (term `term`), at `position` among its requests; position -1:
   * an identical request was already committed and the record written at `index` holds it.
   */
  | { kind: 'decided'; index: number; term: number; position: number }
  | { kind: 'refused'; reason: SignRefusalReason; message: string }
  | { kind: 'not-leader'; leaderHint: NodeId | null };

/** Sends a request to the leader (the gRPC Signer service); rejects when the leader cannot be reached. */
export interface LeaderForwarder {
  forward(leader: NodeId, request: SignRequest, timeoutMs: number): Promise<LeaderAnswer>;
}

export interface SignCoordinatorOptions {
  node: RaftNode;
  machine: SignerStateMachine;
  keys: KeyRing;
  forwarder: LeaderForwarder;
  /** How long a request may take in all (below the validator node's 5 s read timeout). */
  deadlineMs: number;
  logger: Logger;
  /** Most requests per log entry; more wait for the next entry. */
  maxBatch?: number;
}

const NO_LEADER_RETRY_MS = 10;
const DEFAULT_MAX_BATCH = 256;

class DeadlineExceeded extends Error {}

/** A read barrier (SignCoordinator.readBarrier) that did not complete: nothing may be read after it. */
export class ReadBarrierError extends Error {
  constructor(
    /** 'deadline': not committed in time (no quorum?); 'lost': this node stopped leading meanwhile. */
    readonly reason: 'deadline' | 'lost',
    message: string,
  ) {
    super(message);
    this.name = 'ReadBarrierError';
  }
}
const LEADER_CHANGED = Symbol('leader changed');
/** Our entry was replaced by another leader's: the request was not decided, ask again. */
class ProposalLost extends Error {}

interface Pending {
  request: SignRequest;
  resolve: (ticket: { index: number; term: number; position: number }) => void;
  reject: (err: Error) => void;
}

function refused(reason: SignRefusalReason, message: string): SignOutcome {
  return { kind: 'refused', reason, message };
}

export class SignCoordinator implements SignPath {
  private readonly node: RaftNode;
  private readonly machine: SignerStateMachine;
  private readonly keys: KeyRing;
  private readonly forwarder: LeaderForwarder;
  private readonly deadlineMs: number;
  private readonly logger: Logger;
  private readonly maxBatch: number;
  /** Requests waiting to go into the next entry. */
  private batch: Pending[] = [];
  private flushScheduled = false;
  /** Identical requests in flight on this leader share one entry. */
  private readonly inFlight = new Map<string, Promise<{ index: number; term: number; position: number }>>();
  /** Requests waiting to retry: woken early when this node learns of a new leader. */
  private readonly retryWaiters = new Set<() => void>();
  /** Forwards in flight, each watching for this node to follow another leader. */
  private readonly leaderWatchers = new Set<() => void>();

  constructor(options: SignCoordinatorOptions) {
    this.node = options.node;
    this.machine = options.machine;
    this.keys = options.keys;
    this.forwarder = options.forwarder;
    this.deadlineMs = options.deadlineMs;
    this.logger = options.logger;
    this.maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    // A leadership hand-over is over as soon as this node hears of the new leader: retry then,
    // not at the end of the retry pause (a graceful stop of the leader should cost no more).
    this.node.onRoleChange(() => {
      for (const wake of this.retryWaiters) wake();
      this.retryWaiters.clear();
      for (const watch of [...this.leaderWatchers]) watch();
    });
  }

  publicKeyFor(chainId: string): Uint8Array | null {
    return this.keys.keyFor(chainId)?.publicKey ?? null;
  }

  signExtension(chainId: string, extensionSignBytes: Uint8Array): Uint8Array {
    const key = this.keys.keyFor(chainId);
    if (!key) throw new Error(`no key for chain ${chainId}`);
    return key.sign(extensionSignBytes);
  }

  /** The whole sign path for a request from a validator node or a tool. Never rejects. */
  async sign(request: SignRequest, timeoutMs: number = this.deadlineMs): Promise<SignOutcome> {
    const deadline = Date.now() + Math.min(timeoutMs, this.deadlineMs);
    try {
      return await this.signUntil(request, deadline);
    } catch (e) {
      if (e instanceof DeadlineExceeded) {
        return refused('deadline', `the cluster did not decide within ${this.deadlineMs} ms (no quorum, or no leader)`);
      }
      if (e instanceof NodeStoppedError) return refused('node-stopped', e.message);
      this.logger.error('sign path failed unexpectedly; refusing', { error: (e as Error).message });
      return refused('node-stopped', `internal error: ${(e as Error).message}`);
    }
  }

  /**
   * The leader's half, for a request forwarded by a follower (or arriving here while leading):
   * answers where the request's fate is recorded, without releasing anything itself.
   */
  async decideAsLeader(request: SignRequest, timeoutMs: number): Promise<LeaderAnswer> {
    const deadline = Date.now() + Math.min(timeoutMs, this.deadlineMs);
    if (this.node.isStopped()) return { kind: 'refused', reason: 'node-stopped', message: `node ${this.node.id} is stopping` };
    const status = this.node.status();
    if (status.leader !== this.node.id) return { kind: 'not-leader', leaderHint: status.leader };
    const invalid = signRequestProblem(request);
    if (invalid) return { kind: 'refused', reason: 'invalid-request', message: invalid };
    const known = this.chainProblem(request);
    if (known) return { kind: 'refused', reason: known.reason, message: known.message };
    const ev = this.machine.evaluate(request);
    if (ev.outcome?.kind === 'refused') return { kind: 'refused', reason: ev.outcome.reason, message: ev.outcome.message };
    if (ev.outcome) return { kind: 'decided', index: ev.recordIndex, term: 0, position: -1 };
    try {
      const ticket = await this.withDeadline(this.proposeCoalesced(request), deadline);
      await this.waitApplied(ticket.index, deadline);
      const decision = this.machine.decisionAt(ticket.index);
      if (!decision || decision.term !== ticket.term) throw new ProposalLost();
      return { kind: 'decided', ...ticket };
    } catch (e) {
      if (e instanceof ProposalRefusedError || e instanceof ProposalLost) {
        return { kind: 'not-leader', leaderHint: this.node.status().leader === this.node.id ? null : this.node.status().leader };
      }
      if (e instanceof DeadlineExceeded) return { kind: 'refused', reason: 'deadline', message: 'the leader could not commit the request in time (no quorum?)' };
      if (e instanceof NodeStoppedError) return { kind: 'refused', reason: 'node-stopped', message: e.message };
      throw e;
    }
  }

  /**
   * Commits an imported priv_validator_state.json (leader only; ProposalRefusedError elsewhere)
   * and answers what applying it did: it can only raise the watermark.
   */
  async importState(imp: ImportStateCommand): Promise<ImportOutcome & { index: number }> {
    const deadline = Date.now() + this.deadlineMs;
    const { index, term } = await this.node.propose(encodeSignerCommand({ kind: 'import-state', imports: [imp] }));
    await this.waitApplied(index, deadline).catch((e: unknown) => {
      if (e instanceof DeadlineExceeded) throw new Error(`the import was not committed within ${this.deadlineMs} ms (no quorum?)`);
      throw e;
    });
    const decision = this.machine.decisionAt(index);
    const outcome = decision?.term === term ? decision.imports[0] : undefined;
    if (!outcome) throw new Error('leadership changed before the import was committed; nothing was imported, try again');
    return { ...outcome, index };
  }

  /**
   * A read barrier through the log, for reads that must include everything the cluster has
   * released (state export, and what a migration reads): Raft thesis 6.4 read-only queries, with a
   * log entry where the thesis uses ReadIndex, so the Raft core needs nothing new. The leader
   * appends an empty entry (every version applies it as a no-op) and waits until it has applied
   * it durably, still leading in the same term. Then that entry is committed under this leader,
   * so no other leader committed anything before it, and every entry committed before the read
   * began, hence every signature any node released (each released only for a committed entry), is
   * in this node's applied records. A read after this resolves sees them all.
   *
   * Throws ProposalRefusedError on a node that is not the leader, ReadBarrierError when the entry
   * does not commit in time or leadership changes meanwhile, NodeStoppedError when stopping.
   */
  async readBarrier(timeoutMs: number = this.deadlineMs): Promise<{ index: number; term: number }> {
    const deadline = Date.now() + timeoutMs;
    this.throwIfStopped();
    const { index, term } = await this.node.propose(new Uint8Array(0));
    try {
      await this.waitApplied(index, deadline);
    } catch (e) {
      if (e instanceof DeadlineExceeded) {
        throw new ReadBarrierError('deadline', `the read barrier (entry ${index}) was not committed within ${timeoutMs} ms (no quorum?)`);
      }
      throw e;
    }
    // A node leads at most once per term, and a leader never replaces its own entries: still
    // leading in `term` means the entry applied at `index` is this barrier.
    const status = this.node.status();
    if (status.role !== Role.Leader || status.term !== term) {
      throw new ReadBarrierError('lost', `leadership changed before the read barrier (entry ${index}) committed; nothing was read, try again`);
    }
    return { index, term };
  }

  private chainProblem(request: SignRequest): { reason: SignRefusalReason; message: string } | null {
    const key = this.keys.keyFor(request.chainId);
    if (!key) return { reason: 'unknown-chain', message: `chain ${JSON.stringify(request.chainId)} is not configured on this node` };
    if (!this.keys.keyMatching(request.chainId, request.pubKey)) {
      return { reason: 'wrong-key', message: `chain ${request.chainId} is served with key ${key.address}, not the key asked for` };
    }
    return null;
  }

  private async signUntil(request: SignRequest, deadline: number): Promise<SignOutcome> {
    const invalid = signRequestProblem(request);
    if (invalid) return refused('invalid-request', invalid);
    const problem = this.chainProblem(request);
    if (problem) return refused(problem.reason, problem.message);
    const known = await this.releasableFromRecord(request, deadline);
    if (known) return known;
    for (;;) {
      if (Date.now() >= deadline) throw new DeadlineExceeded();
      this.throwIfStopped();
      const leader = this.node.status().leader;
      let answer: LeaderAnswer;
      if (leader === null) {
        await this.retryPause();
        continue;
      } else if (leader === this.node.id) {
        answer = await this.decideAsLeader(request, deadline - Date.now());
      } else {
        try {
          const forwarded = await this.untilLeaderChanges(leader, this.forwarder.forward(leader, request, deadline - Date.now()));
          // A leader that froze or was cut off keeps its callers waiting; once this node follows
          // another leader, ask that one (the old one's answer, if it ever comes, is not needed:
          // nothing is released from it).
          if (forwarded === LEADER_CHANGED) continue;
          answer = forwarded;
        } catch (e) {
          this.logger.debug('forwarding to the leader failed; retrying', { leader, error: (e as Error).message });
          await this.retryPause();
          continue;
        }
        // A leader that is stopping says nothing about this request, only that it will not decide
        // it: ask whoever leads next (a leader stopped without handing over, or before its
        // followers heard of the hand-over), as when it cannot be reached at all.
        if (answer.kind === 'refused' && answer.reason === 'node-stopped') {
          await this.retryPause();
          continue;
        }
      }
      if (answer.kind === 'refused') {
        if (answer.reason === 'deadline') throw new DeadlineExceeded();
        return refused(answer.reason, answer.message);
      }
      if (answer.kind === 'not-leader') {
        await this.retryPause();
        continue;
      }
      return this.release(request, answer, deadline);
    }
  }

  /**
   * Step 4: the release check on THIS node. Waits until this node has durably applied the index
   * that decided the request, then answers from its own decision for that entry (or, when that
   * decision is no longer kept, from its own record).
   */
  private async release(request: SignRequest, answer: { index: number; term: number; position: number }, deadline: number): Promise<SignOutcome> {
    await this.waitApplied(answer.index, deadline);
    const decision = this.machine.decisionAt(answer.index);
    if (decision && answer.position >= 0 && decision.term === answer.term) {
      const own = decision.signs[answer.position];
      if (own && sameSignRequest(own.request, request)) return own.outcome;
      this.logger.error('this node applied another request at the index the leader named; refusing', { index: answer.index });
      return refused('disagreement', `this node's entry ${answer.index} does not hold the request the leader decided there`);
    }
    const fromRecord = await this.releasableFromRecord(request, deadline);
    if (fromRecord) return fromRecord;
    this.logger.error('the leader said the request was decided, but this node has no record of it; refusing', { index: answer.index });
    return refused('disagreement', `this node applied index ${answer.index} but its record does not hold the request`);
  }

  /**
   * Step 1: the answer the node's own applied record gives, or null when the request is above the
   * record (it needs a new entry). A signature is returned only once the entry that wrote the
   * record is durably applied here; a refusal at once (refusing is always safe).
   */
  private async releasableFromRecord(request: SignRequest, deadline: number): Promise<SignOutcome | null> {
    for (;;) {
      const ev = this.machine.evaluate(request);
      if (ev.outcome === null || ev.outcome.kind === 'refused') return ev.outcome;
      if (ev.recordIndex <= this.node.appliedDurably()) return ev.outcome;
      await this.waitApplied(ev.recordIndex, deadline);
    }
  }

  /** The promise's value, or LEADER_CHANGED as soon as this node knows a leader other than `leader`. */
  private untilLeaderChanges<T>(leader: NodeId, promise: Promise<T>): Promise<T | typeof LEADER_CHANGED> {
    return new Promise<T | typeof LEADER_CHANGED>((resolve, reject) => {
      const watch = (): void => {
        const now = this.node.status().leader;
        if (now !== null && now !== leader) {
          this.leaderWatchers.delete(watch);
          resolve(LEADER_CHANGED);
        }
      };
      this.leaderWatchers.add(watch);
      promise.then(
        (v) => {
          this.leaderWatchers.delete(watch);
          resolve(v);
        },
        (e: unknown) => {
          this.leaderWatchers.delete(watch);
          reject(e as Error);
        },
      );
    });
  }

  /** NO_LEADER_RETRY_MS, or less if this node learns of a new leader (or a new role) meanwhile. */
  private retryPause(): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.retryWaiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, NO_LEADER_RETRY_MS);
      this.retryWaiters.add(wake);
    });
  }

  private async waitApplied(index: number, deadline: number): Promise<void> {
    await this.withDeadline(this.node.waitApplied(index), deadline);
    if (this.node.appliedDurably() < index) this.throwIfStopped();
  }

  private throwIfStopped(): void {
    if (!this.node.isStopped()) return;
    const failure = this.node.failure();
    throw new NodeStoppedError(failure ? `node stopped: ${failure.message}` : 'node is stopping');
  }

  private withDeadline<T>(promise: Promise<T>, deadline: number): Promise<T> {
    const ms = deadline - Date.now();
    if (ms <= 0) return Promise.reject(new DeadlineExceeded());
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new DeadlineExceeded()), ms);
      promise.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e as Error);
        },
      );
    });
  }

  /** Joins an identical request already in flight, or queues this one for the next entry. */
  private proposeCoalesced(request: SignRequest): Promise<{ index: number; term: number; position: number }> {
    const key = signRequestKey(request);
    const existing = this.inFlight.get(key);
    if (existing) return existing;
    const ticket = new Promise<{ index: number; term: number; position: number }>((resolve, reject) => {
      this.batch.push({ request, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
    this.inFlight.set(key, ticket);
    // Once its entry is applied the record answers identical requests; until then they share it.
    const forget = (): void => {
      this.inFlight.delete(key);
    };
    ticket.then(
      (t) => void this.node.waitApplied(t.index).then(forget),
      forget,
    );
    return ticket;
  }

  /** Proposes everything queued, in entries of at most maxBatch requests. */
  private flush(): void {
    this.flushScheduled = false;
    const queued = this.batch;
    this.batch = [];
    for (let start = 0; start < queued.length; start += this.maxBatch) {
      const chunk = queued.slice(start, start + this.maxBatch);
      let data: Uint8Array;
      try {
        data = encodeSignerCommand({ kind: 'sign', requests: chunk.map((p) => p.request) });
      } catch (e) {
        chunk.forEach((p) => p.reject(e as Error));
        continue;
      }
      this.node.propose(data).then(
        ({ index, term }) => chunk.forEach((p, position) => p.resolve({ index, term, position })),
        (e: unknown) => chunk.forEach((p) => p.reject(e as Error)),
      );
    }
  }
}
