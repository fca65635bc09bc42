// The in-memory image of one node's log: the latest snapshot, the entries after it, and how far
// they are durable, committed and applied. The core keeps the whole uncompacted log in memory
// (compaction bounds it); the driver mirrors it to disk through Ready.

import { RaftInvariantError } from './errors';
import { ConfState, Entry, Snapshot } from './types';

export const EMPTY_CONF: ConfState = { voters: [], learners: [] };

export function emptySnapshot(): Snapshot {
  return { metadata: { index: 0, term: 0, confState: EMPTY_CONF }, data: new Uint8Array(0) };
}

/** What the core's users may read of its log (Raft.log); only the core changes it. */
export interface RaftLogView {
  readonly snapshot: Snapshot;
  readonly commit: number;
  /** Highest index handed to the state machine (it may run ahead of the disk until the Ready is persisted). */
  readonly applied: number;
  firstIndex(): number;
  lastIndex(): number;
  lastTerm(): number;
  term(index: number): number | undefined;
  entryAt(index: number): Entry | undefined;
}

export class RaftLog implements RaftLogView {
  /** The latest snapshot; index 0 / term 0 when the log has never been compacted. */
  snapshot: Snapshot;
  /** entries[i] has index snapshot.metadata.index + 1 + i. */
  entries: Entry[];
  /** Highest index known to be durable on this node's disk. */
  stableLast: number;
  commit: number;
  /** Highest index handed to the state machine. */
  applied: number;
  /** A snapshot received from the leader that the driver must persist and restore. */
  pendingRestore: Snapshot | null = null;
  /** A snapshot taken locally by compact() that the driver must persist (not restore). */
  pendingCompaction: Snapshot | null = null;

  constructor(snapshot: Snapshot, entries: Entry[], commit: number, applied: number) {
    this.snapshot = snapshot;
    this.entries = entries.slice();
    const first = snapshot.metadata.index + 1;
    this.entries.forEach((e, i) => {
      if (e.index !== first + i) {
        throw new RaftInvariantError(`log is not contiguous: expected index ${first + i}, found ${e.index}`);
      }
    });
    this.stableLast = this.lastIndex();
    if (commit > this.lastIndex()) {
      throw new RaftInvariantError(`commit index ${commit} is beyond the last log index ${this.lastIndex()}`);
    }
    this.commit = Math.max(commit, snapshot.metadata.index);
    this.applied = Math.min(Math.max(applied, snapshot.metadata.index), this.commit);
  }

  firstIndex(): number {
    return this.snapshot.metadata.index + 1;
  }

  lastIndex(): number {
    return this.snapshot.metadata.index + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) as number;
  }

  /** The term of the entry at `index`, or undefined when it is compacted away or not there yet. */
  term(index: number): number | undefined {
    const snapIndex = this.snapshot.metadata.index;
    if (index === snapIndex) return this.snapshot.metadata.term;
    if (index < snapIndex || index > this.lastIndex()) return undefined;
    return this.entries[index - snapIndex - 1].term;
  }

  entryAt(index: number): Entry | undefined {
    const snapIndex = this.snapshot.metadata.index;
    if (index <= snapIndex || index > this.lastIndex()) return undefined;
    return this.entries[index - snapIndex - 1];
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft paper 5.4.1: is a candidate's log (lastIndex, lastTerm) at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Entries [lo, hi), at most maxEntries and (past the first) maxBytes of data. lo must be >= firstIndex. */
  slice(lo: number, hi: number, maxEntries = Infinity, maxBytes = Infinity): Entry[] {
    const first = this.firstIndex();
    if (lo < first) throw new RaftInvariantError(`slice from ${lo} but the log starts at ${first}`);
    hi = Math.min(hi, this.lastIndex() + 1);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi && out.length < maxEntries; i++) {
      const e = this.entries[i - first];
      bytes += e.data.length;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /**
   * The first index whose entry conflicts with ours (same index, other term), or the first index
   * beyond our log; 0 when every given entry is already here.
   */
  findConflict(entries: Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast backtracking (Raft thesis 5.3 and etcd-io/raft): the largest index <= `index` whose term
   * is <= `term`. The leader uses it to skip a whole term of mismatching entries per round trip.
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    const snapIndex = this.snapshot.metadata.index;
    while (i > snapIndex) {
      const t = this.term(i) as number;
      if (t <= term) break;
      i--;
    }
    return i;
  }

  /**
   * The follower side of AppendEntries. Returns the index of the last new entry when the
   * consistency check passes (and commits up to min(leaderCommit, that index)), null when it fails.
   */
  maybeAppend(prevIndex: number, prevTerm: number, leaderCommit: number, entries: Entry[]): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      if (conflict <= this.commit) {
        throw new RaftInvariantError(`entry ${conflict} conflicts with the committed log (commit ${this.commit})`);
      }
      this.append(entries.slice(conflict - (prevIndex + 1)));
    }
    this.commitTo(Math.min(leaderCommit, lastNew));
    return lastNew;
  }

  /** Appends, truncating any suffix from entries[0].index on (a follower repairing its log). */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const from = entries[0].index;
    if (from <= this.commit) {
      throw new RaftInvariantError(`cannot overwrite committed entry ${from} (commit ${this.commit})`);
    }
    if (from > this.lastIndex() + 1) {
      throw new RaftInvariantError(`append at ${from} leaves a gap after ${this.lastIndex()}`);
    }
    const keep = from - this.firstIndex();
    if (keep < this.entries.length) this.entries.length = keep;
    for (const e of entries) this.entries.push(e);
    this.stableLast = Math.min(this.stableLast, from - 1);
  }

  commitTo(index: number): boolean {
    if (index <= this.commit) return false;
    if (index > this.lastIndex()) {
      throw new RaftInvariantError(`commit ${index} is beyond the last index ${this.lastIndex()}`);
    }
    this.commit = index;
    return true;
  }

  /** Replaces the whole log by a snapshot from the leader (InstallSnapshot). */
  restore(snapshot: Snapshot): void {
    this.snapshot = snapshot;
    this.entries = [];
    this.commit = snapshot.metadata.index;
    this.applied = snapshot.metadata.index;
    this.stableLast = snapshot.metadata.index;
    this.pendingRestore = snapshot;
    this.pendingCompaction = null;
  }

  /** Drops entries up to `index` behind a snapshot the state machine made at that index. */
  compact(index: number, data: Uint8Array, confState: ConfState): Snapshot {
    const term = this.term(index);
    if (term === undefined) throw new RaftInvariantError(`cannot compact at ${index}: no such entry`);
    const snapshot: Snapshot = { metadata: { index, term, confState }, data };
    this.entries = this.entries.slice(index - this.snapshot.metadata.index);
    this.snapshot = snapshot;
    this.pendingCompaction = snapshot;
    return snapshot;
  }

  /** Entries the driver has not been told to persist yet. */
  unstableEntries(): Entry[] {
    if (this.stableLast >= this.lastIndex()) return [];
    return this.entries.slice(this.stableLast - this.snapshot.metadata.index);
  }

  /** Committed entries not yet handed to the state machine. */
  nextCommitted(): Entry[] {
    if (this.commit <= this.applied) return [];
    return this.slice(this.applied + 1, this.commit + 1);
  }
}
