// The node process's host for the replica core (src/replica/): real time (timers), a real disk
// (RaftStorage, one fsynced LevelDB batch per Ready) and a real network (RaftTransport). Every
// rule of the driver lives in ReplicaDriver, which the simulator runs too; this file only builds
// the core from what the store holds and turns the driver's callbacks into promises.

import { randomInt } from 'node:crypto';
import { Raft, bootstrapState } from '../raft/raft';
import { SeededRandom } from '../raft/rng';
import { Message, NodeId, RaftStatus, Role } from '../raft/types';
import { ConfChange } from '../raft/confchange';
import { StateMachine } from '../raft/state_machine';
import { Logger } from '../log/logger';
import { RaftStorage } from '../storage/raft_storage';
import { ReplicaDriver } from '../replica/driver';
import { Clock, Disk, Network, Timer } from '../replica/host';
import { decodeFounding, describeFounding, encodeFounding, FoundingMembership } from './founding';

export interface RaftNodeTiming {
  heartbeatMs: number;
  electionTimeoutMs: number;
  snapshotEntries: number;
  maxAppendEntries: number;
  maxInflightAppends: number;
}

/** Wall-clock time and Node's timers; timers never keep the process alive on their own. */
export const nodeClock: Clock = {
  now: () => Date.now(),
  after(ms: number, fn: () => void): Timer {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
  every(ms: number, fn: () => void): Timer {
    const t = setInterval(fn, ms);
    t.unref?.();
    return { cancel: () => clearInterval(t) };
  },
  soon(fn: () => void): void {
    setImmediate(fn);
  },
};

/** One Ready's batch as one fsynced LevelDB write. */
function storageDisk(storage: RaftStorage): Disk {
  return {
    persist(batch, done) {
      storage
        .persist(
          { hardState: batch.hardState, entries: batch.entries, snapshot: batch.snapshot, logFirstIndex: batch.logFirstIndex, logLastIndex: batch.logLastIndex },
          batch.machineOps,
          { sync: batch.sync, clearStateMachine: batch.clearStateMachine },
        )
        .then(
          () => done(null),
          (e: unknown) => done(e as Error),
        );
    },
  };
}

export class RaftNode {
  private constructor(readonly driver: ReplicaDriver) {}

  get id(): NodeId {
    return this.driver.id;
  }

  get raft(): Raft {
    return this.driver.raft;
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
    sender: Network;
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
    const driver = new ReplicaDriver({
      id: options.id,
      raft,
      machine: options.machine,
      clock: nodeClock,
      disk: storageDisk(storage),
      network: options.sender,
      tickMs: timing.heartbeatMs,
      snapshotEntries: timing.snapshotEntries,
      logger: options.logger,
    });
    return new RaftNode(driver);
  }

  start(): void {
    this.driver.start();
  }

  /** Stops ticking and processing, once no write is in flight. Whatever was acknowledged is already on disk. */
  stop(): Promise<void> {
    return new Promise((resolve) => this.driver.stop(resolve));
  }

  receive(message: Message): void {
    this.driver.receive(message);
  }

  reportUnreachable(peer: NodeId): void {
    this.driver.reportUnreachable(peer);
  }

  /** The peer's port refuses connections: its process is gone (Raft.reportPeerDown). */
  reportPeerDown(peer: NodeId): void {
    this.driver.reportPeerDown(peer);
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
    return new Promise((resolve) => this.driver.waitApplied(index, resolve));
  }

  onRoleChange(listener: (role: Role, leader: NodeId | null) => void): void {
    this.driver.onRoleChange(listener);
  }

  status(): RaftStatus {
    return this.driver.status();
  }

  /** The highest log index whose effects (state machine records included) are durable on this node. */
  appliedDurably(): number {
    return this.driver.appliedDurably();
  }

  /** Whether the node has stopped (gracefully or after an error): it decides and applies nothing more. */
  isStopped(): boolean {
    return this.driver.isStopped();
  }

  /** The error that stopped this node, if any (a failed write: it must not go on). */
  failure(): Error | null {
    return this.driver.failure();
  }

  /**
   * This node must take no further part (its store cannot be trusted, e.g. a peer showed that its
   * home was rolled back): it stops deciding anything, as after a failed write.
   */
  failStop(err: Error): void {
    this.driver.failStop(err);
  }

  private call<T>(fn: (raft: Raft) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => this.driver.call(fn, (error, value) => (error ? reject(error) : resolve(value as T))));
  }
}
