// The durable store of one node: Raft's log, hard state and snapshot, plus the replicated state
// machine's records (the signer's slashing protection), in one LevelDB database. Everything a
// Ready asks for is written in ONE batch, fsynced, so that a crash leaves either the state before
// the batch or the state after it, never a mix (and never a slashing record without the log entry
// that decided it, or the other way round). See the PERSISTENCE CONTRACT on `Ready` in
// src/raft/types.ts.
//
// Open is paranoid on purpose. LevelDB's own recovery rewrites files (it replays the write-ahead
// log into a new table and deletes the log), and when the write-ahead log holds a damaged record it
// silently DROPS that record and the rest of its 32 KiB block, synced writes included, then
// deletes the evidence. So an existing store is first opened and verified on a scratch copy inside
// the directory; only a store that passes is opened for real. A store that fails is left byte for
// byte as it was, for the operator or a forensic look. LevelDB also does not verify its table
// checksums on reads, and a damaged index block hides records without an error; so every batch
// rewrites one raft state record saying what the store must hold (last index, snapshot index,
// count and digest of the state-machine records), and open() refuses a store that holds less.

import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { Level } from 'level';
import type { StateMachineOp } from '../raft/state_machine';
import { Entry, EntryType, HardState, NodeId, Snapshot, SnapshotMetadata } from '../raft/types';
import {
  decodeEntryValue,
  decodeMetaValue,
  decodeRaftStateValue,
  decodeSnapshotValue,
  encodeEntryValue,
  encodeMetaValue,
  encodeRaftStateValue,
  encodeSnapshotValue,
  RaftStateRecord,
  sealOf,
  sealValue,
  STORE_FORMAT_VERSION,
  unsealValue,
} from './codec';
import {
  describeCause,
  RecordDecodeError,
  StorageContractError,
  StorageCorruptError,
  StorageError,
  StorageFormatError,
  StorageIdentityError,
  StorageIOError,
  StorageLockedError,
  StorageNotAStoreError,
  StorageUnavailableError,
} from './errors';
import {
  describeKey,
  entryKey,
  isValidIndex,
  Keyspace,
  META_KEY,
  parseEntryKey,
  parseStateMachineKey,
  RAFT_STATE_KEY,
  SNAPSHOT_KEY,
  STORE_ID_KEY,
  FOUNDING_KEY,
  stateMachineKey,
  stateMachineRange,
} from './keys';

/** Who a store belongs to. A store written for another node or cluster is refused. */
export interface StoreIdentity {
  nodeId: NodeId;
  /** A name for the cluster, chosen at bootstrap; guards against pointing a node at a foreign store. */
  clusterId: string;
}

/** A log position: an entry's index and term. */
export interface LogPosition {
  index: number;
  term: number;
}

/** The part of a `Ready` that storage persists (see the PERSISTENCE CONTRACT in src/raft/types.ts). */
export interface PersistRequest {
  hardState?: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
  /** After this write the stored log holds exactly [logFirstIndex, logLastIndex]. */
  logFirstIndex: number;
  logLastIndex: number;
}

export type { StateMachineOp } from '../raft/state_machine';

export interface PersistOptions {
  /** fsync before resolving (default true). Pass false only for a Ready whose `mustSync` is false. */
  sync?: boolean;
  /**
   * Delete every state-machine record before applying `stateMachineOps`, in the same batch: for a
   * snapshot install, whose image replaces the state machine wholesale.
   */
  clearStateMachine?: boolean;
}

export interface StateMachineRecord {
  key: Uint8Array;
  value: Uint8Array;
}

/** Read access to the state machine's records, verified against their checksums on every read. */
export interface StateMachineReader {
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  iterate(prefix?: Uint8Array): AsyncGenerator<StateMachineRecord>;
}

/** What the store held at open, verified. */
export interface StoredState {
  hardState: HardState;
  snapshot: Snapshot | null;
  /** The whole log after the snapshot, in index order (the core keeps it in memory). */
  entries: Entry[];
  stateMachine: StateMachineReader;
}

type Database = Level<Buffer, Buffer>;
type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: '', commit: 0 });
/** Scratch directories for verification live inside the store directory under this prefix. */
const SCRATCH_PREFIX = '.raft-signer-verify-';
/** LevelDB's file names; anything else in the directory means it is not (only) a store. */
const LEVELDB_FILE = /^(CURRENT|LOCK|LOG|LOG\.old|MANIFEST-\d+|\d+\.(log|ldb|sst|dbtmp))$/;
/** Files LevelDB writes before it has written any data: a directory with only these is empty. */
const LEVELDB_PRE_CREATION_FILE = /^(LOCK|LOG|LOG\.old)$/;
/** What LevelDB's info log says when it skips a damaged write-ahead-log record or table block. */
const LEVELDB_DAMAGE_REPORT = /dropping \d+ bytes|Corruption|corruption/;
const ITERATE_CHUNK = 512;
const OUR_KEYSPACES: ReadonlySet<number> = new Set(
  Object.values(Keyspace).filter((v): v is number => typeof v === 'number'),
);

/** Directories opened by this process: LevelDB's lock does not stop a second open from within one process reliably. */
const openInThisProcess = new Set<string>();

