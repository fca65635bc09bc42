// The driver: runs the pure Raft core against real time, a real disk and a real network. It
// follows the persistence contract on `Ready` (src/raft/types.ts): one synced batch holds the log,
// the hard state, the snapshot and the state machine's writes; only after it is durable are the
// state machine's results made visible and the messages that depend on it sent (a leader's
// appends and heartbeats, which promise nothing about the batch, go out while it is written:
// splitEarlyMessages says exactly when). Nothing is stepped
// between ready() and advance(): inputs that arrive meanwhile wait in a queue, which also batches
// them (many proposals, one append, one fsync).

import { randomInt } from 'node:crypto';
import { Raft, bootstrapState } from '../raft/raft';
import { SeededRandom } from '../raft/rng';
import { Entry, Message, MessageType, NodeId, RaftStatus, Ready, Role } from '../raft/types';
import { ConfChange } from '../raft/confchange';
import { Logger } from '../log/logger';
import { RaftStorage, StateMachineOp } from '../storage/raft_storage';
import { decodeFounding, describeFounding, encodeFounding, FoundingMembership } from './founding';

/** The replicated state machine the driver applies committed entries to. */
export interface StateMachine {
  /** Applies committed entries in order; returns the writes that record the result durably. */
  apply(entries: Entry[]): StateMachineOp[];
  /**
   * Replaces the whole state with a snapshot image taken at log index `index`; returns the writes
   * that record it.
   */
  restore(data: Uint8Array, index: number): StateMachineOp[];
  /** The current state as a snapshot image. */
  snapshot(): Uint8Array;
}

export interface RaftNodeTiming {
  heartbeatMs: number;
  electionTimeoutMs: number;
  snapshotEntries: number;
  maxAppendEntries: number;
  maxInflightAppends: number;
}

/** What the driver needs from the network (RaftTransport provides it). */
export interface MessageSender {
  send(messages: Message[]): void;
}

export class NodeStoppedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NodeStoppedError';
  }
}

type Input =
  | { kind: 'message'; message: Message }
  | { kind: 'tick' }
  | { kind: 'unreachable'; peer: NodeId }
  | { kind: 'peer-down'; peer: NodeId }
  | { kind: 'call'; run: (raft: Raft) => void };

export class RaftNode {
  readonly raft: Raft;
  private readonly inputs: Input[] = [];
  private running = false;
  private stopped = false;
  private fatal: Error | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly appliedWaiters: { index: number; resolve: () => void }[] = [];
  /**
   * The highest index whose application is on disk. The core's own `applied` can run ahead of it:
   * a received snapshot moves it at once, before the Ready that writes the snapshot is persisted.
   */
  private durableApplied: number;
  private readonly roleListeners: ((role: Role, leader: NodeId | null) => void)[] = [];
  /** Term and vote as last written to disk: messages sent before a write must not depend on newer ones. */
  private durableTermVote: { term: number; vote: NodeId };
  /** Term and vote as last handed to the store (equal to durableTermVote once it is written). */
  private issuedTermVote: { term: number; vote: NodeId };
  /** The last log index on disk. */
  private durableLastIndex: number;

  private constructor(
    readonly id: NodeId,
    raft: Raft,
    private readonly storage: RaftStorage,
    private readonly sender: MessageSender,
    private readonly machine: StateMachine,
    private readonly timing: RaftNodeTiming,
    private readonly logger: Logger,
  ) {
    this.raft = raft;
    this.durableApplied = raft.log.applied;
    const status = raft.status();
    this.durableTermVote = { term: status.term, vote: status.vote };
    this.issuedTermVote = { ...this.durableTermVote };
    this.durableLastIndex = status.lastIndex;
  }

