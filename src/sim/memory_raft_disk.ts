// An in-memory stand-in for a node's Raft store, for the simulator and scenario tests. It keeps
// exactly what the persistence contract on `Ready` (src/raft/types.ts) says a driver persists, so
// a "crash" that keeps only this object loses precisely what a real crash would.

import { Entry, HardState, Ready, Snapshot } from '../raft/types';

export interface MemoryRaftDisk {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
}

/** Writes the persistent part of a Ready, as one atomic step. */
export function persistReady(disk: MemoryRaftDisk, rd: Ready): void {
  const snapshot = rd.snapshot ?? rd.compaction;
  if (snapshot) disk.snapshot = snapshot;
  if (rd.entries.length > 0) {
    const from = rd.entries[0].index;
    disk.entries = disk.entries.filter((e) => e.index < from).concat(rd.entries);
  }
  disk.entries = disk.entries.filter((e) => e.index >= rd.logFirstIndex && e.index <= rd.logLastIndex);
  if (rd.hardState) disk.hardState = { ...rd.hardState };
}