export class RaftStorage {
  /** This store's random id (hex), kept by copies of the directory (see Keyspace.StoreId). */
  readonly storeId: string;
  private foundingNow: string | null;
  private db: Database;
  private state: StoredState;
  private hardStateNow: HardState;
  /** The hard state and last log entry as of the last fsynced batch: what survives a power cut. */
  private syncedHardStateNow: HardState;
  private syncedLastNow: LogPosition;
  private snapshotNow: SnapshotMetadata | null;
  /** The stored log is exactly [firstIndex, firstIndex + terms.length - 1]; terms[i] is the term of firstIndex + i. */
  private firstIndex: number;
  private terms: number[];
  /**
   * The seal of every state-machine record, by hex key: what the count and digest in the raft state
   * record are computed from. Slashing records number in the hundreds or thousands, so this is small.
   */
  private stateMachineSeals: Map<string, number>;
  private stateMachineDigest: number;
  /** The raft state record as last written, to skip a batch that would change nothing. */
  private lastRaftStateValue: Buffer;
  /** Persists run one at a time, in call order: each one's checks depend on the previous result. */
  private queue: Promise<unknown> = Promise.resolve();
  private failure: StorageError | null = null;
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly identity: StoreIdentity,
    db: Database,
    loaded: LoadedRecords,
    private readonly registryKey: string,
  ) {
    this.db = db;
    this.hardStateNow = loaded.hardState;
    this.syncedHardStateNow = loaded.hardState;
    // open() gives every store an id before constructing it.
    if (loaded.storeId === null) throw new Error('internal error: a store without an id was opened');
    this.storeId = loaded.storeId;
    this.foundingNow = loaded.founding;
    this.snapshotNow = loaded.snapshot?.metadata ?? null;
    this.firstIndex = (loaded.snapshot?.metadata.index ?? 0) + 1;
    this.terms = loaded.entries.map((e) => e.term);
    this.syncedLastNow = this.lastPosition();
    this.stateMachineSeals = loaded.stateMachineSeals;
    this.stateMachineDigest = loaded.stateMachineDigest;
    this.lastRaftStateValue = encodeRaftStateValue(RAFT_STATE_KEY, this.raftStateRecord(loaded.hardState, this.logLastIndex));
    const stateMachine: StateMachineReader = {
      get: (key) => this.getStateMachine(key),
      iterate: (prefix) => this.iterateStateMachine(prefix),
    };
    this.state = { hardState: loaded.hardState, snapshot: loaded.snapshot, entries: loaded.entries, stateMachine };
  }

  /**
   * Opens the store in `dir`, creating it if the directory is missing or empty. An existing store
   * is verified completely (see the top of this file) and refused with a typed error if anything is
   * wrong; a refused store is not modified.
   */
  static async open(dir: string, identity: StoreIdentity): Promise<RaftStorage> {
    checkIdentity(identity);
    const absDir = path.resolve(dir);
    const { kind, hasTables } = await classifyDirectory(absDir);
    if (kind === 'missing') await mkdirOrThrow(absDir);
    // A store with no records is a creation interrupted before its first write, unless LevelDB has
    // table files: then records exist that LevelDB cannot see, and the store is damaged.
    const mayBeUninitialized = !hasTables;
    const registryKey = await realpathOrThrow(absDir);
    if (openInThisProcess.has(registryKey)) throw new StorageLockedError(absDir);
    openInThisProcess.add(registryKey);
    try {
      if (kind === 'store') await verifyOnScratchCopy(absDir, identity, mayBeUninitialized);
      const db = await openLevel(absDir, kind !== 'store');
      try {
        if (kind === 'store') await checkLevelDbReportedNoDamage(absDir, absDir);
        let loaded = await readAndVerify(db, absDir, identity, mayBeUninitialized);
        if (loaded === 'uninitialized') {
          // A new store, or one whose creation was interrupted before anything was written. The
          // meta and raft state records go in together: from now on both must always exist.
          const initial: RaftStateRecord = {
            hardState: EMPTY_HARD_STATE,
            logLastIndex: 0,
            snapshotIndex: 0,
            stateMachineCount: 0,
            stateMachineDigest: 0,
          };
          const meta = encodeMetaValue(META_KEY, { formatVersion: STORE_FORMAT_VERSION, ...identity });
          const storeId = randomBytes(STORE_ID_BYTES);
          await db.batch(
            [
              { type: 'put', key: META_KEY, value: meta },
              { type: 'put', key: RAFT_STATE_KEY, value: encodeRaftStateValue(RAFT_STATE_KEY, initial) },
              { type: 'put', key: STORE_ID_KEY, value: sealValue(STORE_ID_KEY, storeId) },
            ],
            { sync: true },
          );
          loaded = {
            hardState: { ...EMPTY_HARD_STATE },
            snapshot: null,
            entries: [],
            stateMachineSeals: new Map(),
            stateMachineDigest: 0,
            storeId: storeId.toString('hex'),
            founding: null,
          };
        } else if (loaded.storeId === null) {
          // A store written before store ids existed gets one now.
          const storeId = randomBytes(STORE_ID_BYTES);
          await db.put(STORE_ID_KEY, sealValue(STORE_ID_KEY, storeId), { sync: true });
          loaded = { ...loaded, storeId: storeId.toString('hex') };
        }
        await removeStaleScratchDirectories(absDir);
        return new RaftStorage(absDir, identity, db, loaded, registryKey);
      } catch (e) {
        await db.close().catch(() => undefined);
        throw e;
      }
    } catch (e) {
      openInThisProcess.delete(registryKey);
      throw e;
    }
  }

  /** The state the store held when it was opened (entries after the snapshot, verified). */
  load(): StoredState {
    return this.state;
  }

  /** The hard state as last persisted. */
  get hardState(): HardState {
    return { ...this.hardStateNow };
  }

  /**
   * The hard state as of the last fsynced batch. A batch written without fsync survives a crash
   * of the process but maybe not of the machine; this one survives both.
   */
  get syncedHardState(): HardState {
    return { ...this.syncedHardStateNow };
  }

  /** The last log entry (or the snapshot, when the log is empty) as of the last fsynced batch. */
  get syncedLast(): LogPosition {
    return { ...this.syncedLastNow };
  }

  /** The founding record (Keyspace.Founding) as stored, or null for a store that never founded. */
  get founding(): string | null {
    return this.foundingNow;
  }

  /**
   * Writes the founding record (fsynced), once: a store's founding membership never changes. Call
   * it before persisting the bootstrap entry, so a crash in between leaves a store that still
   * knows which membership it was founding.
   */
  setFounding(text: string): Promise<void> {
    return this.enqueue(async () => {
      this.checkOpen();
      if (this.foundingNow !== null && this.foundingNow !== text) {
        throw new StorageContractError(this.dir, 'the founding record of a store cannot change once written');
      }
      try {
        await this.db.put(FOUNDING_KEY, sealValue(FOUNDING_KEY, Buffer.from(text, 'utf8')), { sync: true });
      } catch (e) {
        throw new StorageIOError(this.dir, 'writing the founding record', e);
      }
      this.foundingNow = text;
    });
  }

  /** The metadata of the snapshot as last persisted, or null. */
  get snapshotMetadata(): SnapshotMetadata | null {
    return this.snapshotNow;
  }

  /** The first stored log index (snapshot index + 1). */
  get logFirstIndex(): number {
    return this.firstIndex;
  }

  /** The last stored log index (the snapshot index when the log is empty). */
  get logLastIndex(): number {
    return this.firstIndex + this.terms.length - 1;
  }

  /**
   * Persists the storage part of a Ready, and state-machine changes, in ONE LevelDB batch that is
   * fsynced unless `options.sync` is false. Resolves once the batch is durable. Throws a
   * StorageContractError (nothing written) if the result would be a store that open() refuses,
   * and a StorageIOError if the write fails; after a failed write every later write is refused
   * because what reached the disk is unknown until a restart verifies it.
   */
  persist(request: PersistRequest, stateMachineOps: StateMachineOp[] = [], options: PersistOptions = {}): Promise<void> {
    return this.enqueue(() => this.persistNow(request, stateMachineOps, options));
  }

  /** Writes state-machine changes alone, leaving the log as it is (one batch, fsynced unless `sync` is false). */
  writeStateMachine(ops: StateMachineOp[], options: PersistOptions = {}): Promise<void> {
    // The log range is read when the write runs, after the persists queued before it.
    return this.enqueue(() =>
      this.persistNow({ entries: [], logFirstIndex: this.firstIndex, logLastIndex: this.logLastIndex }, ops, options),
    );
  }

  /** A state-machine record, or undefined. Throws StorageCorruptError if its checksum fails. */
  async getStateMachine(key: Uint8Array): Promise<Uint8Array | undefined> {
    this.checkOpen();
    const storeKey = stateMachineKey(key);
    let value: Buffer | undefined;
    try {
      value = (await this.db.get(storeKey)) as Buffer | undefined;
    } catch (e) {
      throw new StorageIOError(this.dir, `reading ${describeKey(storeKey)}`, e);
    }
    if (value === undefined) return undefined;
    return this.unsealOrCorrupt(storeKey, value);
  }

  /** Every state-machine record whose key starts with `prefix`, in key order. */
  async *iterateStateMachine(prefix: Uint8Array = new Uint8Array(0)): AsyncGenerator<StateMachineRecord> {
    this.checkOpen();
    const iterator = this.db.iterator(stateMachineRange(prefix));
    try {
      for (;;) {
        let chunk: Array<[Buffer, Buffer]>;
        try {
          chunk = await iterator.nextv(ITERATE_CHUNK);
        } catch (e) {
          throw new StorageIOError(this.dir, 'iterating state-machine records', e);
        }
        if (chunk.length === 0) return;
        for (const [key, value] of chunk) {
          yield { key: parseStateMachineKey(key), value: this.unsealOrCorrupt(key, value) };
        }
      }
    } finally {
      await iterator.close();
    }
  }

  /** Waits for queued persists, then closes the database and releases the directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    try {
      await this.db.close();
    } finally {
      openInThisProcess.delete(this.registryKey);
    }
  }

  // -------------------------------------------------------------------------------------------

  private enqueue(write: () => Promise<void>): Promise<void> {
    const run = this.queue.then(write);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private checkOpen(): void {
    if (this.closed) throw new StorageUnavailableError(this.dir, 'it is closed');
  }

  private unsealOrCorrupt(storeKey: Buffer, value: Buffer): Uint8Array {
    try {
      return unsealValue(storeKey, value);
    } catch (e) {
      throw new StorageCorruptError(this.dir, `${describeKey(storeKey)}: ${(e as Error).message}`);
    }
  }

  private async persistNow(request: PersistRequest, smOps: StateMachineOp[], options: PersistOptions): Promise<void> {
    this.checkOpen();
    if (this.failure) throw new StorageUnavailableError(this.dir, `an earlier write failed (${this.failure.message})`);
    const log = this.planPersist(request);
    const stateMachine = this.planStateMachine(smOps, options.clearStateMachine === true);
    const raftState = encodeRaftStateValue(RAFT_STATE_KEY, {
      ...this.raftStateRecord(log.hardState, log.lastIndex),
      snapshotIndex: log.snapshotIndex,
      stateMachineCount: stateMachine.count,
      stateMachineDigest: stateMachine.digest,
    });
    if (log.ops.length === 0 && stateMachine.ops.length === 0 && raftState.equals(this.lastRaftStateValue)) return;
    const ops = [...log.ops, ...stateMachine.ops, { type: 'put' as const, key: RAFT_STATE_KEY, value: raftState }];
    try {
      await this.db.batch(ops, { sync: options.sync !== false });
    } catch (e) {
      this.failure = new StorageIOError(this.dir, 'writing a batch', e);
      throw this.failure;
    }
    log.commit();
    stateMachine.commit();
    this.lastRaftStateValue = raftState;
    // An fsync makes every earlier batch durable too.
    if (options.sync !== false) {
      this.syncedHardStateNow = { ...this.hardStateNow };
      this.syncedLastNow = this.lastPosition();
    }
  }

  private lastPosition(): LogPosition {
    const term = this.terms.length > 0 ? this.terms[this.terms.length - 1] : (this.snapshotNow?.term ?? 0);
    return { index: this.logLastIndex, term };
  }

  private raftStateRecord(hardState: HardState, lastIndex: number): RaftStateRecord {
    return {
      hardState,
      logLastIndex: lastIndex,
      snapshotIndex: this.snapshotNow?.index ?? 0,
      stateMachineCount: this.stateMachineSeals.size,
      stateMachineDigest: this.stateMachineDigest,
    };
  }

  /** The batch operations for state-machine changes, and the count and digest they lead to. */
  private planStateMachine(
    smOps: StateMachineOp[],
    clear: boolean,
  ): { ops: BatchOp[]; count: number; digest: number; commit: () => void } {
    const ops: BatchOp[] = [];
    const changed = new Map<string, number | undefined>(); // hex key -> new seal, or undefined when deleted
    const sealNow = (hex: string): number | undefined => (changed.has(hex) ? changed.get(hex) : this.stateMachineSeals.get(hex));
    let count = this.stateMachineSeals.size;
    let digest = this.stateMachineDigest;
    const remove = (hex: string): void => {
      const old = sealNow(hex);
      if (old !== undefined) {
        digest = (digest ^ old) >>> 0;
        count--;
      }
      changed.set(hex, undefined);
    };
    if (clear) {
      for (const hex of this.stateMachineSeals.keys()) {
        ops.push({ type: 'del', key: stateMachineKey(Buffer.from(hex, 'hex')) });
        remove(hex);
      }
    }
    for (const op of smOps) {
      if (!(op.key instanceof Uint8Array)) throw this.contractError('a state-machine key is not a byte array');
      const key = stateMachineKey(op.key);
      const hex = Buffer.from(op.key).toString('hex');
      if (op.type === 'del') {
        ops.push({ type: 'del', key });
        remove(hex);
      } else if (op.type === 'put' && op.value instanceof Uint8Array) {
        const value = sealValue(key, op.value);
        remove(hex);
        const seal = sealOf(value);
        digest = (digest ^ seal) >>> 0;
        count++;
        changed.set(hex, seal);
        ops.push({ type: 'put', key, value });
      } else {
        throw this.contractError(
          `state-machine op ${String((op as { type: unknown }).type)} needs type put with a byte-array value, or type del`,
        );
      }
    }
    const commit = (): void => {
      for (const [hex, seal] of changed) {
        if (seal === undefined) this.stateMachineSeals.delete(hex);
        else this.stateMachineSeals.set(hex, seal);
      }
      this.stateMachineDigest = digest;
    };
    return { ops, count, digest, commit };
  }

  private contractError(problem: string): StorageContractError {
    return new StorageContractError(this.dir, problem);
  }

  /**
   * Checks a request against the stored state and returns the batch operations plus a function
   * that moves the in-memory picture forward once the batch is durable. Pure until commit().
   * The checks are the ones open() makes, so a write can never produce a store that cannot reopen.
   */
  private planPersist(request: PersistRequest): {
    ops: BatchOp[];
    hardState: HardState;
    lastIndex: number;
    snapshotIndex: number;
    commit: () => void;
  } {
    const { entries, snapshot, hardState } = request;
    const first = request.logFirstIndex;
    const last = request.logLastIndex;
    const storedFirst = this.firstIndex;
    const storedLast = this.logLastIndex;
    const ops: BatchOp[] = [];

    if (!isValidIndex(first) || !isValidIndex(last) || first < 1 || last < first - 1) {
      throw this.contractError(`log range [${first}, ${last}] is not a valid range`);
    }

    // The snapshot, if any, becomes the new base of the log.
    let snapshotIndex = this.snapshotNow?.index ?? 0;
    let snapshotTerm = this.snapshotNow?.term ?? 0;
    if (snapshot) {
      const m = snapshot.metadata;
      if (!isValidIndex(m.index) || m.index < 1 || !isValidIndex(m.term) || !(snapshot.data instanceof Uint8Array)) {
        throw this.contractError('the snapshot has an invalid index, term or data');
      }
      if (m.index < snapshotIndex) {
        throw this.contractError(`snapshot at index ${m.index} is older than the stored snapshot at ${snapshotIndex}`);
      }
      const ids = [...m.confState.voters, ...m.confState.learners];
      if (!ids.every((id) => typeof id === 'string' && id.length > 0)) {
        throw this.contractError('the snapshot membership holds an empty node id');
      }
      snapshotIndex = m.index;
      snapshotTerm = m.term;
      ops.push({ type: 'put', key: SNAPSHOT_KEY, value: encodeSnapshotValue(SNAPSHOT_KEY, snapshot) });
    }
    if (first !== snapshotIndex + 1) {
      throw this.contractError(
        `logFirstIndex ${first} must follow the snapshot index ${snapshotIndex} (compact the log only together with persisting a snapshot)`,
      );
    }

    // The new entries: contiguous, inside [first, last], ending at last, terms non-decreasing.
    const termOfStored = (i: number): number => this.terms[i - storedFirst];
    let keptStoredTo: number; // stored entries [first, keptStoredTo] stay (in addition to the new ones)
    if (entries.length > 0) {
      const a = entries[0].index;
      const b = entries[entries.length - 1].index;
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i];
        if (!isValidIndex(e.index) || e.index !== a + i) {
          throw this.contractError(`entries are not contiguous: entry ${i} has index ${e.index}, expected ${a + i}`);
        }
        if (!isValidIndex(e.term) || (i > 0 && e.term < entries[i - 1].term)) {
          throw this.contractError(`entry ${e.index} has term ${e.term}, below the term of the entry before it`);
        }
        if (e.type !== EntryType.Normal && e.type !== EntryType.ConfChange) {
          throw this.contractError(`entry ${e.index} has unknown type ${String(e.type)}`);
        }
        if (!(e.data instanceof Uint8Array)) throw this.contractError(`entry ${e.index} data is not a byte array`);
      }
      if (a < first || b !== last) {
        throw this.contractError(`entries [${a}, ${b}] must lie within and end at the log range [${first}, ${last}]`);
      }
      if (a > first) {
        // Entries [first, a-1] must already be stored, and the term must not go down across the join.
        if (first < storedFirst || a - 1 > storedLast) {
          const missing = first < storedFirst ? [first, storedFirst - 1] : [storedLast + 1, a - 1];
          throw this.contractError(
            `entries start at ${a} but the store holds only [${storedFirst}, ${storedLast}], so [${missing[0]}, ${missing[1]}] would be missing`,
          );
        }
        if (termOfStored(a - 1) > entries[0].term) {
          throw this.contractError(`entry ${a} has term ${entries[0].term}, below the term ${termOfStored(a - 1)} of stored entry ${a - 1}`);
        }
      }
      keptStoredTo = a - 1;
    } else {
      if (last >= first && (first < storedFirst || last > storedLast)) {
        throw this.contractError(`the log range [${first}, ${last}] is not stored (the store holds [${storedFirst}, ${storedLast}])`);
      }
      keptStoredTo = last;
    }
    const firstTerm = last < first ? undefined : first < (entries[0]?.index ?? Infinity) ? termOfStored(first) : entries[0].term;
    if (firstTerm !== undefined && firstTerm < snapshotTerm) {
      throw this.contractError(`entry ${first} has term ${firstTerm}, below the snapshot term ${snapshotTerm}`);
    }
    const lastTerm = last < first ? snapshotTerm : entries.length > 0 ? entries[entries.length - 1].term : termOfStored(last);

    // Hard state: never backwards, never a second vote in a term, commit within the log.
    const newHardState = hardState ?? this.hardStateNow;
    if (hardState) {
      const old = this.hardStateNow;
      if (!isValidIndex(hardState.term) || !isValidIndex(hardState.commit) || typeof hardState.vote !== 'string') {
        throw this.contractError('the hard state has an invalid term, commit or vote');
      }
      if (hardState.term < old.term) throw this.contractError(`hard state term ${hardState.term} is below the stored term ${old.term}`);
      if (hardState.term === old.term && old.vote !== '' && hardState.vote !== old.vote) {
        throw this.contractError(`hard state changes the vote in term ${old.term} from ${old.vote} to ${hardState.vote || 'nobody'}`);
      }
      if (hardState.commit < old.commit) {
        throw this.contractError(`hard state commit ${hardState.commit} is below the stored commit ${old.commit}`);
      }
    }
    if (newHardState.commit > last) {
      throw this.contractError(`commit ${newHardState.commit} would be beyond the last log index ${last}`);
    }
    if (newHardState.term < lastTerm) {
      throw this.contractError(`hard state term ${newHardState.term} would be below the last log term ${lastTerm}`);
    }

    // Deletes: every stored index outside [first, last]. Entries inside it that the new entries
    // replace are overwritten by their puts. Explicit keys, no range scan: usually zero deletes.
    for (let i = storedFirst; i <= Math.min(storedLast, first - 1); i++) ops.push({ type: 'del', key: entryKey(i) });
    for (let i = Math.max(storedFirst, last + 1); i <= storedLast; i++) ops.push({ type: 'del', key: entryKey(i) });
    for (const e of entries) {
      const key = entryKey(e.index);
      ops.push({ type: 'put', key, value: encodeEntryValue(key, e) });
    }

    const commit = (): void => {
      // Kept stored terms: [max(first, storedFirst), min(keptStoredTo, storedLast)], then the new entries.
      const keepFrom = Math.max(first, storedFirst);
      const keepTo = Math.min(keptStoredTo, storedLast, last);
      let terms = this.terms;
      if (keepTo < keepFrom) terms = [];
      else {
        terms.length = keepTo - storedFirst + 1;
        if (keepFrom > storedFirst) terms = terms.slice(keepFrom - storedFirst);
      }
      for (const e of entries) terms.push(e.term);
      this.terms = terms;
      this.firstIndex = first;
      this.hardStateNow = { ...newHardState };
      if (snapshot) this.snapshotNow = snapshot.metadata;
    };
    return { ops, hardState: newHardState, lastIndex: last, snapshotIndex, commit };
  }
}

