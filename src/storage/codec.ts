// Binary encoding of every value in the store. Fixed layouts, big-endian, no JSON: a persist of one
// entry is on the sign path and must not allocate more than the bytes it writes.
//
// Every value is sealed: a 4-byte CRC-32 (IEEE, as zlib) of the record's KEY followed by its
// payload, then the payload. Covering the key means a flipped bit in a key (an entry that moves to
// another index, a slashing record under another chain) is caught, not just a flipped bit in a
// value. LevelDB does not verify its own block checksums on reads unless asked (classic-level never
// asks), so this seal is what detects bit rot in the tables.
//
//   value     = crc32(key ‖ payload) u32 ‖ payload
//   entry     = index u64 ‖ term u64 ‖ type u8 ‖ data (rest of the value)
//   raftState = term u64 ‖ commit u64 ‖ vote str ‖ logLastIndex u64 ‖ snapshotIndex u64
//               ‖ stateMachineCount u64 ‖ stateMachineDigest u32
//   snapshot  = index u64 ‖ term u64 ‖ voters strlist ‖ learners strlist ‖ incarnations strlist
//               (voters' then learners', in order; empty when none is recorded)
//               ‖ data u32-length-prefixed
//   meta      = formatVersion u32 ‖ nodeId str ‖ clusterId str
//   str       = u16 byte length ‖ UTF-8 bytes;  strlist = u32 count ‖ str*

import * as zlib from 'zlib';
import { ConfState, Entry, EntryType, HardState, incarnationOf, Snapshot } from '../raft/types';
import { RecordDecodeError } from './errors';

/** Bump when a layout above changes; open() refuses stores with a version it does not know. */
export const STORE_FORMAT_VERSION = 2;

/**
 * The record every batch rewrites: the hard state, and what the rest of the store must hold so
 * that records which silently vanish (see Keyspace.RaftState) are noticed at open.
 */
export interface RaftStateRecord {
  hardState: HardState;
  /** The log holds exactly [snapshotIndex + 1, logLastIndex]. */
  logLastIndex: number;
  /** 0 when there is no snapshot. */
  snapshotIndex: number;
  /** How many state-machine records exist. */
  stateMachineCount: number;
  /** XOR of the seals (first 4 bytes) of all state-machine values. */
  stateMachineDigest: number;
}

export interface StoreMeta {
  formatVersion: number;
  nodeId: string;
  clusterId: string;
}

const SEAL_LENGTH = 4;
const U64_LENGTH = 8;
const TWO_POW_32 = 0x1_0000_0000;
const MAX_STRING_BYTES = 0xffff;
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

// ---------------------------------------------------------------------------------------------
// CRC-32. zlib.crc32 is native from Node 20.15; package.json allows 20.12, so a table fallback
// computes the same function (same polynomial, same continuation semantics) on older releases.

type Crc32 = (data: Uint8Array, initial?: number) => number;

