// An in-memory stand-in for a node's Raft store, for the simulator and scenario tests. It keeps
// exactly what the persistence contract on `Ready` (src/raft/types.ts) says a driver persists, so
// a "crash" that keeps only this object loses precisely what a real crash would.

import { Entry, HardState, Ready, Snapshot } from '../raft/types';
import { StateMachineOp } from '../storage/raft_storage';

export interface MemoryRaftDisk {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
  /**
   * The state machine's keyspace (hex key -> value), written in the same atomic step as the log,
   * as node/raft_node.ts does with RaftStorage.persist. Absent for drivers without a state machine.
   */
  stateMachine?: Map<string, Uint8Array>;
}

/** The state machine's writes that go into the same batch as a Ready. */
export interface StateMachineWrite {
  ops: StateMachineOp[];
  /** A snapshot from the leader replaces the whole state machine: clear its keyspace first. */
  clear: boolean;
}

/** Writes the persistent part of a Ready, and the state machine's writes with it, as one atomic step. */
export function persistReady(disk: MemoryRaftDisk, rd: Ready, machine?: StateMachineWrite): void {
  const snapshot = rd.snapshot ?? rd.compaction;
  if (snapshot) disk.snapshot = snapshot;
  if (rd.entries.length > 0) {
    const from = rd.entries[0].index;
    disk.entries = disk.entries.filter((e) => e.index < from).concat(rd.entries);
  }
  disk.entries = disk.entries.filter((e) => e.index >= rd.logFirstIndex && e.index <= rd.logLastIndex);
  if (rd.hardState) disk.hardState = { ...rd.hardState };
  if (machine) {
    const store = (disk.stateMachine ??= new Map());
    if (machine.clear) store.clear();
    for (const op of machine.ops) {
      const key = Buffer.from(op.key).toString('hex');
      if (op.type === 'put') store.set(key, op.value.slice());
      else store.delete(key);
    }
  }
}
