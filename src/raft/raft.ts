// The Raft consensus core: a pure, synchronous, deterministic state machine in the manner of
// etcd-io/raft. It does no I/O and keeps no clock: the driver calls tick() on a timer, step() for
// each message, propose() for new data, then ready() / advance() to persist, apply and send (the
// contract is spelled out on `Ready` in types.ts). Randomness comes from an injected source.
//
// Features: leader election with randomized timeouts, pre-vote (thesis 9.6), check-quorum and
// leader stickiness (thesis 4.2.3 / 9.6), fast log backtracking, flow control per follower,
// leadership transfer (thesis 3.10), learners and single-server membership changes (thesis 4.1),
// snapshots and log compaction (thesis 5).

import { applyConfChange, ConfChange, ConfChangeError, decodeConfChange, encodeConfChange } from './confchange';
import { ProposalRefusedError, RaftUsageError } from './errors';
import { Progress } from './progress';
import { emptySnapshot, RaftLog, RaftLogView } from './raft_log';
import { RandomSource } from './rng';
import {
  ConfState,
  Entry,
  EntryType,
  HardState,
  Incarnation,
  incarnationOf,
  Message,
  MessageType,
  NodeId,
  ProgressState,
  RaftStatus,
  Ready,
  Role,
  Snapshot,
  SoftState,
} from './types';

export interface RaftConfig {
  id: NodeId;
  /**
   * This node's store (RaftStorage.storeId). The node campaigns and leads only while the
   * membership names it with this incarnation, and every message it sends carries it. Default ''
   * (unit tests without stores).
   */
  incarnation?: Incarnation;
  /** Ticks between heartbeats from the leader. */
  heartbeatTicks: number;
  /**
   * Base election timeout in ticks; each node waits a random number of ticks in
   * [electionTicks, 2 * electionTicks) without hearing from a leader before it campaigns.
   */
  electionTicks: number;
  random: RandomSource;
  /** Max entries in one append message. */
  maxAppendEntries?: number;
  /** Max data bytes in one append message (at least one entry always goes). */
  maxAppendBytes?: number;
  /** Max unacknowledged appends per follower in replicate state. */
  maxInflightAppends?: number;
  /** Max unacknowledged data bytes per follower in replicate state. */
  maxInflightBytes?: number;
}

/** What the driver loaded from disk. A brand-new node passes nothing (or bootstrapState()). */
export interface RaftPersistedState {
  hardState: HardState;
  snapshot: Snapshot | null;
  /** The entries after the snapshot, contiguous. */
  entries: Entry[];
  /**
   * How far the state machine's own durable state has applied (defaults to the snapshot index):
   * entries after it are handed out again as committed entries.
   */
  applied?: number;
}

const NONE: NodeId = '';

/**
 * The persisted state of a founding member before its first start: entry 1 records the initial
 * voters and is committed. Every founding node writes the same entry, so they agree from index 1.
 * A node that joins an existing cluster later starts empty instead and learns the membership from
 * the leader (by log or snapshot).
 */
export function bootstrapState(voters: NodeId[], incarnations?: Record<NodeId, Incarnation>): RaftPersistedState {
  const sorted = [...voters].sort();
  const founding = incarnations ? Object.fromEntries(sorted.map((id) => [id, incarnations[id] ?? ''])) : undefined;
  const entry: Entry = {
    term: 1,
    index: 1,
    type: EntryType.ConfChange,
    data: encodeConfChange(founding ? { type: 'bootstrap', voters: sorted, incarnations: founding } : { type: 'bootstrap', voters: sorted }),
  };
  return { hardState: { term: 1, vote: NONE, commit: 1 }, snapshot: null, entries: [entry] };
}

export class Raft {
  readonly id: NodeId;
  readonly incarnation: Incarnation;
  // The core's state is read through these getters and status(); only the core changes it.
  private _term = 0;
  private _vote: NodeId = NONE;
  private _leader: NodeId | null = null;
  private _role: Role = Role.Follower;
  protected readonly raftLog: RaftLog;
  private _confState: ConfState;
  /** confState reflects every committed change up to this index. */
  private confIndex = 0;

  private readonly heartbeatTicks: number;
  private readonly electionTicks: number;
  private randomizedElectionTicks = 0;
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private readonly random: RandomSource;
  private readonly maxAppendEntries: number;
  private readonly maxAppendBytes: number;
  private readonly maxInflightAppends: number;
  private readonly maxInflightBytes: number;

  /** Leader only: one entry per member (including this node). */
  protected progress = new Map<NodeId, Progress>();
  /** Candidate / pre-candidate: votes received in the current campaign. */
  protected votes = new Map<NodeId, boolean>();
  private msgs: Message[] = [];
  /** Leader: index of the last membership change in the log (a new one waits until it commits). */
  private pendingConfIndex = 0;
  /** Leader: target of a leadership transfer in progress. */
  private _transferee: NodeId | null = null;
  /** Leader: new entries were proposed; ready() broadcasts them once, batched. */
  private broadcastPending = false;

  private prevSoftState: SoftState;
  private prevHardState: HardState;
  /** Set between ready() and advance(): the Ready handed out and not yet acknowledged. */
  private inFlightReady: Ready | null = null;
  /** The last log index on disk (as of the last advance()): what a commit index sent early may cover. */
  private durableLastIndex: number;

