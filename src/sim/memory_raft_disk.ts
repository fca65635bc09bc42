// An in-memory stand-in for a node's Raft store, for the simulator and scenario tests. It keeps
// exactly what the persistence contract on `Ready` (src/raft/types.ts) says a driver persists, so
// a "crash" that keeps only this object loses precisely what a real crash would.

import type { PersistBatch } from '../replica/host';
import type { Entry, HardState, Snapshot } from '../raft/types';

export interface MemoryRaftDisk {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
  /**
   * The state machine's keyspace (hex key -> value), written in the same atomic step as the log,
   * as RaftStorage.persist does in a node. Absent for drivers without a state machine.
   */
  stateMachine?: Map<string, Uint8Array>;
}

/** Writes one batch of the replica driver (host.ts Disk.persist) as one atomic step. */
export function persistBatch(disk: MemoryRaftDisk, batch: PersistBatch): void {
  if (batch.snapshot) disk.snapshot = batch.snapshot;
  if (batch.entries.length > 0) {
    const from = batch.entries[0].index;
    disk.entries = disk.entries.filter((e) => e.index < from).concat(batch.entries);
  }
  disk.entries = disk.entries.filter((e) => e.index >= batch.logFirstIndex && e.index <= batch.logLastIndex);
  if (batch.hardState) disk.hardState = { ...batch.hardState };
  if (batch.machineOps.length > 0 || batch.clearStateMachine) {
    const store = (disk.stateMachine ??= new Map());
    if (batch.clearStateMachine) store.clear();
    for (const op of batch.machineOps) {
      const key = Buffer.from(op.key).toString('hex');
      if (op.type === 'put') store.set(key, op.value.slice());
      else store.delete(key);
    }
  }
}

/** The state machine's keyspace as key/value pairs, for the decoder the node process uses (slashing_records.ts). */
export function stateMachinePairs(disk: MemoryRaftDisk): [Uint8Array, Uint8Array][] {
  return [...(disk.stateMachine ?? new Map<string, Uint8Array>())].map(([k, v]) => [Buffer.from(k, 'hex'), v]);
}
