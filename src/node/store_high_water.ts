// How far this node's store had got, recorded OUTSIDE the data directory, so that a data
// directory put back from an older copy (a restored backup, a volume snapshot, a disk cloned
// before it failed) is refused instead of started as if nothing happened.
//
// Why it matters: a Raft member that forgot what it acknowledged (log entries it stored, a vote it
// granted) breaks the quorum intersection Raft's safety rests on. With a lagging node, the
// restored one can help elect a leader that lacks an entry committed (and signed) with its own
// help before, and the same height, round and step is signed twice. The chaos harness found
// exactly that. An empty data directory is caught by the new-cluster marker; a non-empty older
// one looks healthy to the store itself, so the node keeps this record beside its config:
// the store's id and the highest term and commit index the store had durably reached. Both only
// ever grow for one store, so a store below its own record was restored (or lost synced writes).
//
// What it does not catch: a restore of the whole home directory (record and data from the same
// moment), e.g. a whole-VM snapshot rolled back. docs/operations.md says never to do that to a
// voter and how to rejoin instead.

import fs from 'node:fs';
import path from 'node:path';
import { writeSecretFile } from '../keys/key_file_permissions';
import type { Logger } from '../log/logger';
import { StorageError } from '../storage/errors';
import { rejoinAsLearnerSteps, RejoinCommandContext } from './new_cluster_marker';

export const STORE_HIGH_WATER_FILE = 'store-high-water.json';

/**
 * What a store had durably reached. For one store, none of it goes back: the term only grows; the
 * vote of a term, once cast, stays; the commit index only grows; and the last log entry (its term,
 * then its index: the order Raft's vote compares logs by) only grows, except briefly in a rare
 * case (a follower whose uncommitted suffix is replaced in several batches, or by a snapshot),
 * where a crash at that moment makes the check refuse a store that was fine: safe, and the same
 * rejoin brings it back.
 */
export interface StoreHighWater {
  /** The store's random id (RaftStorage.storeId): a copy keeps it, a new store has another. */
  storeId: string;
  term: number;
  /** Whom the store voted for in `term` ('' if nobody yet). */
  vote: string;
  commit: number;
  /** The last log entry (or the snapshot when the log is empty): what the node acknowledged. */
  lastIndex: number;
  lastTerm: number;
}

export function storeHighWaterPath(home: string): string {
  return path.join(home, STORE_HIGH_WATER_FILE);
}

function describeMark(m: StoreHighWater): string {
  return `term ${m.term}${m.vote ? ` (vote ${m.vote})` : ''}, commit index ${m.commit}, last entry ${m.lastIndex} of term ${m.lastTerm}`;
}

export class RestoredStoreError extends StorageError<{
  code: 'RESTORED_STORE';
  rejoin: RejoinCommandContext;
  dataDir: string;
  recorded: StoreHighWater;
  found: StoreHighWater;
  recordFile: string;
}> {
  constructor(
    readonly rejoin: RejoinCommandContext,
    readonly dataDir: string,
    readonly recorded: StoreHighWater,
    readonly found: StoreHighWater,
    readonly recordFile: string,
  ) {
    super(
      (recorded.storeId === found.storeId
        ? `the data directory ${dataDir} is older than this node's own record of it: ${recordFile} says the store had ` +
          `reached ${describeMark(recorded)}; the store now holds ${describeMark(found)}. It was put back from an older ` +
          `copy (or lost synced writes), so it has forgotten `
        : `the data directory ${dataDir} holds another store than the one this node last ran with (${recordFile} ` +
          `names store ${recorded.storeId}, this is ${found.storeId} at ${describeMark(found)}): ` +
          `an older store of this node was put back, which has forgotten `) +
        `votes and entries it acknowledged, and must not vote or sign as if nothing happened. Keep it aside for ` +
        `inspection and empty the data directory, then ${rejoinAsLearnerSteps(rejoin)}`,
      undefined,
      { code: 'RESTORED_STORE', rejoin, dataDir, recorded, found, recordFile },
    );
    this.name = 'RestoredStoreError';
  }
}

/**
 * The record is missing or cannot be read while the store holds something: refuse (safety over
 * liveness). Deleting the record must never be a way past the check: without it nobody can tell a
 * store put back from an older copy from a healthy one, so the way on is the learner rejoin.
 */
export class StoreHighWaterFileError extends StorageError<{ code: 'STORE_HIGH_WATER_FILE'; file: string; problem: string }> {
  constructor(readonly file: string, readonly problem: string, rejoin?: RejoinCommandContext, found?: StoreHighWater) {
    super(
      `cannot use ${file} (${problem}). It records how far this node's store had got, to catch a data directory ` +
        `restored from an older copy` +
        (rejoin && found
          ? `; without it this store (at ${describeMark(found)}) cannot be told from an older copy, so it must not vote. ` +
            `Keep the data directory aside for inspection and empty it, then ${rejoinAsLearnerSteps(rejoin)}`
          : '.'),
      undefined,
      { code: 'STORE_HIGH_WATER_FILE', file, problem },
    );
    this.name = 'StoreHighWaterFileError';
  }
}