const CRC_TABLE: Uint32Array = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE) in plain JS; `initial` continues a previous checksum like zlib.crc32 does. */
export function crc32Fallback(data: Uint8Array, initial = 0): number {
  let crc = (initial ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) crc = CRC_TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const nativeCrc32 = (zlib as unknown as { crc32?: Crc32 }).crc32;
export const crc32: Crc32 = typeof nativeCrc32 === 'function' ? nativeCrc32 : crc32Fallback;

// ---------------------------------------------------------------------------------------------
// Sealing.

/** A buffer with room for the seal followed by `payloadLength` bytes; fill from offset 4, then seal(). */
function allocSealed(payloadLength: number): Buffer {
  return Buffer.allocUnsafe(SEAL_LENGTH + payloadLength);
}

function seal(key: Uint8Array, value: Buffer): Buffer {
  value.writeUInt32BE(crc32(value.subarray(SEAL_LENGTH), crc32(key)), 0);
  return value;
}

/** Wraps an opaque payload (a state-machine record) in a seal for `key`. */
export function sealValue(key: Uint8Array, payload: Uint8Array): Buffer {
  const value = allocSealed(payload.length);
  value.set(payload, SEAL_LENGTH);
  return seal(key, value);
}

/** Checks the seal and returns the payload (a view into `value`). Throws RecordDecodeError. */
export function unsealValue(key: Uint8Array, value: Uint8Array): Buffer {
  const buf = asBuffer(value);
  if (buf.length < SEAL_LENGTH) throw new RecordDecodeError(`value is ${buf.length} bytes, shorter than its checksum`);
  const payload = buf.subarray(SEAL_LENGTH);
  const expected = buf.readUInt32BE(0);
  const actual = crc32(payload, crc32(key));
  if (expected !== actual) {
    throw new RecordDecodeError(
      `checksum mismatch (stored ${expected.toString(16).padStart(8, '0')}, computed ${actual.toString(16).padStart(8, '0')})`,
    );
  }
  return payload;
}

// ---------------------------------------------------------------------------------------------
// Records.

/** The sealed value of `entry` stored under `key`. */
export function encodeEntryValue(key: Uint8Array, entry: Entry): Buffer {
  const value = allocSealed(U64_LENGTH * 2 + 1 + entry.data.length);
  let at = writeU64(value, entry.index, SEAL_LENGTH);
  at = writeU64(value, entry.term, at);
  value[at++] = entry.type;
  value.set(entry.data, at);
  return seal(key, value);
}

export function decodeEntryValue(key: Uint8Array, value: Uint8Array): Entry {
  const reader = new Reader(unsealValue(key, value));
  const index = reader.u64('index');
  const term = reader.u64('term');
  const type = reader.u8('type');
  if (type !== EntryType.Normal && type !== EntryType.ConfChange) throw new RecordDecodeError(`unknown entry type ${type}`);
  // A copy, so the entry does not pin LevelDB's whole read buffer for as long as the log lives.
  const data = new Uint8Array(reader.rest());
  return { index, term, type, data };
}

export function encodeRaftStateValue(key: Uint8Array, state: RaftStateRecord): Buffer {
  const vote = encodeString(state.hardState.vote, 'vote');
  const value = allocSealed(U64_LENGTH * 2 + 2 + vote.length + U64_LENGTH * 3 + 4);
  let at = writeU64(value, state.hardState.term, SEAL_LENGTH);
  at = writeU64(value, state.hardState.commit, at);
  at = writeString(value, vote, at);
  at = writeU64(value, state.logLastIndex, at);
  at = writeU64(value, state.snapshotIndex, at);
  at = writeU64(value, state.stateMachineCount, at);
  value.writeUInt32BE(state.stateMachineDigest >>> 0, at);
  return seal(key, value);
}

export function decodeRaftStateValue(key: Uint8Array, value: Uint8Array): RaftStateRecord {
  const reader = new Reader(unsealValue(key, value));
  const hardState = { term: reader.u64('term'), commit: reader.u64('commit'), vote: reader.str('vote') };
  const state = {
    hardState,
    logLastIndex: reader.u64('last log index'),
    snapshotIndex: reader.u64('snapshot index'),
    stateMachineCount: reader.u64('state-machine record count'),
    stateMachineDigest: reader.u32('state-machine digest'),
  };
  reader.end();
  return state;
}

/** A sealed value's seal, which doubles as the record's contribution to the state-machine digest. */
export function sealOf(value: Uint8Array): number {
  return asBuffer(value).readUInt32BE(0);
}

export function encodeSnapshotValue(key: Uint8Array, snapshot: Snapshot): Buffer {
  const { metadata } = snapshot;
  const voters = metadata.confState.voters.map((id) => encodeString(id, 'voter id'));
  const learners = metadata.confState.learners.map((id) => encodeString(id, 'learner id'));
  const cs = metadata.confState;
  const memberIncarnations = [...cs.voters, ...cs.learners].map((id) => incarnationOf(cs, id));
  const incarnations = memberIncarnations.every((i) => i === '') ? [] : memberIncarnations.map((i) => encodeString(i, 'incarnation'));
  const listLength = (list: Buffer[]): number => 4 + list.reduce((n, s) => n + 2 + s.length, 0);
  if (snapshot.data.length > 0xffffffff) throw new RangeError('snapshot data is larger than 4 GiB');
  const value = allocSealed(U64_LENGTH * 2 + listLength(voters) + listLength(learners) + listLength(incarnations) + 4 + snapshot.data.length);
  let at = writeU64(value, metadata.index, SEAL_LENGTH);
  at = writeU64(value, metadata.term, at);
  for (const list of [voters, learners, incarnations]) {
    at = value.writeUInt32BE(list.length, at);
    for (const s of list) at = writeString(value, s, at);
  }
  at = value.writeUInt32BE(snapshot.data.length, at);
  value.set(snapshot.data, at);
  return seal(key, value);
}

export function decodeSnapshotValue(key: Uint8Array, value: Uint8Array): Snapshot {
  const reader = new Reader(unsealValue(key, value));
  const index = reader.u64('snapshot index');
  const term = reader.u64('snapshot term');
  const voters = reader.strList('voters');
  const learners = reader.strList('learners');
  const incarnations = reader.strList('incarnations');
  const members = [...voters, ...learners];
  if (incarnations.length !== 0 && incarnations.length !== members.length) {
    throw new RecordDecodeError(`snapshot names ${members.length} members but ${incarnations.length} incarnations`);
  }
  const confState: ConfState = { voters, learners };
  if (incarnations.length > 0) confState.incarnations = Object.fromEntries(members.map((id, i) => [id, incarnations[i]]));
  const data = new Uint8Array(reader.bytes(reader.u32('data length'), 'data'));
  reader.end();
  return { metadata: { index, term, confState }, data };
}

export function encodeMetaValue(key: Uint8Array, meta: StoreMeta): Buffer {
  const nodeId = encodeString(meta.nodeId, 'node id');
  const clusterId = encodeString(meta.clusterId, 'cluster id');
  const value = allocSealed(4 + 2 + nodeId.length + 2 + clusterId.length);
  let at = value.writeUInt32BE(meta.formatVersion, SEAL_LENGTH);
  at = writeString(value, nodeId, at);
  writeString(value, clusterId, at);
  return seal(key, value);
}

/**
 * Decodes the meta record. The format version comes first and is returned even when the rest is
 * from a format this code does not know, so open() can say "written by a newer version".
 */
export function decodeMetaValue(key: Uint8Array, value: Uint8Array): StoreMeta {
  const reader = new Reader(unsealValue(key, value));
  const formatVersion = reader.u32('format version');
  if (formatVersion !== STORE_FORMAT_VERSION) return { formatVersion, nodeId: '', clusterId: '' };
  const meta = { formatVersion, nodeId: reader.str('node id'), clusterId: reader.str('cluster id') };
  reader.end();
  return meta;
}

// ---------------------------------------------------------------------------------------------
// Primitives.

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Writes a non-negative safe integer as u64 big-endian; returns the offset after it. */
function writeU64(buf: Buffer, n: number, at: number): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${n} is not a non-negative safe integer`);
  buf.writeUInt32BE(Math.floor(n / TWO_POW_32), at);
  buf.writeUInt32BE(n >>> 0, at + 4);
  return at + 8;
}

function encodeString(s: string, what: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length > MAX_STRING_BYTES) throw new RangeError(`${what} is longer than ${MAX_STRING_BYTES} bytes`);
  return bytes;
}

function writeString(buf: Buffer, bytes: Buffer, at: number): number {
  at = buf.writeUInt16BE(bytes.length, at);
  buf.set(bytes, at);
  return at + bytes.length;
}

/** Bounds-checked reads; every failure is a RecordDecodeError naming the field. */
class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}

  private need(n: number, what: string): void {
    if (this.at + n > this.buf.length) {
      throw new RecordDecodeError(`truncated: ${what} needs ${n} bytes at offset ${this.at} of ${this.buf.length}`);
    }
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.at++];
  }

  u32(what: string): number {
    this.need(4, what);
    const n = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return n;
  }

  u64(what: string): number {
    this.need(8, what);
    const high = this.buf.readUInt32BE(this.at);
    const n = high * TWO_POW_32 + this.buf.readUInt32BE(this.at + 4);
    if (!Number.isSafeInteger(n)) throw new RecordDecodeError(`${what} ${n} is beyond 2^53`);
    this.at += 8;
    return n;
  }

  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  str(what: string): string {
    const n = this.buf.length - this.at >= 2 ? this.buf.readUInt16BE(this.at) : -1;
    this.need(2, `${what} length`);
    this.at += 2;
    try {
      return utf8Decoder.decode(this.bytes(n, what));
    } catch (e) {
      if (e instanceof RecordDecodeError) throw e;
      throw new RecordDecodeError(`${what} is not valid UTF-8`);
    }
  }

  strList(what: string): string[] {
    const count = this.u32(`${what} count`);
    // Each string takes at least 2 bytes: a count beyond that is corruption, not a reason to allocate.
    if (count * 2 > this.buf.length - this.at) throw new RecordDecodeError(`${what} count ${count} exceeds the record`);
    const out: string[] = [];
    for (let i = 0; i < count; i++) out.push(this.str(`${what}[${i}]`));
    return out;
  }

  rest(): Buffer {
    const out = this.buf.subarray(this.at);
    this.at = this.buf.length;
    return out;
  }

  end(): void {
    if (this.at !== this.buf.length) {
      throw new RecordDecodeError(`${this.buf.length - this.at} unexpected bytes after the record`);
    }
  }
}
