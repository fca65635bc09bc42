// What the replica core needs from whatever runs it. Two hosts implement it: the node process
// (timers, LevelDB, gRPC; src/node/) and the simulator (an event queue, an in-memory disk that
// loses unsynced writes, a simulated network; src/sim/). The core holds every rule of the driver
// and the sign path; a host only moves bytes and time, so a seed the simulator runs proves the
// code the node runs.

import type { StateMachineOp } from '../raft/state_machine';
import type { Entry, HardState, Message, NodeId, Snapshot } from '../raft/types';
import type { SignRequest } from '../cometbft/sign_types';
import type { LeaderAnswer } from './leader_answer';

/** A scheduled callback that can be called off. */
export interface Timer {
  cancel(): void;
}

/** Time, as the host keeps it: wall-clock milliseconds in a node, virtual ones in the simulator. */
export interface Clock {
  now(): number;
  /** Runs `fn` once, after `ms`. */
  after(ms: number, fn: () => void): Timer;
  /** Runs `fn` every `ms`. */
  every(ms: number, fn: () => void): Timer;
  /** Runs `fn` soon, after the current turn (never synchronously). */
  soon(fn: () => void): void;
}


/** Everything one Ready asks to be written, as one atomic batch (see the contract on Ready). */
export interface PersistBatch {
  hardState?: HardState;
  entries: Entry[];
  /** A snapshot received from the leader, or one this node took itself (compaction). */
  snapshot?: Snapshot;
  logFirstIndex: number;
  logLastIndex: number;
  machineOps: StateMachineOp[];
  /** fsync before `done` (false only for batches that change nothing durable). */
  sync: boolean;
  /** A snapshot from the leader replaces the whole state machine: clear its keyspace first. */
  clearStateMachine: boolean;
}

export interface Disk {
  /** Writes the batch atomically; `done(null)` once it is durable, `done(error)` if it failed. */
  persist(batch: PersistBatch, done: (error: Error | null) => void): void;
}

export interface Network {
  send(messages: Message[]): void;
}

/**
 * Asks the leader to decide a sign request (the Signer service between nodes). `onAnswer` with
 * the leader's answer, `onFail` when it cannot be reached or the call broke; neither after
 * `cancel()`. A call may also hang (a cut link): the sign path's deadline ends it.
 */
export interface SignForwarder {
  forward(leader: NodeId, request: SignRequest, timeoutMs: number, onAnswer: (a: LeaderAnswer) => void, onFail: (error: Error) => void): Timer;
}