  constructor(config: RaftConfig, persisted?: RaftPersistedState) {
    if (!config.id) throw new RaftUsageError('a node id must not be empty');
    if (config.heartbeatTicks < 1 || config.electionTicks <= config.heartbeatTicks) {
      throw new RaftUsageError(
        `electionTicks (${config.electionTicks}) must exceed heartbeatTicks (${config.heartbeatTicks}) >= 1`,
      );
    }
    this.id = config.id;
    this.incarnation = config.incarnation ?? '';
    this.heartbeatTicks = config.heartbeatTicks;
    this.electionTicks = config.electionTicks;
    this.random = config.random;
    this.maxAppendEntries = config.maxAppendEntries ?? 256;
    this.maxAppendBytes = config.maxAppendBytes ?? 1024 * 1024;
    this.maxInflightAppends = config.maxInflightAppends ?? 64;
    this.maxInflightBytes = config.maxInflightBytes ?? 16 * 1024 * 1024;

    const state = persisted ?? { hardState: { term: 0, vote: NONE, commit: 0 }, snapshot: null, entries: [] };
    const snapshot = state.snapshot ?? emptySnapshot();
    this.raftLog = new RaftLog(snapshot, state.entries, state.hardState.commit, state.applied ?? snapshot.metadata.index);
    this._term = state.hardState.term;
    this._vote = state.hardState.vote;
    // The membership is a function of the snapshot and the committed log (see confchange.ts).
    this._confState = this.confStateAt(this.raftLog.commit);
    this.confIndex = this.raftLog.commit;
    this.resetProgress();
    this.becomeFollower(this._term, null);
    this.prevSoftState = this.softState();
    this.prevHardState = this.hardState();
    this.durableLastIndex = this.raftLog.lastIndex();
  }

  get term(): number {
    return this._term;
  }

  get vote(): NodeId {
    return this._vote;
  }

  get leader(): NodeId | null {
    return this._leader;
  }

  get role(): Role {
    return this._role;
  }

  /** The membership this node applies (replaced, never mutated, when it changes). */
  get confState(): ConfState {
    return this._confState;
  }

  get transferee(): NodeId | null {
    return this._transferee;
  }

  /** The log, read-only: only the core changes it. */
  get log(): RaftLogView {
    return this.raftLog;
  }

  // ---------------------------------------------------------------------------------------------
  // The driver's API

  /** One tick of the logical clock. */
  tick(): void {
    this.assertNotInReady('tick');
    if (this._role === Role.Leader) this.tickLeader();
    else this.tickElection();
  }

  /** Feeds a message from another node. Messages from unknown or stale senders are ignored. */
  step(m: Message): void {
    this.assertNotInReady('step');
    this.stepMessage(m);
  }

  /**
   * Appends `data` to the log as leader. Returns the entry's index and term: the proposal is
   * committed when an entry with that index AND that term is applied (a different term at that
   * index means it was lost to a leader change). Throws ProposalRefusedError otherwise.
   */
  propose(data: Uint8Array): { index: number; term: number } {
    this.assertNotInReady('propose');
    this.checkCanPropose();
    return this.appendLocal(EntryType.Normal, data);
  }

  /** Proposes a membership change (thesis 4.1: one server at a time). */
  proposeConfChange(cc: ConfChange): { index: number; term: number } {
    this.assertNotInReady('proposeConfChange');
    this.checkCanPropose();
    if (cc.type === 'bootstrap') {
      throw new ProposalRefusedError('invalid-conf-change', 'a running cluster cannot be bootstrapped again');
    }
    if (this.pendingConfIndex > this.raftLog.commit) {
      throw new ProposalRefusedError(
        'conf-change-pending',
        `a membership change (entry ${this.pendingConfIndex}) is still being committed; retry when it is`,
        this._leader,
      );
    }
    if (this.raftLog.term(this.raftLog.commit) !== this._term) {
      // Without this rule a leader could apply a change on top of an uncommitted one from an
      // earlier term and two disjoint majorities could form (the single-server change bug).
      throw new ProposalRefusedError(
        'term-not-committed',
        'the new leader has not committed an entry of its own term yet; retry in a moment',
        this._leader,
      );
    }
    try {
      applyConfChange(this._confState, cc);
    } catch (e) {
      throw new ProposalRefusedError('invalid-conf-change', (e as Error).message, this._leader);
    }
    if (cc.type === 'promote') {
      const pr = this.progress.get(cc.node);
      if (!pr || pr.state !== ProgressState.Replicate || !pr.recentActive) {
        throw new ProposalRefusedError(
          'learner-not-caught-up',
          `learner ${cc.node} is not replicating yet (match ${pr?.match ?? 0}, commit ${this.raftLog.commit}); promote it once it has caught up`,
          this._leader,
        );
      }
    }
    const result = this.appendLocal(EntryType.ConfChange, encodeConfChange(cc));
    this.pendingConfIndex = result.index;
    return result;
  }

