import * as zlib from 'zlib';
import { EntryType } from '../../src/raft/types';
import {
  crc32,
  crc32Fallback,
  decodeEntryValue,
  decodeRaftStateValue,
  decodeMetaValue,
  decodeSnapshotValue,
  encodeEntryValue,
  encodeRaftStateValue,
  encodeMetaValue,
  encodeSnapshotValue,
  sealValue,
  STORE_FORMAT_VERSION,
  unsealValue,
} from '../../src/storage/codec';
import { RecordDecodeError } from '../../src/storage/errors';
import {
  entryKey,
  META_KEY,
  RAFT_STATE_KEY,
  parseEntryKey,
  SNAPSHOT_KEY,
  stateMachineKey,
  stateMachineRange,
} from '../../src/storage/keys';

describe('keys', () => {
  it('entry keys sort by index, byte for byte, across 32-bit boundaries', () => {
    const indexes = [0, 1, 2, 255, 256, 65535, 0xffffffff, 0x100000000, 0x100000001, Number.MAX_SAFE_INTEGER];
    const keys = indexes.map(entryKey);
    const sorted = [...keys].sort(Buffer.compare);
    expect(sorted.map((k) => parseEntryKey(k))).toEqual(indexes);
    expect(keys.every((k) => k.length === 9 && k[0] === 0x10)).toBe(true);
  });

  it('refuses indexes that do not fit 8 bytes exactly', () => {
    expect(() => entryKey(-1)).toThrow(RangeError);
    expect(() => entryKey(1.5)).toThrow(RangeError);
    expect(() => entryKey(2 ** 53)).toThrow(RangeError);
    expect(parseEntryKey(Buffer.from([0x10, 1, 2]))).toBeNull();
    expect(parseEntryKey(Buffer.from([0x20, 0, 0, 0, 0, 0, 0, 0, 1]))).toBeNull();
  });

  it('a state-machine prefix range selects exactly the keys that start with it', () => {
    const cases: Array<[number[], number[], boolean]> = [
      [[1, 2], [1, 2], true],
      [[1, 2], [1, 2, 0], true],
      [[1, 2], [1, 2, 255, 255], true],
      [[1, 2], [1, 3], false],
      [[1, 2], [1, 1, 255], false],
      [[1, 255], [1, 255, 9], true],
      [[1, 255], [2], false],
      [[255, 255], [255, 255, 1], true],
      [[], [0], true],
      [[], [255, 255, 255], true],
    ];
    for (const [prefix, key, inside] of cases) {
      const { gte, lt } = stateMachineRange(Buffer.from(prefix));
      const k = stateMachineKey(Buffer.from(key));
      const within = Buffer.compare(k, gte) >= 0 && Buffer.compare(k, lt) < 0;
      expect({ prefix, key, within }).toEqual({ prefix, key, within: inside });
    }
    // Nothing outside the keyspace: an empty prefix stops before the next keyspace byte.
    expect(Buffer.compare(entryKey(5), stateMachineRange(Buffer.alloc(0)).gte)).toBeLessThan(0);
  });
});

describe('crc32', () => {
  it('the fallback computes the same function as zlib, including continuation', () => {
    const samples = [Buffer.alloc(0), Buffer.from('123456789'), Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff))];
    expect(crc32Fallback(Buffer.from('123456789'))).toBe(0xcbf43926); // the CRC-32 check value
    for (const s of samples) {
      expect(crc32Fallback(s)).toBe(crc32(s));
      expect(crc32Fallback(s, 0x12345678)).toBe(crc32(s, 0x12345678));
    }
    expect(crc32).toBe((zlib as unknown as { crc32: unknown }).crc32); // native on this Node
  });
});