  /**
   * Builds the core from what the store holds. A founding member with an empty store bootstraps
   * (writes the initial membership, founders and their stores, as entry 1); a joining member
   * starts empty and learns everything from the leader. The node's incarnation is its store's id.
   */
  static async create(options: {
    id: NodeId;
    /**
     * The founding membership for an empty store that founds: asked only when the store is empty
     * and not joining (it throws to refuse, see founding.ts and new_cluster_marker.ts). A store
     * that recorded its founding already (a crash before its first entry) reuses that record.
     */
    found: () => Promise<FoundingMembership>;
    join: boolean;
    storage: RaftStorage;
    sender: MessageSender;
    machine: StateMachine;
    /** The index the state machine's durable records reflect (0 for a fresh store). */
    machineApplied: number;
    timing: RaftNodeTiming;
    logger: Logger;
    /** Called once the bootstrap is durable. */
    onBootstrapped?: () => void;
  }): Promise<RaftNode> {
    const { storage, timing } = options;
    let stored = storage.load();
    const fresh = stored.hardState.term === 0 && stored.entries.length === 0 && stored.snapshot === null;
    if (fresh && (!options.join || storage.founding !== null)) {
      // The founding record goes first: a crash before the entry leaves a store that still knows
      // which membership it was founding, and founds with that one again.
      const founding = storage.founding !== null ? decodeFounding(storage.founding) : await options.found();
      if (storage.founding === null) await storage.setFounding(encodeFounding(founding));
      const boot = bootstrapState(founding.voters, founding.incarnations);
      await storage.persist({ hardState: boot.hardState, entries: boot.entries, logFirstIndex: 1, logLastIndex: 1 });
      stored = { ...stored, hardState: boot.hardState, entries: boot.entries };
      options.logger.info('bootstrapped a new cluster', { voters: founding.voters, founding: describeFounding(founding) });
      options.onBootstrapped?.();
    }
    const raft = new Raft(
      {
        id: options.id,
        incarnation: storage.storeId,
        heartbeatTicks: 1,
        electionTicks: Math.max(2, Math.round(timing.electionTimeoutMs / timing.heartbeatMs)),
        random: new SeededRandom(randomInt(0, 2 ** 32 - 1)),
        maxAppendEntries: timing.maxAppendEntries,
        maxInflightAppends: timing.maxInflightAppends,
      },
      { hardState: stored.hardState, snapshot: stored.snapshot, entries: stored.entries, applied: options.machineApplied },
    );
    return new RaftNode(options.id, raft, storage, options.sender, options.machine, timing, options.logger);
  }

  start(): void {
    this.timer = setInterval(() => this.enqueue({ kind: 'tick' }), this.timing.heartbeatMs);
    this.timer.unref?.();
    this.schedule();
  }

  /** Stops ticking and processing. Whatever was acknowledged is already on disk. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.running) await new Promise((r) => setTimeout(r, 5));
    for (const w of this.appliedWaiters.splice(0)) w.resolve();
  }

  receive(message: Message): void {
    this.enqueue({ kind: 'message', message });
  }

  reportUnreachable(peer: NodeId): void {
    this.enqueue({ kind: 'unreachable', peer });
  }

  /** The peer's port refuses connections: its process is gone (Raft.reportPeerDown). */
  reportPeerDown(peer: NodeId): void {
    this.enqueue({ kind: 'peer-down', peer });
  }

  /** Proposes data as leader; resolves with the entry's index and term once it is appended. */
  propose(data: Uint8Array): Promise<{ index: number; term: number }> {
    return this.call((raft) => raft.propose(data));
  }

  proposeConfChange(cc: ConfChange): Promise<{ index: number; term: number }> {
    return this.call((raft) => raft.proposeConfChange(cc));
  }

  transferLeadership(to: NodeId): Promise<void> {
    return this.call((raft) => raft.transferLeadership(to));
  }