  /**
   * Hands leadership to `to` (thesis 3.10): bring it up to date, then send TimeoutNow so it
   * campaigns at once. Proposals are refused until the transfer ends; it is abandoned after an
   * election timeout.
   */
  transferLeadership(to: NodeId): void {
    this.assertNotInReady('transferLeadership');
    if (this._role !== Role.Leader) {
      throw new ProposalRefusedError('not-leader', `${this.id} is not the leader`, this._leader);
    }
    if (to === this.id) return;
    if (!this._confState.voters.includes(to)) {
      throw new ProposalRefusedError('invalid-conf-change', `${to} is not a voter and cannot become leader`, this.id);
    }
    if (this._transferee === to) return;
    this._transferee = to;
    this.electionElapsed = 0;
    const pr = this.progress.get(to) as Progress;
    if (pr.match === this.raftLog.lastIndex()) this.send({ type: MessageType.TimeoutNow, to });
    else this.sendAppend(to);
  }

  /** Starts an election now (as a timeout would). For tests and tools. */
  campaign(): void {
    this.assertNotInReady('campaign');
    this.hup(false);
  }

  /**
   * The state machine has made a snapshot of itself at `index` (which it has applied): keep it
   * and drop the log up to there. The next Ready carries it as `compaction` for the driver to store.
   */
  compact(index: number, data: Uint8Array): void {
    this.assertNotInReady('compact');
    if (index > this.raftLog.applied) {
      throw new RaftUsageError(`cannot compact at ${index}: only ${this.raftLog.applied} is applied`);
    }
    if (index <= this.raftLog.snapshot.metadata.index) return;
    this.raftLog.compact(index, data, this.confStateAt(index));
  }

  /** The transport could not deliver to `to`: stop streaming to it and probe again. */
  reportUnreachable(to: NodeId): void {
    this.assertNotInReady('reportUnreachable');
    if (this._role !== Role.Leader) return;
    const pr = this.progress.get(to);
    if (pr && pr.state === ProgressState.Replicate) pr.becomeProbe();
  }

  /**
   * The transport has strong evidence that `peer`'s process is gone: its port refuses connections
   * (a crashed process on a live host). If it is this follower's leader, forget it, as
   * etcd-io/raft's ForgetLeader does: a leaderless follower grants pre-votes at once instead of
   * holding the leader's lease for an election timeout. And campaign soon, staggered by rank
   * among the remaining voters (one heartbeat apart twice over) so that the survivors, who all saw
   * the same refusal, do not split the vote. Only liveness changes: pre-vote and vote run as
   * always, and a follower that did not see the refusal still protects a live leader's lease.
   */
  reportPeerDown(peer: NodeId): void {
    this.assertNotInReady('reportPeerDown');
    if (this._role !== Role.Follower || this._leader !== peer || !this.promotable()) return;
    this._leader = null;
    const rank = this._confState.voters.filter((v) => v !== peer).sort().indexOf(this.id);
    const ticksLeft = 1 + 2 * rank * this.heartbeatTicks;
    this.electionElapsed = Math.max(this.electionElapsed, this.randomizedElectionTicks - ticksLeft);
  }

  hasReady(): boolean {
    if (this.broadcastPending) return true;
    if (this.msgs.length > 0) return true;
    if (this.raftLog.unstableEntries().length > 0 || this.raftLog.pendingRestore || this.raftLog.pendingCompaction) return true;
    if (this.raftLog.commit > this.raftLog.applied) return true;
    if (!sameHardState(this.hardState(), this.prevHardState)) return true;
    return !sameSoftState(this.softState(), this.prevSoftState);
  }

  /** The next batch of work; see the persistence contract on `Ready` in types.ts. */
  ready(): Ready {
    this.assertNotInReady('ready');
    if (this.broadcastPending) {
      this.broadcastPending = false;
      this.broadcastAppend();
    }
    const soft = this.softState();
    const hard = this.hardState();
    const hardChanged = !sameHardState(hard, this.prevHardState);
    const entries = this.raftLog.unstableEntries();
    const rd: Ready = {
      entries,
      logFirstIndex: this.raftLog.firstIndex(),
      logLastIndex: this.raftLog.lastIndex(),
      committedEntries: this.raftLog.nextCommitted(),
      messagesNow: [],
      messagesAfterPersist: [],
      mustSync: false,
    };
    if (!sameSoftState(soft, this.prevSoftState)) rd.softState = soft;
    if (hardChanged) rd.hardState = hard;
    if (this.raftLog.pendingRestore) rd.snapshot = this.raftLog.pendingRestore;
    if (this.raftLog.pendingCompaction) rd.compaction = this.raftLog.pendingCompaction;
    // Applied entries too: the driver writes the state machine's records in this batch, and a
    // signature is released only once they are durable.
    rd.mustSync = hardChanged || entries.length > 0 || rd.committedEntries.length > 0 || rd.snapshot !== undefined || rd.compaction !== undefined;
    this.splitMessages(rd, hard);
    this.msgs = [];
    this.inFlightReady = rd;
    return rd;
  }