describe('records', () => {
  it('round-trip entries, hard state, snapshot and meta', () => {
    const key = entryKey(42);
    const e = { index: 42, term: 7, type: EntryType.ConfChange, data: Buffer.from('{"type":"promote"}') };
    const back = decodeEntryValue(key, encodeEntryValue(key, e));
    expect({ ...back, data: [...back.data] }).toEqual({ ...e, data: [...e.data] });

    const big = { index: 2 ** 40 + 3, term: 2 ** 33, type: EntryType.Normal, data: new Uint8Array(0) };
    const bigKey = entryKey(big.index);
    expect(decodeEntryValue(bigKey, encodeEntryValue(bigKey, big))).toEqual(big);

    const state = {
      hardState: { term: 9, vote: 'nöde-1', commit: 2 ** 50 },
      logLastIndex: 2 ** 50 + 1,
      snapshotIndex: 77,
      stateMachineCount: 3,
      stateMachineDigest: 0xfedcba98,
    };
    expect(decodeRaftStateValue(RAFT_STATE_KEY, encodeRaftStateValue(RAFT_STATE_KEY, state))).toEqual(state);
    const empty = { hardState: { term: 0, vote: '', commit: 0 }, logLastIndex: 0, snapshotIndex: 0, stateMachineCount: 0, stateMachineDigest: 0 };
    expect(decodeRaftStateValue(RAFT_STATE_KEY, encodeRaftStateValue(RAFT_STATE_KEY, empty))).toEqual(empty);

    const snap = {
      metadata: { index: 100, term: 4, confState: { voters: ['a', 'b', 'c'], learners: ['d'] } },
      data: new Uint8Array([1, 2, 3, 0, 255]),
    };
    const snapBack = decodeSnapshotValue(SNAPSHOT_KEY, encodeSnapshotValue(SNAPSHOT_KEY, snap));
    expect({ ...snapBack, data: [...snapBack.data] }).toEqual({ ...snap, data: [...snap.data] });

    const meta = { formatVersion: STORE_FORMAT_VERSION, nodeId: 'node0', clusterId: 'prod-eu' };
    expect(decodeMetaValue(META_KEY, encodeMetaValue(META_KEY, meta))).toEqual(meta);
  });

  it('detects every single-bit flip in a sealed value', () => {
    const key = entryKey(7);
    const value = encodeEntryValue(key, { index: 7, term: 3, type: EntryType.Normal, data: Buffer.from('sign bytes') });
    for (let byte = 0; byte < value.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const damaged = Buffer.from(value);
        damaged[byte] ^= 1 << bit;
        expect(() => decodeEntryValue(key, damaged)).toThrow(RecordDecodeError);
      }
    }
  });

  it('detects a record moved under another key (the key is inside the checksum)', () => {
    const value = encodeEntryValue(entryKey(7), { index: 7, term: 3, type: EntryType.Normal, data: Buffer.from('x') });
    expect(() => decodeEntryValue(entryKey(6), value)).toThrow(/checksum mismatch/);
    const sm = sealValue(stateMachineKey(Buffer.from('chain-a')), Buffer.from('record'));
    expect(() => unsealValue(stateMachineKey(Buffer.from('chain-b')), sm)).toThrow(/checksum mismatch/);
  });

  it('rejects truncated and padded records even when the checksum is recomputed', () => {
    const hs = encodeRaftStateValue(RAFT_STATE_KEY, {
      hardState: { term: 1, vote: 'abc', commit: 1 },
      logLastIndex: 1,
      snapshotIndex: 0,
      stateMachineCount: 0,
      stateMachineDigest: 0,
    });
    const resealed = (payload: Buffer): Buffer => sealValue(RAFT_STATE_KEY, payload);
    expect(() => decodeRaftStateValue(RAFT_STATE_KEY, resealed(hs.subarray(4, hs.length - 1)))).toThrow(/truncated/);
    expect(() => decodeRaftStateValue(RAFT_STATE_KEY, resealed(Buffer.concat([hs.subarray(4), Buffer.from([0])])))).toThrow(
      /unexpected bytes/,
    );
    expect(() => unsealValue(RAFT_STATE_KEY, Buffer.from([1, 2]))).toThrow(/shorter than its checksum/);
    const badType = Buffer.alloc(17);
    badType[16] = 9;
    expect(() => decodeEntryValue(entryKey(0), sealValue(entryKey(0), badType))).toThrow(/unknown entry type 9/);
  });

  it('reports a newer format version without decoding the rest', () => {
    const payload = Buffer.alloc(4);
    payload.writeUInt32BE(STORE_FORMAT_VERSION + 1);
    expect(decodeMetaValue(META_KEY, sealValue(META_KEY, payload)).formatVersion).toBe(STORE_FORMAT_VERSION + 1);
  });
});