/** The record in `home`, or null if there is none. Throws StoreHighWaterFileError if it is unreadable. */
export function readStoreHighWater(home: string): StoreHighWater | null {
  const file = storeHighWaterPath(home);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new StoreHighWaterFileError(file, (err as Error).message);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new StoreHighWaterFileError(file, `not JSON: ${(err as Error).message}`);
  }
  const r = parsed as Partial<StoreHighWater> | null;
  const count = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
  if (
    typeof r !== 'object' ||
    r === null ||
    typeof r.storeId !== 'string' ||
    !/^[0-9a-f]{32}$/.test(r.storeId) ||
    typeof r.vote !== 'string' ||
    !count(r.term) ||
    !count(r.commit) ||
    !count(r.lastIndex) ||
    !count(r.lastTerm)
  ) {
    throw new StoreHighWaterFileError(file, 'expected {"storeId": 32 hex digits, "term", "vote", "commit", "lastIndex", "lastTerm"}');
  }
  return { storeId: r.storeId, term: r.term, vote: r.vote, commit: r.commit, lastIndex: r.lastIndex, lastTerm: r.lastTerm };
}

export function writeStoreHighWater(home: string, mark: StoreHighWater): void {
  const body = JSON.stringify({ ...mark, note: 'raft-signer: how far this node\'s store had got. Never copy it from another node.' });
  writeSecretFile(storeHighWaterPath(home), `${body}\n`, { overwrite: true, what: 'store high-water record' });
}

/**
 * What a store at start is, against the record: the same store at or beyond it; the same store
 * behind it (restored, or lost synced writes); a store created just now (empty, another id: a
 * wiped node rejoining); or another store that already holds something (an older store of this
 * node put back, from before it last rejoined).
 */
export function compareStoreHighWater(recorded: StoreHighWater, now: StoreHighWater): 'same-store' | 'behind' | 'new-store' | 'other-store' {
  if (recorded.storeId !== now.storeId) {
    return now.term === 0 && now.commit === 0 && now.lastIndex === 0 ? 'new-store' : 'other-store';
  }
  const forgotVote = now.term === recorded.term && recorded.vote !== '' && now.vote !== recorded.vote;
  const logBehind = now.lastTerm < recorded.lastTerm || (now.lastTerm === recorded.lastTerm && now.lastIndex < recorded.lastIndex);
  return now.term < recorded.term || forgotVote || now.commit < recorded.commit || logBehind ? 'behind' : 'same-store';
}

/** Whether two marks are the same (nothing to write). */
function sameMark(a: StoreHighWater, b: StoreHighWater): boolean {
  return (
    a.storeId === b.storeId &&
    a.term === b.term &&
    a.vote === b.vote &&
    a.commit === b.commit &&
    a.lastIndex === b.lastIndex &&
    a.lastTerm === b.lastTerm
  );
}

/** A store that holds nothing yet: no term, no entry, no commit. */
function isEmptyMark(m: StoreHighWater): boolean {
  return m.term === 0 && m.commit === 0 && m.lastIndex === 0;
}

/**
 * At start, before the node takes part in anything: refuses a store that is behind its own record,
 * that is not the store the record is about but holds something, or that holds something while the
 * record is missing or unreadable. A store created anew (as the learner rejoin does) replaces the
 * record, which is written at once so that it exists before the store holds anything.
 */
export function checkStoreHighWater(options: { home: string; rejoin: RejoinCommandContext; dataDir: string; now: StoreHighWater; logger: Logger }): void {
  const file = storeHighWaterPath(options.home);
  let recorded: StoreHighWater | null;
  try {
    recorded = readStoreHighWater(options.home);
  } catch (err) {
    if (!(err instanceof StoreHighWaterFileError) || !isEmptyMark(options.now)) {
      const problem = err instanceof StoreHighWaterFileError ? err.problem : (err as Error).message;
      throw new StoreHighWaterFileError(file, problem, options.rejoin, options.now);
    }
    options.logger.warn('the store high-water record is unreadable, and the store is new and empty: the record starts over', { file });
    recorded = null;
  }
  if (recorded === null) {
    if (!isEmptyMark(options.now)) throw new StoreHighWaterFileError(file, 'it is missing', options.rejoin, options.now);
    writeStoreHighWater(options.home, options.now);
    return;
  }
  const verdict = compareStoreHighWater(recorded, options.now);
  if (verdict === 'behind' || verdict === 'other-store') {
    throw new RestoredStoreError(options.rejoin, options.dataDir, recorded, options.now, file);
  }
  if (verdict === 'new-store') {
    options.logger.warn('the data directory holds a new, empty store; its high-water record starts over', { dataDir: options.dataDir });
    writeStoreHighWater(options.home, options.now);
  }
}

/**
 * Keeps the record up to date while the node runs: every `intervalMs`, if what the store has
 * durably reached moved, rewrite the file (fsynced, atomically). It lags the store by at most one
 * interval, and is never ahead of it (only fsynced hard state is read), so it never refuses a
 * healthy store. A copy is caught when what it holds is behind the last record; what the store
 * reached in the last interval of running before it stopped (nothing is recorded while the
 * process is paused) is not in the record, so a copy from within that is not caught.
 */
export class StoreHighWaterRecorder {
  private last: StoreHighWater | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly home: string,
    private readonly current: () => StoreHighWater,
    private readonly logger: Logger,
  ) {}

  start(intervalMs: number): void {
    this.record();
    this.timer = setInterval(() => this.record(), intervalMs);
    this.timer.unref();
  }

  /** Stops the timer after one last write (a graceful stop leaves the exact mark). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.record();
  }

  /** Writes the mark now if it moved. A failed write is logged: the record only guards, it never decides. */
  record(): void {
    const mark = this.current();
    const last = this.last;
    if (last !== null && sameMark(last, mark)) return;
    try {
      writeStoreHighWater(this.home, mark);
      this.last = mark;
    } catch (err) {
      this.logger.warn('could not update the store high-water record', { file: storeHighWaterPath(this.home), error: (err as Error).message });
    }
  }
}