  /**
   * Which of this Ready's messages may be sent before its batch is durable (thesis 10.2.1: the
   * leader writes its log in parallel with replicating it). Every response, and everything while
   * a change of term or vote or a snapshot is not yet on disk, waits: vote grants and append
   * acknowledgements promise durable state. What may go at once is this leader's own Append or
   * Heartbeat:
   *  - the entries it carries may still be on their way to the leader's own disk;
   *  - but the commit index it carries must not exceed what the leader's own disk holds. The core
   *    counts the leader's own entries towards a commit as soon as they are appended; a commit
   *    index that covered entries not yet durable here could let a follower apply, and release,
   *    an entry that a crash of the leader then leaves on a minority of disks (a leader that is a
   *    quorum alone commits on appending). Such a message waits for the batch like the rest.
   * The acknowledgements of early entries are stepped only after the batch is written (nothing is
   * stepped between ready() and advance()). This lets the leader tell followers a new commit index
   * while it writes its own apply, and send new entries while it writes them itself.
   */
  private splitMessages(rd: Ready, hard: HardState): void {
    const termVoteDurable = hard.term === this.prevHardState.term && hard.vote === this.prevHardState.vote;
    if (!termVoteDurable || rd.snapshot !== undefined) {
      rd.messagesAfterPersist = this.msgs;
      return;
    }
    for (const m of this.msgs) {
      const leaderMessage = m.type === MessageType.Append || m.type === MessageType.Heartbeat;
      if (leaderMessage && m.from === this.id && m.commit <= this.durableLastIndex) rd.messagesNow.push(m);
      else rd.messagesAfterPersist.push(m);
    }
  }

  /** The driver has done everything the last Ready asked: its batch is durable. */
  advance(): void {
    const rd = this.inFlightReady;
    if (!rd) throw new RaftUsageError('advance() without a preceding ready()');
    this.inFlightReady = null;
    this.durableLastIndex = rd.logLastIndex;
    if (rd.softState) this.prevSoftState = rd.softState;
    if (rd.hardState) this.prevHardState = rd.hardState;
    if (rd.entries.length > 0) {
      this.raftLog.stableLast = Math.max(this.raftLog.stableLast, rd.entries[rd.entries.length - 1].index);
    }
    if (rd.snapshot && this.raftLog.pendingRestore === rd.snapshot) this.raftLog.pendingRestore = null;
    if (rd.compaction && this.raftLog.pendingCompaction === rd.compaction) this.raftLog.pendingCompaction = null;
    if (rd.committedEntries.length > 0) {
      this.raftLog.applied = rd.committedEntries[rd.committedEntries.length - 1].index;
    }
  }

  status(): RaftStatus {
    const isLeader = this._role === Role.Leader;
    return {
      id: this.id,
      incarnation: this.incarnation,
      incarnationMatches: this.isMember() && incarnationOf(this._confState, this.id) === this.incarnation,
      role: this._role,
      term: this._term,
      vote: this._vote,
      leader: this._leader,
      commitIndex: this.raftLog.commit,
      appliedIndex: this.raftLog.applied,
      lastIndex: this.raftLog.lastIndex(),
      snapshotIndex: this.raftLog.snapshot.metadata.index,
      confState: copyConf(this._confState),
      isLearner: this._confState.learners.includes(this.id),
      progress: isLeader ? [...this.progress.values()].filter((p) => p.id !== this.id).map((p) => p.status()) : [],
      transferee: isLeader ? this._transferee : null,
    };
  }

  hardState(): HardState {
    return { term: this._term, vote: this._vote, commit: this.raftLog.commit };
  }

  softState(): SoftState {
    return { leader: this._leader, role: this._role };
  }

  // ---------------------------------------------------------------------------------------------
  // Roles

  protected becomeFollower(term: number, leader: NodeId | null): void {
    this.reset(term);
    this._role = Role.Follower;
    this._leader = leader;
  }

  protected becomePreCandidate(): void {
    // Pre-vote (thesis 9.6) changes neither term nor vote: a node that cannot win disturbs nobody.
    this.votes.clear();
    this._role = Role.PreCandidate;
    this._leader = null;
  }

  protected becomeCandidate(): void {
    this.reset(this._term + 1);
    this._vote = this.id;
    this._role = Role.Candidate;
  }

  protected becomeLeader(): void {
    this.reset(this._term);
    this._role = Role.Leader;
    this._leader = this.id;
    for (const pr of this.progress.values()) pr.recentActive = pr.id === this.id;
    // No membership change until everything before this term's first entry is committed.
    this.pendingConfIndex = this.raftLog.lastIndex();
    // Raft paper 5.4.2: a leader commits entries of earlier terms only by committing one of its
    // own, so it appends an empty entry at once.
    this.appendLocal(EntryType.Normal, new Uint8Array(0));
  }

  private reset(term: number): void {
    if (this._term !== term) {
      this._term = term;
      this._vote = NONE;
    }
    this._leader = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTicks = this.electionTicks + this.random.nextInt(this.electionTicks);
    this._transferee = null;
    this.votes.clear();
    this.broadcastPending = false;
    this.resetProgress();
  }

  private resetProgress(): void {
    const next = this.raftLog.lastIndex() + 1;
    const old = this.progress;
    this.progress = new Map();
    for (const id of this._confState.voters) this.addProgress(id, false, next, old.get(id));
    for (const id of this._confState.learners) this.addProgress(id, true, next, old.get(id));
    const self = this.progress.get(this.id);
    if (self) self.match = this.raftLog.lastIndex();
  }