// ---------------------------------------------------------------------------------------------
// Opening.

interface LoadedRecords {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
  stateMachineSeals: Map<string, number>;
  stateMachineDigest: number;
  /** Hex; null for a store written before store ids existed. */
  storeId: string | null;
  /** The founding record's text (see Keyspace.Founding), or null. */
  founding: string | null;
}

const STORE_ID_BYTES = 16;

function checkIdentity(identity: StoreIdentity): void {
  for (const field of ['nodeId', 'clusterId'] as const) {
    const v: unknown = identity?.[field];
    if (typeof v !== 'string' || v.length === 0 || Buffer.byteLength(v) > 0xffff) {
      throw new TypeError(`RaftStorage.open needs a non-empty ${field} of at most 65535 bytes`);
    }
  }
}

type DirectoryKind = 'missing' | 'empty' | 'store';

/**
 * Looks at the directory without touching it: missing, empty (or an interrupted creation), or a
 * store; and whether LevelDB has written table files there.
 */
async function classifyDirectory(dir: string): Promise<{ kind: DirectoryKind; hasTables: boolean }> {
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing', hasTables: false };
    throw new StorageIOError(dir, 'inspecting the data directory', e);
  }
  if (!stat.isDirectory()) throw new StorageNotAStoreError(dir, 'it is a file, not a directory');
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch (e) {
    throw new StorageIOError(dir, 'listing the data directory', e);
  }
  names = names.filter((n) => n !== 'lost+found' && !n.startsWith(SCRATCH_PREFIX)).sort();
  const foreign = names.filter((n) => !LEVELDB_FILE.test(n));
  if (foreign.length > 0) {
    const shown = foreign.slice(0, 5).join(', ') + (foreign.length > 5 ? `, and ${foreign.length - 5} more` : '');
    throw new StorageNotAStoreError(dir, `it holds files that are not part of one (${shown})`);
  }
  const hasTables = names.some((n) => /\.(ldb|sst)$/.test(n));
  if (names.includes('CURRENT')) return { kind: 'store', hasTables };
  if (names.every((n) => LEVELDB_PRE_CREATION_FILE.test(n))) return { kind: 'empty', hasTables };
  throw new StorageCorruptError(dir, `LevelDB's CURRENT file is missing but data files remain (${names.slice(0, 5).join(', ')})`);
}

