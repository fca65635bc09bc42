// The driver: runs the pure Raft core against a host's clock, disk and network (host.ts). It
// follows the persistence contract on `Ready` (src/raft/types.ts): one batch holds the log, the
// hard state, the snapshot and the state machine's writes; only after it is durable are the state
// machine's results made visible (waitApplied, appliedDurably) and the messages that depend on it
// sent (the core says which may go at once: Ready.messagesNow). Nothing is stepped between
// ready() and advance(): inputs that arrive meanwhile wait in a queue, which also batches them
// (many proposals, one append, one fsync).
//
// The node process and the simulator both run this class; neither has a driver of its own.

import { Logger } from '../log/logger';
import type { ConfChange } from '../raft/confchange';
import type { Raft } from '../raft/raft';
import type { StateMachine, StateMachineOp } from '../raft/state_machine';
import { allMessages, Message, NodeId, RaftStatus, Ready, Role } from '../raft/types';
import type { Clock, Disk, Network, PersistBatch, Timer } from './host';
import { RaftSignerError } from '../util/errors';

export class NodeStoppedError extends RaftSignerError<{ code: 'NODE_STOPPED' }> {
  constructor(message: string) {
    super({ code: 'NODE_STOPPED' }, message);
    this.name = 'NodeStoppedError';
  }
}

/** What a Ready asks to be written, with the state machine's writes for its committed entries, as one batch. */
function readyBatch(rd: Ready, machineOps: StateMachineOp[]): PersistBatch {
  return {
    hardState: rd.hardState,
    entries: rd.entries,
    snapshot: rd.snapshot ?? rd.compaction,
    logFirstIndex: rd.logFirstIndex,
    logLastIndex: rd.logLastIndex,
    machineOps,
    sync: rd.mustSync,
    clearStateMachine: rd.snapshot !== undefined,
  };
}

/** Sees each Ready after its committed entries are applied and before it is written (the simulator's checkers). */
export interface DriverObserver {
  /** After a batch of inputs was stepped (e.g. to check election safety on every new leader). */
  stepped?(raft: Raft): void;
  /** A Ready, its committed entries applied in memory, about to be written. */
  ready?(rd: Ready, raft: Raft): void;
}

export interface DriverOptions {
  id: NodeId;
  raft: Raft;
  machine: StateMachine;
  clock: Clock;
  disk: Disk;
  network: Network;
  /** How often the core's logical clock ticks. */
  tickMs: number;
  /** Compact the log once this many entries were applied since the last snapshot. */
  snapshotEntries: number;
  logger: Logger;
  observer?: DriverObserver;
  /** BROKEN, tests only: send every message before its batch is durable. */
  sendBeforePersist?: boolean;
}

type Input =
  | { kind: 'message'; message: Message }
  | { kind: 'tick' }
  | { kind: 'unreachable'; peer: NodeId }
  | { kind: 'peer-down'; peer: NodeId }
  | { kind: 'call'; run: (raft: Raft) => void; fail: (error: Error) => void };

export class ReplicaDriver {
  readonly id: NodeId;
  readonly raft: Raft;
  private readonly machine: StateMachine;
  private readonly clock: Clock;
  private readonly disk: Disk;
  private readonly network: Network;
  private readonly logger: Logger;
  private readonly observer: DriverObserver | undefined;
  private readonly inputs: Input[] = [];
  /** A turn is scheduled or a batch is being written: new inputs only queue. */
  private running = false;
  private persisting = false;
  private stopped = false;
  private fatal: Error | null = null;
  private ticker: Timer | null = null;
  private readonly whenIdle: (() => void)[] = [];
  private appliedWaiters: { index: number; fn: () => void }[] = [];
  /**
   * The highest index whose application is on disk. The core's own `applied` can run ahead of it:
   * a received snapshot moves it at once, before the Ready that writes the snapshot is persisted.
   */
  private durableApplied: number;
  private readonly roleListeners: ((role: Role, leader: NodeId | null) => void)[] = [];

  constructor(private readonly options: DriverOptions) {
    this.id = options.id;
    this.raft = options.raft;
    this.machine = options.machine;
    this.clock = options.clock;
    this.disk = options.disk;
    this.network = options.network;
    this.logger = options.logger;
    this.observer = options.observer;
    this.durableApplied = options.raft.log.applied;
  }

  start(): void {
    if (this.stopped) return;
    this.ticker = this.clock.every(this.options.tickMs, () => this.enqueue({ kind: 'tick' }));
    this.schedule();
  }

  /** Stops ticking and processing; `done` once no write is in flight. Whatever was acknowledged is on disk. */
  stop(done: () => void = () => {}): void {
    this.halt();
    if (this.persisting) this.whenIdle.push(done);
    else done();
  }