  private addProgress(id: NodeId, isLearner: boolean, next: number, previous?: Progress): void {
    const pr = new Progress(id, next, isLearner, this.maxInflightAppends, this.maxInflightBytes);
    if (previous) pr.recentActive = previous.recentActive;
    this.progress.set(id, pr);
  }

  /**
   * A voter can campaign; learners and removed nodes cannot, and neither can a node whose store
   * is not the one the membership names (it lost what that store acknowledged).
   */
  private promotable(): boolean {
    return this._confState.voters.includes(this.id) && incarnationOf(this._confState, this.id) === this.incarnation;
  }

  private isMember(): boolean {
    return this._confState.voters.includes(this.id) || this._confState.learners.includes(this.id);
  }

  /**
   * Only a voter leads or campaigns: a leader's messages (appends, heartbeats, snapshots, a
   * transfer's TimeoutNow) and vote requests are taken only from a voter of this node's membership
   * (from anyone while it knows none yet: a node joining with an empty store). So a learner's or a
   * non-member's certificate cannot depose a leader, raise terms or feed a follower a log of its
   * own. And a store that holds nothing is never made a voter by what it is sent: such a store has
   * acknowledged nothing, so no real leader can have promoted it (promotion waits for the
   * learner's acknowledgements); a snapshot or first append naming it a voter is forged.
   */
  protected mayLeadOrCampaign(m: Message): boolean {
    const knowsMembers = this._confState.voters.length > 0 || this._confState.learners.length > 0;
    if (knowsMembers && !this._confState.voters.includes(m.from)) return false;
    if (this.raftLog.lastIndex() !== 0) return true;
    if (m.type === MessageType.InstallSnapshot && m.snapshot) return !this.namesMeAsVoter(m.snapshot.metadata.confState);
    if (m.type === MessageType.Append) {
      let cs: ConfState = this._confState;
      for (const e of m.entries) {
        if (e.type !== EntryType.ConfChange) continue;
        try {
          cs = applyConfChange(cs, decodeConfChange(e.data));
        } catch (err) {
          if (!(err instanceof ConfChangeError)) throw err;
        }
        if (this.namesMeAsVoter(cs)) return false;
      }
    }
    return true;
  }

  private namesMeAsVoter(cs: ConfState): boolean {
    return cs.voters.includes(this.id) && incarnationOf(cs, this.id) === this.incarnation;
  }

  /**
   * Whether an answer (vote, pre-vote, acknowledgement) from m.from may be counted: only from the
   * store the membership names for it. A member whose disk was lost or replaced answers from a
   * new store that never promised anything; counting it would let a lagging node win an election
   * or a leader commit on a promise nobody keeps.
   */
  protected countable(m: Message): boolean {
    return incarnationOf(this._confState, m.from) === (m.incarnation ?? '');
  }

  private quorum(): number {
    return Math.floor(this._confState.voters.length / 2) + 1;
  }