async function mkdirOrThrow(dir: string): Promise<void> {
  try {
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new StorageIOError(dir, 'creating the data directory', e);
  }
}

async function realpathOrThrow(dir: string): Promise<string> {
  try {
    return await fs.promises.realpath(dir);
  } catch (e) {
    throw new StorageIOError(dir, 'resolving the data directory', e);
  }
}

/** Opens LevelDB at `location`, mapping its errors to ours. `reportDir` is the store's path for messages. */
async function openLevel(location: string, create: boolean, reportDir = location): Promise<Database> {
  const db = new Level<Buffer, Buffer>(location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  try {
    await db.open({ createIfMissing: create, errorIfExists: false });
  } catch (e) {
    const cause = (e as { cause?: { code?: unknown; message?: unknown } }).cause;
    if (cause?.code === 'LEVEL_LOCKED') throw new StorageLockedError(reportDir);
    // An I/O error other than a missing file (permissions, a failing disk) says nothing about the
    // content: report it as such, not with advice to delete the store.
    if (cause?.code === 'LEVEL_IO_ERROR' && !/No such file/i.test(String(cause.message))) {
      throw new StorageIOError(reportDir, 'opening LevelDB', e);
    }
    throw new StorageCorruptError(reportDir, `LevelDB cannot open it (${describeCause(e)})`);
  }
  return db;
}

/**
 * Copies the store into a scratch directory inside it and opens and verifies the copy, so that
 * LevelDB's recovery and anything it would drop happen to the copy. The LOCK file is hard-linked,
 * not copied: LevelDB's lock is an fcntl lock on that inode, so a store in use by another process
 * is reported as such here instead of as a torn copy that looks corrupt.
 */
async function verifyOnScratchCopy(dir: string, identity: StoreIdentity, mayBeUninitialized: boolean): Promise<void> {
  const scratch = path.join(dir, `${SCRATCH_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    try {
      await fs.promises.mkdir(scratch, { mode: 0o700 });
      for (const name of await fs.promises.readdir(dir)) {
        if (!LEVELDB_FILE.test(name)) continue;
        const from = path.join(dir, name);
        const to = path.join(scratch, name);
        try {
          if (name === 'LOCK') await fs.promises.link(from, to).catch(() => fs.promises.copyFile(from, to));
          else await fs.promises.copyFile(from, to, fs.constants.COPYFILE_FICLONE);
        } catch (e) {
          // A file that disappears while copying belongs to a process that has the store open; the
          // lock check in openLevel() reports that.
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        }
      }
    } catch (e) {
      throw new StorageIOError(dir, 'copying the store to a scratch directory for verification', e);
    }
    const db = await openLevel(scratch, false, dir);
    try {
      await checkLevelDbReportedNoDamage(scratch, dir);
      await readAndVerify(db, dir, identity, mayBeUninitialized);
    } finally {
      await db.close().catch(() => undefined);
    }
  } finally {
    await fs.promises.rm(scratch, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** LevelDB logs, and otherwise ignores, damaged write-ahead-log records it drops during recovery. */
async function checkLevelDbReportedNoDamage(location: string, reportDir: string): Promise<void> {
  let log: string;
  try {
    log = await fs.promises.readFile(path.join(location, 'LOG'), 'utf8');
  } catch {
    return; // no info log: nothing reported
  }
  const line = log.split('\n').find((l) => LEVELDB_DAMAGE_REPORT.test(l));
  if (line !== undefined) {
    throw new StorageCorruptError(
      reportDir,
      `LevelDB found a damaged record while recovering and would drop it, losing synced writes (${line.replace(/^\S+ \S+ /, '').trim()})`,
    );
  }
}

/** Removes scratch directories left by opens that crashed mid-verification. We hold the lock now. */
async function removeStaleScratchDirectories(dir: string): Promise<void> {
  const names = await fs.promises.readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (name.startsWith(SCRATCH_PREFIX)) {
      await fs.promises.rm(path.join(dir, name), { recursive: true, force: true }).catch(() => undefined);
    }
  }
}

/**
 * Reads every record, checks every checksum, the log's structure, and that the store holds exactly
 * what the raft state record says it must. Returns 'uninitialized' for a store with no records at
 * all when `mayBeUninitialized` (a creation interrupted before its first write).
 */
async function readAndVerify(
  db: Database,
  dir: string,
  identity: StoreIdentity,
  mayBeUninitialized: boolean,
): Promise<LoadedRecords | 'uninitialized'> {
  const corrupt = (problem: string): StorageCorruptError => new StorageCorruptError(dir, problem);
  const decode = <T>(key: Buffer, fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof RecordDecodeError) throw corrupt(`${describeKey(key)}: ${e.message}`);
      throw e;
    }
  };

  let sawMeta = false;
  let sawAny = false;
  let raftState: RaftStateRecord | null = null;
  let snapshot: Snapshot | null = null;
  let storeId: string | null = null;
  let founding: string | null = null;
  const entries: Entry[] = [];
  const stateMachineSeals = new Map<string, number>();
  let stateMachineDigest = 0;

  const iterator = db.iterator();
  try {
    for (;;) {
      let chunk: Array<[Buffer, Buffer]>;
      try {
        chunk = await iterator.nextv(ITERATE_CHUNK);
      } catch (e) {
        throw corrupt(`LevelDB cannot read it (${describeCause(e)})`);
      }
      if (chunk.length === 0) break;
      for (const [key, value] of chunk) {
        if (!sawAny && !(key.length === 1 && key[0] === Keyspace.Meta)) {
          if (!OUR_KEYSPACES.has(key[0])) {
            throw new StorageNotAStoreError(dir, `it is a LevelDB database of another program (first key ${describeKey(key)})`);
          }
          throw corrupt(`the meta record (format, node id, cluster id) is missing; the first key is ${describeKey(key)}`);
        }
        sawAny = true;
        const prefix = key[0];
        if (prefix === Keyspace.Entry) {
          const index = parseEntryKey(key);
          if (index === null) throw corrupt(`malformed log entry key ${describeKey(key)}`);
          const entry = decode(key, () => decodeEntryValue(key, value));
          if (entry.index !== index) throw corrupt(`log entry stored under index ${index} says it is entry ${entry.index}`);
          entries.push(entry);
        } else if (prefix === Keyspace.StateMachine) {
          decode(key, () => unsealValue(key, value));
          const seal = sealOf(value);
          stateMachineSeals.set(Buffer.from(parseStateMachineKey(key)).toString('hex'), seal);
          stateMachineDigest = (stateMachineDigest ^ seal) >>> 0;
        } else if (key.length === 1 && prefix === Keyspace.Meta) {
          const meta = decode(key, () => decodeMetaValue(key, value));
          if (meta.formatVersion !== STORE_FORMAT_VERSION) {
            throw new StorageFormatError(dir, meta.formatVersion, STORE_FORMAT_VERSION);
          }
          if (meta.nodeId !== identity.nodeId || meta.clusterId !== identity.clusterId) {
            throw new StorageIdentityError(dir, meta, identity);
          }
          sawMeta = true;
        } else if (key.length === 1 && prefix === Keyspace.RaftState) {
          raftState = decode(key, () => decodeRaftStateValue(key, value));
        } else if (key.length === 1 && prefix === Keyspace.Snapshot) {
          snapshot = decode(key, () => decodeSnapshotValue(key, value));
        } else if (key.length === 1 && prefix === Keyspace.StoreId) {
          const id = decode(key, () => unsealValue(key, value));
          if (id.length !== STORE_ID_BYTES) throw corrupt(`the store id record holds ${id.length} bytes, not ${STORE_ID_BYTES}`);
          storeId = id.toString('hex');
        } else if (key.length === 1 && prefix === Keyspace.Founding) {
          founding = decode(key, () => unsealValue(key, value)).toString('utf8');
        } else {
          throw corrupt(`unknown ${describeKey(key)}`);
        }
      }
    }
  } finally {
    await iterator.close().catch(() => undefined);
  }
  if (!sawAny) {
    if (mayBeUninitialized) return 'uninitialized';
    throw corrupt('LevelDB shows no records at all although it has table files, so it cannot see its data');
  }
  if (!sawMeta) throw corrupt('the meta record is missing');
  const state = raftState as RaftStateRecord | null;
  if (!state) throw corrupt('the raft state record (hard state and store summary) is missing');

  // The log's own structure.
  const hs = state.hardState;
  const snap = snapshot as Snapshot | null;
  const snapshotIndex = snap?.metadata.index ?? 0;
  const snapshotTerm = snap?.metadata.term ?? 0;
  for (let i = 1; i < entries.length; i++) {
    if (entries[i].index !== entries[i - 1].index + 1) {
      throw corrupt(`the log has a gap: entry ${entries[i - 1].index} is followed by entry ${entries[i].index}`);
    }
    if (entries[i].term < entries[i - 1].term) {
      throw corrupt(
        `log terms go backwards: entry ${entries[i].index} has term ${entries[i].term}, entry ${entries[i - 1].index} has ${entries[i - 1].term}`,
      );
    }
  }
  if (entries.length > 0 && entries[0].index !== snapshotIndex + 1) {
    throw corrupt(
      snap
        ? `the log starts at entry ${entries[0].index} but the snapshot ends at ${snapshotIndex}`
        : `the log starts at entry ${entries[0].index} and there is no snapshot before it`,
    );
  }
  if (entries.length > 0 && entries[0].term < snapshotTerm) {
    throw corrupt(`entry ${entries[0].index} has term ${entries[0].term}, below the snapshot term ${snapshotTerm}`);
  }
  const lastIndex = entries.length > 0 ? entries[entries.length - 1].index : snapshotIndex;
  const lastTerm = entries.length > 0 ? entries[entries.length - 1].term : snapshotTerm;
  if (hs.commit > lastIndex) throw corrupt(`the hard state's commit index ${hs.commit} is beyond the last log index ${lastIndex}`);
  if (hs.term < lastTerm) throw corrupt(`the hard state's term ${hs.term} is below the last log term ${lastTerm}`);

  // Everything the raft state record says must be there, is there (and nothing more).
  if (state.snapshotIndex !== snapshotIndex) {
    throw corrupt(
      snap
        ? `the snapshot is at index ${snapshotIndex} but the raft state record says ${state.snapshotIndex || 'there is none'}`
        : `the snapshot at index ${state.snapshotIndex} is missing`,
    );
  }
  if (state.logLastIndex !== lastIndex) {
    throw corrupt(`the log ends at index ${lastIndex} but the raft state record says it ends at ${state.logLastIndex}: entries are missing or extra`);
  }
  if (stateMachineSeals.size !== state.stateMachineCount || stateMachineDigest !== state.stateMachineDigest) {
    throw corrupt(
      `found ${stateMachineSeals.size} state-machine records where the raft state record expects ${state.stateMachineCount}` +
        (stateMachineSeals.size === state.stateMachineCount ? ' with a different digest' : '') +
        ': records are missing or extra',
    );
  }
  return { hardState: hs, snapshot: snap, entries, stateMachineSeals, stateMachineDigest, storeId, founding };
}
