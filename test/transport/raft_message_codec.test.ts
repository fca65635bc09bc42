import { EntryType, MessageType, type Message } from '../../src/raft/types';
import {
  decodeRaftMessage,
  decodeRaftMessageBytes,
  encodeRaftMessage,
  RaftMessageCodecError,
} from '../../src/transport/raft_message_codec';
import { raftServiceDefinition } from '../../src/transport/proto_loader';

function message(overrides: Partial<Message> = {}): Message {
  return {
    type: MessageType.Append,
    from: 'node0',
    to: 'node1',
    term: 7,
    logTerm: 6,
    index: 41,
    entries: [
      { term: 7, index: 42, type: EntryType.Normal, data: new Uint8Array([1, 2, 3]) },
      { term: 7, index: 43, type: EntryType.ConfChange, data: new Uint8Array([]) },
    ],
    commit: 40,
    reject: false,
    rejectHint: 0,
    ...overrides,
  };
}

describe('Raft message codec', () => {
  test('round-trips every field, including a snapshot, transfer and numbers up to 2^53-1', () => {
    const original = message({
      type: MessageType.InstallSnapshot,
      term: Number.MAX_SAFE_INTEGER,
      reject: true,
      rejectHint: 12,
      transfer: true,
      snapshot: {
        metadata: { index: 2 ** 40, term: 5, confState: { voters: ['node0', 'node1'], learners: ['node9'] } },
        data: new Uint8Array(1000).fill(7),
      },
    });
    const decoded = decodeRaftMessageBytes(encodeRaftMessage(original));
    expect(decoded).toEqual(original);
    // Bytes come back as plain Uint8Arrays, not Buffers.
    expect(Buffer.isBuffer(decoded.entries[0].data)).toBe(false);
    expect(decoded.snapshot && Buffer.isBuffer(decoded.snapshot.data)).toBe(false);
  });

  test('optional fields stay absent when not sent', () => {
    const decoded = decodeRaftMessageBytes(encodeRaftMessage(message({ type: MessageType.Heartbeat, entries: [] })));
    expect(decoded).toEqual(message({ type: MessageType.Heartbeat, entries: [] }));
    expect('snapshot' in decoded).toBe(false);
    expect('transfer' in decoded).toBe(false);
  });

  test('the encoder refuses what the core must never send', () => {
    expect(() => encodeRaftMessage(message({ term: -1 }))).toThrow(RaftMessageCodecError);
    expect(() => encodeRaftMessage(message({ index: 1.5 }))).toThrow(/index/);
    expect(() => encodeRaftMessage(message({ commit: 2 ** 53 }))).toThrow(/commit/);
    expect(() => encodeRaftMessage(message({ from: '' }))).toThrow(/from/);
    expect(() => encodeRaftMessage(message({ type: 99 as MessageType }))).toThrow(/message type/);
    expect(() => encodeRaftMessage(message({ type: MessageType.InstallSnapshot }))).toThrow(/without a snapshot/);
    expect(() =>
      encodeRaftMessage(message({ entries: [{ term: 1, index: 1, type: 5 as EntryType, data: new Uint8Array() }] })),
    ).toThrow(/entry type/);
  });

  test('the decoder refuses lossy numbers, unknown enums and missing snapshots from the wire', () => {
    const serialize = raftServiceDefinition().Stream.requestSerialize as (value: object) => Buffer;
    const valid = { type: 5, from: 'node0', to: 'node1', term: '1' };
    expect(decodeRaftMessageBytes(serialize(valid)).term).toBe(1);
    expect(() => decodeRaftMessageBytes(serialize({ ...valid, term: '9007199254740992' }))).toThrow(/term/);
    expect(() => decodeRaftMessageBytes(serialize({ ...valid, index: '18446744073709551615' }))).toThrow(/index/);
    expect(() => decodeRaftMessageBytes(serialize({ ...valid, type: 0 }))).toThrow(/message type/);
    expect(() => decodeRaftMessageBytes(serialize({ ...valid, type: 42 }))).toThrow(/message type/);
    expect(() => decodeRaftMessageBytes(serialize({ ...valid, from: '' }))).toThrow(/from/);
    expect(() => decodeRaftMessageBytes(serialize({ ...valid, type: 9 }))).toThrow(/without a snapshot/);
    expect(() => decodeRaftMessageBytes(serialize({ ...valid, type: 9, snapshot: { data: Buffer.from([1]) } }))).toThrow(
      /metadata/,
    );
    expect(() => decodeRaftMessageBytes(serialize({ ...valid, entries: [{ type: 3 }] }))).toThrow(/entry type/);
    expect(() => decodeRaftMessageBytes(Buffer.from([0xff, 0xff, 0xff]))).toThrow(RaftMessageCodecError);
    expect(() => decodeRaftMessage(null)).toThrow(RaftMessageCodecError);
  });
});