  // ---------------------------------------------------------------------------------------------
  // Ticks

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTicks) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    for (const pr of this.progress.values()) {
      if (pr.state === ProgressState.Snapshot && ++pr.snapshotTicks >= this.electionTicks) {
        // The snapshot or its answer was lost: go back to probing, which resends it if needed.
        pr.becomeProbe();
      }
    }
    if (this.electionElapsed >= this.electionTicks) {
      this.electionElapsed = 0;
      // Check-quorum (thesis 6.2): a leader that has not heard from a majority within an election
      // timeout steps down, so a partitioned leader stops accepting proposals it cannot commit.
      if (!this.quorumActive()) {
        this.becomeFollower(this._term, null);
        return;
      }
      if (this._transferee !== null) this._transferee = null; // the transfer took too long: abandon it
    }
    if (this._role !== Role.Leader) return;
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
  }

  private quorumActive(): boolean {
    let active = 0;
    for (const id of this._confState.voters) {
      const pr = this.progress.get(id);
      if (id === this.id || pr?.recentActive) active++;
    }
    for (const pr of this.progress.values()) if (pr.id !== this.id) pr.recentActive = false;
    return active >= this.quorum();
  }

  private hup(transfer: boolean): void {
    if (this._role === Role.Leader) return;
    if (!this.promotable()) return;
    if (transfer) this.runElection(false, true);
    else this.runElection(true, false);
  }

  private runElection(preVote: boolean, transfer: boolean): void {
    let term: number;
    let type: MessageType;
    if (preVote) {
      this.becomePreCandidate();
      term = this._term + 1;
      type = MessageType.PreVote;
    } else {
      this.becomeCandidate();
      term = this._term;
      type = MessageType.Vote;
    }
    this.votes.set(this.id, true);
    if (this.tallyAndAct()) return;
    for (const id of this._confState.voters) {
      if (id === this.id) continue;
      this.msgs.push({
        ...this.blankMessage(type, id),
        term,
        index: this.raftLog.lastIndex(),
        logTerm: this.raftLog.lastTerm(),
        transfer: transfer || undefined,
      });
    }
  }

  /** Counts votes; acts on a win or a loss. Returns true when the campaign ended. */
  private tallyAndAct(): boolean {
    let granted = 0;
    let rejected = 0;
    for (const id of this._confState.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const q = this.quorum();
    if (granted >= q) {
      if (this._role === Role.PreCandidate) this.runElection(false, false);
      else this.becomeLeader(); // its no-op entry goes out with the next ready()
      return true;
    }
    if (this._confState.voters.length - rejected < q) {
      this.becomeFollower(this._term, null);
      return true;
    }
    return false;
  }

  // ---------------------------------------------------------------------------------------------
  // Messages

  private stepMessage(m: Message): void {
    if (LEADS_OR_CAMPAIGNS.has(m.type) && !this.mayLeadOrCampaign(m)) return;
    if (m.term > this._term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        // Leader stickiness (thesis 4.2.3): a node that heard from a live leader within the minimum
        // election timeout ignores campaigns, so a node rejoining from a partition cannot depose a
        // healthy leader. A campaign started by a leadership transfer is the exception.
        const inLease = this._leader !== null && this.electionElapsed < this.electionTicks;
        if (inLease && !m.transfer) return;
      }
      if (m.type === MessageType.PreVote) {
        // A pre-vote does not change our term.
      } else if (m.type === MessageType.PreVoteResponse && !m.reject) {
        // A granted pre-vote carries the term the candidate will campaign in, not a newer leader.
      } else if (m.type === MessageType.Append || m.type === MessageType.Heartbeat || m.type === MessageType.InstallSnapshot) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, null);
      }
    } else if (m.term < this._term) {
      if (m.type === MessageType.Append || m.type === MessageType.Heartbeat) {
        // A stale leader (e.g. back from a partition): answer with our term so it steps down.
        // Without this, with pre-vote and check-quorum on, it could stay stuck.
        this.send({ type: MessageType.AppendResponse, to: m.from });
      } else if (m.type === MessageType.PreVote) {
        this.send({ type: MessageType.PreVoteResponse, to: m.from, reject: true });
      }
      return;
    }

    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.handleVoteRequest(m);
      return;
    }
    switch (this._role) {
      case Role.Leader:
        this.stepLeader(m);
        break;
      case Role.Candidate:
      case Role.PreCandidate:
        this.stepCandidate(m);
        break;
      case Role.Follower:
        this.stepFollower(m);
        break;
    }
  }

  /**
   * Raft paper 5.2/5.4.1: one vote per term (a repeat to the same candidate is fine), only for a
   * log at least as up to date as ours. A pre-vote for a future term binds nothing.
   */
  protected canGrantVote(m: Message): boolean {
    const free =
      this._vote === m.from ||
      (this._vote === NONE && this._leader === null) ||
      (m.type === MessageType.PreVote && m.term > this._term);
    return free && this.raftLog.isUpToDate(m.index, m.logTerm);
  }

  private handleVoteRequest(m: Message): void {
    const responseType = m.type === MessageType.Vote ? MessageType.VoteResponse : MessageType.PreVoteResponse;
    if (this.canGrantVote(m)) {
      // The response carries the request's term: for a pre-vote that is the future term, which
      // the pre-candidate needs to recognise the answer.
      this.msgs.push({ ...this.blankMessage(responseType, m.from), term: m.term });
      if (m.type === MessageType.Vote) {
        this.electionElapsed = 0;
        this._vote = m.from;
      }
    } else {
      this.send({ type: responseType, to: m.from, reject: true });
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    if (!pr || !this.countable(m)) return;
    switch (m.type) {
      case MessageType.AppendResponse: {
        pr.recentActive = true;
        if (m.reject) {
          const hint = m.logTerm > 0 ? this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm) : m.rejectHint;
          if (pr.state === ProgressState.Probe && m.index === pr.next - 1 && m.index <= pr.match) {
            // The answer to the current probe says the follower lacks an entry it acknowledged.
            pr.restartAfterLoss(hint);
            this.sendAppend(m.from);
            return;
          }
          if (pr.maybeDecrTo(m.index, hint)) {
            if (pr.state === ProgressState.Replicate) pr.becomeProbe();
            this.sendAppend(m.from);
          }
          return;
        }
        const wasPaused = pr.isPaused();
        if (pr.maybeUpdate(m.index)) {
          if (pr.state === ProgressState.Probe) pr.becomeReplicate();
          else if (pr.state === ProgressState.Snapshot && pr.match >= pr.pendingSnapshot) {
            pr.becomeProbe();
            pr.becomeReplicate();
          } else if (pr.state === ProgressState.Replicate) pr.inflights.freeUpTo(m.index);

          if (this.maybeCommit()) this.broadcastAppend();
          else if (wasPaused) this.sendAppend(m.from);
          // Keep the window full: stream what the follower is still missing.
          while (this._role === Role.Leader && this.sendAppend(m.from, false)) {
            /* each call sends one more append */
          }
          if (m.from === this._transferee && pr.match === this.raftLog.lastIndex()) {
            this.send({ type: MessageType.TimeoutNow, to: m.from });
          }
        }
        return;
      }
      case MessageType.HeartbeatResponse:
        pr.recentActive = true;
        pr.probeSent = false;
        // A follower's log never shrinks below what it acknowledged, unless it lost its disk.
        if (m.index < pr.match) pr.restartAfterLoss(m.index);
        if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.raftLog.lastIndex()) this.sendAppend(m.from);
        return;
      default:
        return;
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.InstallSnapshot:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case MessageType.PreVoteResponse:
        if (this._role !== Role.PreCandidate || !this.countable(m)) return;
        this.votes.set(m.from, !m.reject);
        this.tallyAndAct();
        return;
      case MessageType.VoteResponse:
        if (this._role !== Role.Candidate || !this.countable(m)) return;
        this.votes.set(m.from, !m.reject);
        this.tallyAndAct();
        return;
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Append:
        this.electionElapsed = 0;
        this._leader = m.from;
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this._leader = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.InstallSnapshot:
        this.electionElapsed = 0;
        this._leader = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.TimeoutNow:
        // The leader hands over to us (thesis 3.10): campaign now, skipping pre-vote.
        this.hup(true);
        return;
      default:
        return;
    }
  }

  private handleAppend(m: Message): void {
    if (m.index < this.raftLog.commit) {
      this.send({ type: MessageType.AppendResponse, to: m.from, index: this.raftLog.commit });
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== null) {
      this.onCommitAdvanced();
      this.send({ type: MessageType.AppendResponse, to: m.from, index: lastNew });
      return;
    }
    // Fast backtracking: tell the leader the largest index at or below its probe whose term is
    // not above the one it sent, and that index's term, so it can skip whole terms.
    const hintIndex = this.raftLog.findConflictByTerm(Math.min(m.index, this.raftLog.lastIndex()), m.logTerm);
    this.send({
      type: MessageType.AppendResponse,
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hintIndex,
      logTerm: this.raftLog.term(hintIndex) ?? 0,
    });
  }

  private handleHeartbeat(m: Message): void {
    if (this.raftLog.commitTo(Math.min(m.commit, this.raftLog.lastIndex()))) this.onCommitAdvanced();
    this.send({ type: MessageType.HeartbeatResponse, to: m.from, index: this.raftLog.lastIndex() });
  }

  private handleSnapshot(m: Message): void {
    const snapshot = m.snapshot;
    if (!snapshot) return;
    const { index, term } = snapshot.metadata;
    if (index <= this.raftLog.commit) {
      this.send({ type: MessageType.AppendResponse, to: m.from, index: this.raftLog.commit });
      return;
    }
    if (this.raftLog.matchTerm(index, term)) {
      // We already hold that entry: keep our log (and what follows it), just learn the commit.
      // Answer with the commit index, as etcd-io/raft does: what follows the snapshot's entry here
      // may be a suffix of an older term the leader does not have, and acknowledging it would let
      // the leader count entries this node does not hold.
      this.raftLog.commitTo(index);
      this.onCommitAdvanced();
      this.send({ type: MessageType.AppendResponse, to: m.from, index: this.raftLog.commit });
      return;
    }
    this.raftLog.restore(snapshot);
    this._confState = snapshot.metadata.confState;
    this.confIndex = index;
    this.resetProgress();
    this.send({ type: MessageType.AppendResponse, to: m.from, index: this.raftLog.lastIndex() });
  }

  // ---------------------------------------------------------------------------------------------
  // Replication

  private appendLocal(type: EntryType, data: Uint8Array): { index: number; term: number } {
    const entry: Entry = { term: this._term, index: this.raftLog.lastIndex() + 1, type, data };
    this.raftLog.append([entry]);
    const self = this.progress.get(this.id);
    if (self) self.maybeUpdate(entry.index);
    this.maybeCommit();
    this.broadcastPending = true;
    return { index: entry.index, term: entry.term };
  }

  /**
   * Raft paper 5.3/5.4.2 and figure 8: commit the highest index a majority of voters hold, but
   * only if that entry is from the current term. Entries of earlier terms commit with it.
   */
  protected maybeCommit(): boolean {
    const candidate = this.quorumMatchIndex();
    if (candidate > this.raftLog.commit && this.raftLog.term(candidate) === this._term) {
      this.raftLog.commitTo(candidate);
      this.onCommitAdvanced();
      return true;
    }
    return false;
  }

  /** The highest index held by a majority of voters. */
  protected quorumMatchIndex(): number {
    const matches = this._confState.voters.map((id) => this.progress.get(id)?.match ?? 0).sort((a, b) => b - a);
    return matches[this.quorum() - 1] ?? 0;
  }

  /** Membership changes take effect when committed (see confchange.ts). */
  protected onCommitAdvanced(): void {
    const conf = this.foldConfChanges(this._confState, this.confIndex + 1, this.raftLog.commit);
    this.confIndex = this.raftLog.commit;
    if (sameConf(conf, this._confState)) return;
    this._confState = conf;
    if (this._role !== Role.Leader) return;
    if (!this.promotable()) {
      // Removed (or demoted): a leader outside the membership steps down and lets the rest elect.
      this.becomeFollower(this._term, null);
      return;
    }
    const old = this.progress;
    this.progress = new Map();
    const nextIndex = this.raftLog.lastIndex() + 1;
    for (const id of this._confState.voters) this.reuseOrAdd(old, id, false, nextIndex);
    for (const id of this._confState.learners) this.reuseOrAdd(old, id, true, nextIndex);
    if (this._transferee !== null && !this._confState.voters.includes(this._transferee)) this._transferee = null;
    // A smaller quorum may commit more right away; new members need their first append.
    this.maybeCommit();
    this.broadcastPending = true;
  }

  private reuseOrAdd(old: Map<NodeId, Progress>, id: NodeId, isLearner: boolean, next: number): void {
    const pr = old.get(id);
    if (pr) {
      pr.isLearner = isLearner;
      this.progress.set(id, pr);
    } else {
      this.addProgress(id, isLearner, next);
      if (id === this.id) (this.progress.get(id) as Progress).match = this.raftLog.lastIndex();
    }
  }

  /** The membership in force at `index` (<= commit): the snapshot's plus committed changes. */
  private confStateAt(index: number): ConfState {
    return this.foldConfChanges(this.raftLog.snapshot.metadata.confState, this.raftLog.firstIndex(), index);
  }

  private foldConfChanges(start: ConfState, from: number, to: number): ConfState {
    let cs = start;
    for (let i = Math.max(from, this.raftLog.firstIndex()); i <= to; i++) {
      const e = this.raftLog.entryAt(i);
      if (!e || e.type !== EntryType.ConfChange) continue;
      try {
        cs = applyConfChange(cs, decodeConfChange(e.data));
      } catch (err) {
        // An invalid change is a no-op on every node alike (the check is deterministic).
        if (!(err instanceof ConfChangeError)) throw err;
      }
    }
    return cs;
  }

  private broadcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private broadcastHeartbeat(): void {
    for (const pr of this.progress.values()) {
      if (pr.id === this.id) continue;
      // Never claim a commit beyond what the follower holds: it may not have those entries.
      this.send({ type: MessageType.Heartbeat, to: pr.id, commit: Math.min(pr.match, this.raftLog.commit) });
    }
  }

  /**
   * Sends the next append (or the snapshot) to `to`, unless flow control pauses it. With
   * sendIfEmpty false, sends only if there are entries. Returns whether a message went out.
   */
  private sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const pr = this.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.raftLog.term(prevIndex);
    if (prevTerm === undefined || pr.next < this.raftLog.firstIndex()) {
      return this.sendSnapshot(pr);
    }
    const entries = this.raftLog.slice(pr.next, this.raftLog.lastIndex() + 1, this.maxAppendEntries, this.maxAppendBytes);
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.msgs.push({
      ...this.blankMessage(MessageType.Append, to),
      index: prevIndex,
      logTerm: prevTerm,
      entries,
      commit: this.raftLog.commit,
    });
    if (entries.length > 0) {
      const last = entries[entries.length - 1].index;
      if (pr.state === ProgressState.Replicate) {
        pr.next = last + 1;
        let bytes = 0;
        for (const e of entries) bytes += e.data.length;
        pr.inflights.add(last, bytes);
      } else if (pr.state === ProgressState.Probe) {
        pr.probeSent = true;
      }
    } else if (pr.state === ProgressState.Probe) {
      pr.probeSent = true;
    }
    return true;
  }

  private sendSnapshot(pr: Progress): boolean {
    const snapshot = this.raftLog.snapshot;
    this.msgs.push({ ...this.blankMessage(MessageType.InstallSnapshot, pr.id), snapshot });
    pr.becomeSnapshot(snapshot.metadata.index);
    return true;
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  private checkCanPropose(): void {
    if (this._role !== Role.Leader) {
      const where = this._leader ? `the leader is ${this._leader}` : 'no leader is known';
      throw new ProposalRefusedError('not-leader', `${this.id} is not the leader (${where})`, this._leader);
    }
    if (this._transferee !== null) {
      throw new ProposalRefusedError(
        'transfer-in-progress',
        `leadership is being transferred to ${this._transferee}; retry with the new leader`,
        this._transferee,
      );
    }
  }

  private send(partial: { type: MessageType; to: NodeId; index?: number; reject?: boolean; rejectHint?: number; logTerm?: number; commit?: number }): void {
    this.msgs.push({ ...this.blankMessage(partial.type, partial.to), ...partial });
  }

  private blankMessage(type: MessageType, to: NodeId): Message {
    return {
      type,
      from: this.id,
      to,
      term: this._term,
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      ...(this.incarnation !== '' ? { incarnation: this.incarnation } : {}),
    };
  }

  private assertNotInReady(what: string): void {
    if (this.inFlightReady) {
      throw new RaftUsageError(`${what}() called between ready() and advance(); queue it until advance()`);
    }
  }
}

/** Messages only a leader or a candidate sends (see Raft.mayLeadOrCampaign). */
const LEADS_OR_CAMPAIGNS: ReadonlySet<MessageType> = new Set([
  MessageType.Append,
  MessageType.Heartbeat,
  MessageType.InstallSnapshot,
  MessageType.TimeoutNow,
  MessageType.Vote,
  MessageType.PreVote,
]);

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leader === b.leader && a.role === b.role;
}

function sameConf(a: ConfState, b: ConfState): boolean {
  const members = [...a.voters, ...a.learners];
  return (
    a.voters.join(',') === b.voters.join(',') &&
    a.learners.join(',') === b.learners.join(',') &&
    members.every((id) => incarnationOf(a, id) === incarnationOf(b, id))
  );
}

function copyConf(cs: ConfState): ConfState {
  const copy: ConfState = { voters: [...cs.voters], learners: [...cs.learners] };
  if (cs.incarnations) copy.incarnations = { ...cs.incarnations };
  return copy;
}
