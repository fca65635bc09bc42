// The key layout of a node's LevelDB store. One byte names the keyspace; log entry keys add the
// index as 8 bytes big-endian so that LevelDB's bytewise order is index order (a range of the log
// is a range of keys, and iteration reads the log in order). These bytes are the on-disk format:
// never renumber them; add new keyspaces with new bytes and bump STORE_FORMAT_VERSION if old
// readers must refuse the result.

/** The keyspaces. Values are on disk. */
export enum Keyspace {
  /** One record: format version, node id, cluster id. Written when the store is created. */
  Meta = 0x01,
  /**
   * One record, rewritten by every batch: Raft's hard state (term, vote, commit) plus what the rest
   * of the store must hold (last log index, snapshot index, count and digest of the state-machine
   * records). LevelDB does not verify its table checksums on reads, and a damaged index block can
   * hide records without any error; this record is how open() notices records that are missing.
   */
  RaftState = 0x02,
  /** One record: the latest snapshot (metadata and state-machine image). */
  Snapshot = 0x03,
  /**
   * One record: 16 random bytes chosen when the store is created. A copy of the directory keeps
   * it, a store created anew does not: it tells "this store, older" from "another store".
   */
  StoreId = 0x04,
  /**
   * One record, written before the bootstrap entry of a founding member: the founding membership
   * (founders and their stores) as JSON, the cluster's identity beside its CA. Absent for a
   * store that joined as a learner.
   */
  Founding = 0x05,
  /** One record per log entry after the snapshot, keyed by index. */
  Entry = 0x10,
  /** The replicated state machine's records (the signer's slashing protection), arbitrary keys. */
  StateMachine = 0x20,
}

export const META_KEY: Buffer = Buffer.from([Keyspace.Meta]);
export const RAFT_STATE_KEY: Buffer = Buffer.from([Keyspace.RaftState]);
export const SNAPSHOT_KEY: Buffer = Buffer.from([Keyspace.Snapshot]);
export const STORE_ID_KEY: Buffer = Buffer.from([Keyspace.StoreId]);
export const FOUNDING_KEY: Buffer = Buffer.from([Keyspace.Founding]);

export const ENTRY_KEY_LENGTH = 9;
const TWO_POW_32 = 0x1_0000_0000;

/** Indexes are JS numbers; anything outside [0, 2^53) would not round-trip through 8 bytes. */
export function isValidIndex(index: number): boolean {
  return Number.isSafeInteger(index) && index >= 0;
}

/** The key of the log entry at `index`: 0x10 followed by the index as u64 big-endian. */
export function entryKey(index: number): Buffer {
  if (!isValidIndex(index)) throw new RangeError(`log index ${index} is not a non-negative safe integer`);
  const key = Buffer.allocUnsafe(ENTRY_KEY_LENGTH);
  key[0] = Keyspace.Entry;
  key.writeUInt32BE(Math.floor(index / TWO_POW_32), 1);
  key.writeUInt32BE(index >>> 0, 5);
  return key;
}

/** The index in an entry key, or null if `key` is not a well-formed entry key. */
export function parseEntryKey(key: Uint8Array): number | null {
  if (key.length !== ENTRY_KEY_LENGTH || key[0] !== Keyspace.Entry) return null;
  const buf = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  const high = buf.readUInt32BE(1);
  const index = high * TWO_POW_32 + buf.readUInt32BE(5);
  return Number.isSafeInteger(index) ? index : null;
}

/** The store key of a state-machine key: 0x20 followed by the caller's bytes. */
export function stateMachineKey(key: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + key.length);
  out[0] = Keyspace.StateMachine;
  out.set(key, 1);
  return out;
}

/** The caller's key inside a state-machine store key (a view, not a copy). */
export function parseStateMachineKey(storeKey: Uint8Array): Uint8Array {
  return storeKey.subarray(1);
}

/**
 * The bounds that select every state-machine key starting with `prefix`: gte the prefixed key,
 * lt the first key after all of them (the prefix incremented as a big-endian number, or the next
 * keyspace when the prefix is all 0xff bytes or empty).
 */
export function stateMachineRange(prefix: Uint8Array): { gte: Buffer; lt: Buffer } {
  const gte = stateMachineKey(prefix);
  const lt = Buffer.from(gte);
  let i = lt.length - 1;
  while (i > 0 && lt[i] === 0xff) i--;
  if (i === 0) return { gte, lt: Buffer.from([Keyspace.StateMachine + 1]) };
  lt[i]++;
  return { gte, lt: lt.subarray(0, i + 1) };
}

/** A short printable name of a store key for error messages. */
export function describeKey(key: Uint8Array): string {
  const index = parseEntryKey(key);
  if (index !== null) return `log entry ${index}`;
  if (key.length === 1 && key[0] === Keyspace.Meta) return 'meta record';
  if (key.length === 1 && key[0] === Keyspace.RaftState) return 'raft state record';
  if (key.length === 1 && key[0] === Keyspace.Snapshot) return 'snapshot';
  if (key.length === 1 && key[0] === Keyspace.StoreId) return 'store id record';
  if (key.length >= 1 && key[0] === Keyspace.StateMachine) {
    return `state-machine record 0x${Buffer.from(key.subarray(1, 33)).toString('hex')}${key.length > 33 ? '…' : ''}`;
  }
  return `key 0x${Buffer.from(key.subarray(0, 32)).toString('hex')}${key.length > 32 ? '…' : ''}`;
}