  /**
   * Resolves once this node has applied (and made durable) everything up to `index`, or once it
   * has stopped: a caller must check the applied state itself before relying on it.
   */
  waitApplied(index: number): Promise<void> {
    if (this.durableApplied >= index || this.stopped) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index, resolve }));
  }

  onRoleChange(listener: (role: Role, leader: NodeId | null) => void): void {
    this.roleListeners.push(listener);
  }

  status(): RaftStatus {
    return this.raft.status();
  }

  /** The highest log index whose effects (state machine records included) are durable on this node. */
  appliedDurably(): number {
    return this.durableApplied;
  }

  /** Whether the node has stopped (gracefully or after an error): it decides and applies nothing more. */
  isStopped(): boolean {
    return this.stopped;
  }

  /** The error that stopped this node, if any (a failed write: it must not go on). */
  failure(): Error | null {
    return this.fatal;
  }

  private call<T>(fn: (raft: Raft) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.stopped) {
        reject(new NodeStoppedError(this.fatal ? `node stopped: ${this.fatal.message}` : 'node is stopping'));
        return;
      }
      this.enqueue({
        kind: 'call',
        run: (raft) => {
          try {
            resolve(fn(raft));
          } catch (e) {
            reject(e);
          }
        },
      });
    });
  }

  private enqueue(input: Input): void {
    if (this.stopped) return;
    this.inputs.push(input);
    this.schedule();
  }

  private schedule(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    setImmediate(() => {
      this.loop()
        .catch((e: unknown) => this.fail(e as Error))
        .finally(() => {
          this.running = false;
          if (this.inputs.length > 0 && !this.stopped) this.schedule();
        });
    });
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const inputs = this.inputs.splice(0);
      for (const input of inputs) this.stepInput(input);
      if (!this.raft.hasReady()) return;
      const rd = this.raft.ready();
      // The state machine's writes join the log's batch, so a crash never separates them.
      const machineOps: StateMachineOp[] = [];
      if (rd.snapshot) machineOps.push(...this.machine.restore(rd.snapshot.data, rd.snapshot.metadata.index));
      if (rd.committedEntries.length > 0) machineOps.push(...this.machine.apply(rd.committedEntries));
      if (rd.hardState) this.issuedTermVote = { term: rd.hardState.term, vote: rd.hardState.vote };
      // Messages that promise nothing about unwritten state go out at once (see
      // splitEarlyMessages); the rest once this batch is durable.
      const { early, late } = this.splitEarlyMessages(rd);
      if (early.length > 0) this.sender.send(early);
      await this.storage.persist(
        {
          hardState: rd.hardState,
          entries: rd.entries,
          snapshot: rd.snapshot ?? rd.compaction,
          logFirstIndex: rd.logFirstIndex,
          logLastIndex: rd.logLastIndex,
        },
        machineOps,
        { sync: rd.mustSync, clearStateMachine: rd.snapshot !== undefined },
      );
      if (rd.hardState) this.durableTermVote = { term: rd.hardState.term, vote: rd.hardState.vote };
      this.durableLastIndex = rd.logLastIndex;
      if (late.length > 0) this.sender.send(late);
      this.raft.advance();
      this.durableApplied = this.raft.log.applied;
      if (rd.snapshot) {
        this.logger.info('restored a snapshot from the leader', { index: rd.snapshot.metadata.index, term: rd.snapshot.metadata.term });
      }
      if (rd.softState) {
        this.logger.info(`role ${rd.softState.role}`, { term: this.raft.term, leader: rd.softState.leader });
        for (const l of this.roleListeners) l(rd.softState.role, rd.softState.leader);
      }
      this.releaseAppliedWaiters();
      this.maybeCompact();
    }
  }

  /**
   * Which of a Ready's messages may be sent before its batch is durable. The persistence contract
   * (src/raft/types.ts) holds messages back because vote grants and append acknowledgements promise durable state; so every response, and
   * everything while a change of term or vote or a snapshot is not yet on disk, waits. What may go
   * at once is a leader's Append or Heartbeat:
   *  - the entries it carries may still be on their way to the leader's own disk (Raft thesis
   *    10.2.1: the leader writes its log in parallel with replicating it);
   *  - but the commit index it carries must not exceed what the leader's own disk holds. The core
   *    counts the leader's own entries towards a commit as soon as they are appended; a commit
   *    index that covered entries not yet durable here could let a follower apply, and release, an
   *    entry that a crash of the leader then leaves on a minority of disks (a leader that is a
   *    quorum alone commits on appending). A message whose commit index is ahead of the leader's
   *    disk waits for its batch like the rest. The acknowledgements of early entries are stepped
   *    only after this batch is written (nothing is stepped between ready() and advance()).
   * This is what lets the leader tell followers a new commit index while it writes its own apply,
   * and send new entries while it writes them itself.
   */
  private splitEarlyMessages(rd: Ready): { early: Message[]; late: Message[] } {
    const termVoteDurable = this.issuedTermVote.term === this.durableTermVote.term && this.issuedTermVote.vote === this.durableTermVote.vote;
    if (!termVoteDurable || rd.snapshot !== undefined || rd.messages.length === 0) return { early: [], late: rd.messages };
    const early: Message[] = [];
    const late: Message[] = [];
    for (const m of rd.messages) {
      const leaderMessage = m.type === MessageType.Append || m.type === MessageType.Heartbeat;
      if (leaderMessage && m.from === this.id && m.commit <= this.durableLastIndex) early.push(m);
      else late.push(m);
    }
    return { early, late };
  }

  private stepInput(input: Input): void {
    switch (input.kind) {
      case 'message':
        this.raft.step(input.message);
        return;
      case 'tick':
        this.raft.tick();
        return;
      case 'unreachable':
        this.raft.reportUnreachable(input.peer);
        return;
      case 'peer-down':
        this.raft.reportPeerDown(input.peer);
        return;
      case 'call':
        input.run(this.raft);
        return;
    }
  }

  private releaseAppliedWaiters(): void {
    const applied = this.durableApplied;
    for (let i = this.appliedWaiters.length - 1; i >= 0; i--) {
      if (this.appliedWaiters[i].index <= applied) this.appliedWaiters.splice(i, 1)[0].resolve();
    }
  }

  private maybeCompact(): void {
    const log = this.raft.log;
    if (log.applied - log.snapshot.metadata.index >= this.timing.snapshotEntries) {
      this.raft.compact(log.applied, this.machine.snapshot());
    }
  }

  /**
   * This node must take no further part (its store cannot be trusted, e.g. a peer showed that its
   * home was rolled back): it stops deciding anything, as after a failed write.
   */
  failStop(err: Error): void {
    this.fail(err);
  }

  /** A write failed: this node stops deciding anything. Safety over liveness. */
  private fail(err: Error): void {
    if (this.fatal) return;
    this.fatal = err;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.logger.error('node stopped after an error; the rest of the cluster goes on without it', { error: err.message });
    for (const w of this.appliedWaiters.splice(0)) w.resolve();
  }
}