  /** This node must take no further part (a failed write, or its store cannot be trusted). Safety over liveness. */
  failStop(err: Error): void {
    if (this.fatal) return;
    this.fatal = err;
    this.logger.error('node stopped after an error; the rest of the cluster goes on without it', { error: err.message });
    this.halt();
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

  /**
   * Runs `fn` on the core at the next turn (never while a Ready is being written) and hands its
   * result, or what it threw, to `done`. A stopped driver answers NodeStoppedError.
   */
  call<T>(fn: (raft: Raft) => T, done: (error: Error | null, value?: T) => void): void {
    if (this.stopped) {
      done(this.stoppedError());
      return;
    }
    this.enqueue({
      kind: 'call',
      run: (raft) => {
        let value: T;
        try {
          value = fn(raft);
        } catch (e) {
          this.answer(done, e as Error);
          return;
        }
        this.answer(done, null, value);
      },
      fail: (error) => this.answer(done, error),
    });
  }

  propose(data: Uint8Array, done: (error: Error | null, ticket?: { index: number; term: number }) => void): void {
    this.call((raft) => raft.propose(data), done);
  }

  proposeConfChange(cc: ConfChange, done: (error: Error | null, ticket?: { index: number; term: number }) => void): void {
    this.call((raft) => raft.proposeConfChange(cc), done);
  }

  /**
   * Runs `fn` once this node has applied (and made durable) everything up to `index`, or once it
   * has stopped: the caller must check appliedDurably() itself before relying on it.
   */
  waitApplied(index: number, fn: () => void): void {
    if (this.durableApplied >= index || this.stopped) fn();
    else this.appliedWaiters.push({ index, fn });
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

  /** A batch is being written (the simulator crashes nodes at that moment too). */
  get persistInFlight(): boolean {
    return this.persisting;
  }

  isStopped(): boolean {
    return this.stopped;
  }

  /** The error that stopped this node, if any. */
  failure(): Error | null {
    return this.fatal;
  }

  stoppedError(): NodeStoppedError {
    return new NodeStoppedError(this.fatal ? `node stopped: ${this.fatal.message}` : 'node is stopping');
  }

  private halt(): void {
    this.stopped = true;
    this.ticker?.cancel();
    this.ticker = null;
    // Every call still queued is answered, or its caller would wait for ever (a proposal made
    // while the last batch was being written, an import, a transfer).
    const error = this.stoppedError();
    for (const input of this.inputs.splice(0)) if (input.kind === 'call') input.fail(error);
    this.releaseAllWaiters();
  }

  /** Hands a call's result to its caller; a caller's bug is logged, and neither stops this node nor the rest of the turn. */
  private answer<T>(done: (error: Error | null, value?: T) => void, error: Error | null, value?: T): void {
    try {
      done(error, value);
    } catch (e) {
      this.logger.error("a caller's callback failed; this node goes on", { error: (e as Error).message });
    }
  }

  private enqueue(input: Input): void {
    if (this.stopped) return;
    this.inputs.push(input);
    this.schedule();
  }

  private schedule(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.clock.soon(() => this.turn());
  }

  /** Steps what queued up, then hands the next Ready to the disk; runs again once it is written. */
  private turn(): void {
    if (this.stopped) {
      this.running = false;
      return;
    }
    let rd: Ready;
    let machineOps: StateMachineOp[];
    const inputs = this.inputs.splice(0);
    let stepped = 0;
    try {
      for (; stepped < inputs.length; stepped++) this.stepInput(inputs[stepped]);
      this.observer?.stepped?.(this.raft);
      if (!this.raft.hasReady()) {
        this.running = false;
        if (this.inputs.length > 0) this.schedule();
        return;
      }
      rd = this.raft.ready();
      // The state machine's writes join the log's batch, so a crash never separates them.
      machineOps = [];
      if (rd.snapshot) machineOps.push(...this.machine.restore(rd.snapshot.data, rd.snapshot.metadata.index));
      if (rd.committedEntries.length > 0) machineOps.push(...this.machine.apply(rd.committedEntries));
      this.observer?.ready?.(rd, this.raft);
    } catch (e) {
      // An entry this version cannot apply, or a broken invariant: applying the log differently
      // from the peers could sign what they refuse, so this node stops. The inputs not stepped
      // go back to the queue, whose calls the stop answers.
      this.inputs.unshift(...inputs.slice(stepped + 1));
      this.running = false;
      this.failStop(e as Error);
      return;
    }
    if (this.options.sendBeforePersist) this.network.send(allMessages(rd));
    else if (rd.messagesNow.length > 0) this.network.send(rd.messagesNow);
    this.persisting = true;
    this.disk.persist(readyBatch(rd, machineOps), (error) => this.persisted(rd, error));
  }

  private persisted(rd: Ready, error: Error | null): void {
    this.persisting = false;
    if (error) this.failStop(error);
    if (this.stopped) {
      this.running = false;
      for (const fn of this.whenIdle.splice(0)) fn();
      return;
    }
    if (!this.options.sendBeforePersist && rd.messagesAfterPersist.length > 0) this.network.send(rd.messagesAfterPersist);
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
    // Go on with what queued up meanwhile, in a turn of its own.
    this.running = false;
    if (this.inputs.length > 0 || this.raft.hasReady()) this.schedule();
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
    if (!this.appliedWaiters.some((w) => w.index <= applied)) return;
    const due = this.appliedWaiters.filter((w) => w.index <= applied);
    this.appliedWaiters = this.appliedWaiters.filter((w) => w.index > applied);
    for (const w of due) w.fn();
  }

  private releaseAllWaiters(): void {
    const all = this.appliedWaiters;
    this.appliedWaiters = [];
    for (const w of all) w.fn();
  }

  private maybeCompact(): void {
    const log = this.raft.log;
    if (log.applied - log.snapshot.metadata.index >= this.options.snapshotEntries) {
      this.raft.compact(log.applied, this.machine.snapshot());
    }
  }
}
