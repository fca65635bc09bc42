// Canonical sign bytes: CometBFT's published vote vectors, the encoding rules of PROTOCOL.md for
// proposals and vote extensions, the strict decoder, and the timestamp-only comparison.

import { createHash } from 'node:crypto';

import { BlockId, GO_ZERO_TIME, Proposal, Vote, emptyBlockId, emptyVote } from '../../src/cometbft/messages';
import { ProtoReader, encodeUvarint } from '../../src/cometbft/protobuf';
import {
  SignBytesError,
  Step,
  canonicalDifferences,
  decodeCanonicalSignBytes,
  isNilBlockId,
  proposalSignBytes,
  signBytesDifferOnlyByTimestamp,
  stepOf,
  stepOfVoteType,
  voteExtensionSignBytes,
  voteSignBytes,
} from '../../src/cometbft/sign_bytes';
import { VOTE_SIGN_BYTES_CASES, hex, unhex } from '../privval/vectors_fixture';

const sha256 = (s: string): Uint8Array => new Uint8Array(createHash('sha256').update(s).digest());
const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const le64 = (v: bigint): string => {
  const b = Buffer.alloc(8);
  b.writeBigInt64LE(v);
  return b.toString('hex');
};
/** PROTOCOL.md: Go's zero time encodes as `0b 08 80 92 b8 c3 98 fe ff ff ff 01`. */
const ZERO_TIME_FIELD_BODY = '0b088092b8c398feffffff01';

function block(name: string, total = 1): BlockId {
  return { hash: sha256(name), partSetHeader: { total, hash: sha256(`${name}/parts`) } };
}

function vote(fields: Partial<Vote>): Vote {
  return { ...emptyVote(), ...fields };
}

function proposal(fields: Partial<Proposal>): Proposal {
  return {
    type: 32,
    height: 0n,
    round: 0,
    polRound: -1,
    blockId: emptyBlockId(),
    timestamp: { ...GO_ZERO_TIME },
    signature: new Uint8Array(0),
    ...fields,
  };
}

/** Strips the uvarint length prefix after checking it covers the rest exactly. */
function body(signBytes: Uint8Array): string {
  const r = new ProtoReader(signBytes, 'sign bytes');
  const inner = r.lengthDelimited();
  expect(r.atEnd).toBe(true);
  return hex(inner);
}

function withPrefix(bodyHex: string): Uint8Array {
  const b = unhex(bodyHex);
  return new Uint8Array([...encodeUvarint(b.length), ...b]);
}

describe('published vote sign bytes (types/vote_test.go TestVoteSignBytesTestVectors)', () => {
  VOTE_SIGN_BYTES_CASES.forEach((c, i) => {
    const v = vote({
      type: c.vote.type ?? 0,
      height: BigInt(c.vote.height ?? 0),
      round: c.vote.round ?? 0,
      extension: unhex(c.vote.extension ?? ''),
    });

    it(`case ${i}: ${JSON.stringify(c)}`, () => {
      expect(hex(voteSignBytes(c.chainId, v))).toBe(c.signBytes);
    });

    it(`case ${i}: decodes back to its canonical fields`, () => {
      expect(decodeCanonicalSignBytes(unhex(c.signBytes), 'vote')).toEqual({
        kind: 'vote',
        type: v.type,
        height: v.height,
        round: v.round,
        blockId: null,
        timestamp: GO_ZERO_TIME,
        chainId: c.chainId,
      });
    });
  });
});

describe('vote sign bytes', () => {
  it('writes a non-nil block id with its part set header, even an empty one', () => {
    const blockId: BlockId = { hash: sha256('b'), partSetHeader: { total: 0, hash: new Uint8Array(0) } };
    const bytes = voteSignBytes('c', vote({ type: 2, height: 5n, blockId }));
    expect(body(bytes)).toBe(
      '0802' + '11' + le64(5n) + '2224' + '0a20' + hex(sha256('b')) + '1200' + '2a' + ZERO_TIME_FIELD_BODY + '3201' + '63',
    );
  });

  it('writes total and hash of the part set header', () => {
    const b = block('x', 3);
    const bytes = voteSignBytes('', vote({ type: 1, height: 1n, blockId: b }));
    expect(body(bytes)).toContain('2248' + '0a20' + hex(b.hash) + '1224' + '0803' + '1220' + hex(b.partSetHeader.hash));
  });

  it('a block id with only a part set header is not nil', () => {
    const blockId: BlockId = { hash: new Uint8Array(0), partSetHeader: { total: 1, hash: new Uint8Array(0) } };
    expect(body(voteSignBytes('', vote({ blockId })))).toBe('22041202' + '0801' + '2a' + ZERO_TIME_FIELD_BODY);
  });

  it('leaves out validator address, index, signature and extension', () => {
    const base = vote({ type: 2, height: 9n, round: 1, blockId: block('z') });
    const decorated = {
      ...base,
      validatorAddress: sha256('v').slice(0, 20),
      validatorIndex: 3,
      signature: new Uint8Array(64).fill(1),
      extension: utf8('ext'),
      extensionSignature: new Uint8Array(64).fill(2),
    };
    expect(voteSignBytes('c', decorated)).toEqual(voteSignBytes('c', base));
  });

  it('writes the round widened to sfixed64, negative heights and rounds as two’s complement', () => {
    const bytes = voteSignBytes('', vote({ height: -2n, round: -1 }));
    expect(body(bytes)).toBe('11' + le64(-2n) + '19' + le64(-1n) + '2a' + ZERO_TIME_FIELD_BODY);
  });

  it('writes a timestamp with nanos, and an epoch timestamp as an empty message', () => {
    const bytes = voteSignBytes('', vote({ timestamp: { seconds: 1n, nanos: 5 } }));
    expect(body(bytes)).toBe('2a04' + '0801' + '1005');
    expect(body(voteSignBytes('', vote({ timestamp: { seconds: 0n, nanos: 0 } })))).toBe('2a00');
  });

  it.each([
    ['a 31-byte block hash', vote({ blockId: { ...block('a'), hash: new Uint8Array(31) } })],
    ['a 33-byte part set hash', vote({ blockId: { hash: sha256('a'), partSetHeader: { total: 1, hash: new Uint8Array(33) } } })],
    ['a height beyond int64', vote({ height: 1n << 63n })],
    ['a round beyond int32', vote({ round: 2 ** 31 })],
    ['nanos of 1e9', vote({ timestamp: { seconds: 0n, nanos: 1e9 } })],
    ['a time before year 1', vote({ timestamp: { seconds: GO_ZERO_TIME.seconds - 1n, nanos: 0 } })],
  ])('refuses %s with SignBytesError', (_what, v) => {
    expect(() => voteSignBytes('c', v)).toThrow(SignBytesError);
  });
});

describe('proposal sign bytes', () => {
  it('always says type 32, writes pol round -1 as a 10-byte varint', () => {
    const b = block('p', 2);
    const p = proposal({ type: 1, height: 3n, round: 2, polRound: -1, blockId: b });
    expect(body(proposalSignBytes('chain', p))).toBe(
      '0820' +
        '11' + le64(3n) +
        '19' + le64(2n) +
        '20' + 'ffffffffffffffffff01' +
        '2a48' + '0a20' + hex(b.hash) + '1224' + '0802' + '1220' + hex(b.partSetHeader.hash) +
        '32' + ZERO_TIME_FIELD_BODY +
        '3a05' + hex(utf8('chain')),
    );
  });

  it('omits a zero pol round and a nil block id', () => {
    const p = proposal({ height: 1n, polRound: 0 });
    expect(body(proposalSignBytes('', p))).toBe('0820' + '11' + le64(1n) + '32' + ZERO_TIME_FIELD_BODY);
  });

  it('does not depend on the proposal type or signature', () => {
    const p = proposal({ height: 4n, blockId: block('q') });
    const other: Proposal = { ...p, type: 0, signature: new Uint8Array(64).fill(3) };
    expect(proposalSignBytes('c', other)).toEqual(proposalSignBytes('c', p));
  });

  it('refuses a pol round beyond int32', () => {
    expect(() => proposalSignBytes('c', proposal({ polRound: 2 ** 31 }))).toThrow(SignBytesError);
  });
});

describe('vote extension sign bytes', () => {
  it('is CanonicalVoteExtension { extension, sfixed64 height, sfixed64 round, chain_id }', () => {
    const v = vote({ type: 2, height: 7n, round: 1, extension: utf8('extension'), blockId: block('e') });
    expect(body(voteExtensionSignBytes('test_chain_id', v))).toBe(
      '0a09' + hex(utf8('extension')) + '11' + le64(7n) + '19' + le64(1n) + '220d' + hex(utf8('test_chain_id')),
    );
  });

  it('omits an empty extension, a zero height and round, an empty chain id', () => {
    expect(hex(voteExtensionSignBytes('', vote({})))).toBe('00');
  });
});

describe('stepOf and isNilBlockId', () => {
  it('maps proposal, prevote and precommit to steps 1, 2, 3', () => {
    expect(stepOf(32)).toBe(Step.Propose);
    expect(stepOf(1)).toBe(Step.Prevote);
    expect(stepOf(2)).toBe(Step.Precommit);
    expect([Step.Propose, Step.Prevote, Step.Precommit]).toEqual([1, 2, 3]);
  });

  it.each([0, 3, 31, -1])('refuses type %d', (t) => {
    expect(() => stepOf(t)).toThrow(SignBytesError);
  });

  it('stepOfVoteType accepts only prevotes and precommits', () => {
    expect(stepOfVoteType(1)).toBe(2);
    expect(stepOfVoteType(2)).toBe(3);
    for (const t of [0, 3, 32, -1]) expect(() => stepOfVoteType(t)).toThrow(SignBytesError);
  });

  it('a block id is nil only when hash, total and part set hash are all empty', () => {
    expect(isNilBlockId(emptyBlockId())).toBe(true);
    expect(isNilBlockId({ ...emptyBlockId(), hash: sha256('h') })).toBe(false);
    expect(isNilBlockId({ hash: new Uint8Array(0), partSetHeader: { total: 1, hash: new Uint8Array(0) } })).toBe(false);
    expect(isNilBlockId({ hash: new Uint8Array(0), partSetHeader: { total: 0, hash: sha256('p') } })).toBe(false);
  });
});

describe('decodeCanonicalSignBytes', () => {
  const precommit = vote({
    type: 2,
    height: 1234567890123n,
    round: 3,
    blockId: block('d', 9),
    timestamp: { seconds: 1_700_000_000n, nanos: 123 },
  });

  it('round-trips a vote and a proposal, telling them apart by their type', () => {
    const v = decodeCanonicalSignBytes(voteSignBytes('chain-1', precommit));
    expect(v).toEqual({
      kind: 'vote',
      type: 2,
      height: precommit.height,
      round: 3,
      blockId: precommit.blockId,
      timestamp: precommit.timestamp,
      chainId: 'chain-1',
    });
    const p = proposal({ height: 8n, round: 1, polRound: 0, blockId: block('e') });
    expect(decodeCanonicalSignBytes(proposalSignBytes('chain-1', p))).toEqual({
      kind: 'proposal',
      type: 32,
      height: 8n,
      round: 1,
      polRound: 0,
      blockId: p.blockId,
      timestamp: p.timestamp,
      chainId: 'chain-1',
    });
  });

  const votePrefix = '0802' + '11' + le64(1n);
  const zeroTime = '2a' + ZERO_TIME_FIELD_BODY;
  it.each([
    ['a length prefix longer than the rest', '20' + votePrefix + zeroTime],
    ['bytes after the message', hex(withPrefix(votePrefix + zeroTime)) + '00'],
    ['no timestamp', hex(withPrefix(votePrefix))],
    ['an unknown field', hex(withPrefix(votePrefix + zeroTime + '3801'))],
    ['fields out of order', hex(withPrefix('11' + le64(1n) + '0802' + zeroTime))],
    ['a zero value written out', hex(withPrefix('0800' + '11' + le64(1n) + zeroTime))],
    ['a repeated field', hex(withPrefix(votePrefix + '11' + le64(1n) + zeroTime))],
    ['a nil block id written out', hex(withPrefix(votePrefix + '22021200' + zeroTime))],
    ['a block id without its part set header', hex(withPrefix(votePrefix + '22220a20' + hex(sha256('x')) + zeroTime))],
    ['a 2-byte block hash', hex(withPrefix(votePrefix + '22060a02abcd1200' + zeroTime))],
    ['a round beyond int32', hex(withPrefix(votePrefix + '19' + le64(1n << 40n) + zeroTime))],
    ['height sent as a varint', hex(withPrefix('0802' + '1001' + zeroTime))],
    ['a malformed timestamp', hex(withPrefix(votePrefix + '2a0108'))],
    ['an empty input', ''],
  ])('refuses %s', (_what, input) => {
    expect(() => decodeCanonicalSignBytes(unhex(input))).toThrow(SignBytesError);
  });

  it('refuses a proposal whose type is not 32 when asked for a proposal', () => {
    const bytes = voteSignBytes('c', vote({ type: 1, height: 1n }));
    expect(() => decodeCanonicalSignBytes(bytes, 'proposal')).toThrow(SignBytesError);
  });

  it('refuses proposal sign bytes read as a vote (pol round is not a block id)', () => {
    const bytes = proposalSignBytes('c', proposal({ height: 1n, polRound: 1 }));
    expect(() => decodeCanonicalSignBytes(bytes, 'vote')).toThrow(SignBytesError);
  });
});

describe('signBytesDifferOnlyByTimestamp', () => {
  const t1 = { seconds: 1_700_000_000n, nanos: 0 };
  const t2 = { seconds: 1_700_000_001n, nanos: 500 };
  const base = vote({ type: 2, height: 10n, round: 0, blockId: block('a'), timestamp: t1 });

  it('is true for identical bytes and for a different timestamp only', () => {
    expect(signBytesDifferOnlyByTimestamp(voteSignBytes('c', base), voteSignBytes('c', base))).toBe(true);
    expect(signBytesDifferOnlyByTimestamp(voteSignBytes('c', base), voteSignBytes('c', { ...base, timestamp: t2 }))).toBe(true);
  });

  it.each([
    ['block id', { ...base, blockId: block('b') }],
    ['nil block id', { ...base, blockId: emptyBlockId() }],
    ['part set total', { ...base, blockId: { ...base.blockId, partSetHeader: { ...base.blockId.partSetHeader, total: 2 } } }],
    ['round', { ...base, round: 1 }],
    ['height', { ...base, height: 11n }],
    ['type', { ...base, type: 1 }],
  ])('is false when the %s differs too', (_what, other) => {
    expect(signBytesDifferOnlyByTimestamp(voteSignBytes('c', base), voteSignBytes('c', { ...other, timestamp: t2 }))).toBe(false);
  });

  it('is false for another chain id', () => {
    expect(signBytesDifferOnlyByTimestamp(voteSignBytes('c', base), voteSignBytes('d', base))).toBe(false);
  });

  it('compares proposals including their pol round', () => {
    const p = proposal({ height: 5n, polRound: -1, blockId: block('p'), timestamp: t1 });
    const a = proposalSignBytes('c', p);
    expect(signBytesDifferOnlyByTimestamp(a, proposalSignBytes('c', { ...p, timestamp: t2 }))).toBe(true);
    expect(signBytesDifferOnlyByTimestamp(a, proposalSignBytes('c', { ...p, polRound: 0, timestamp: t2 }))).toBe(false);
    expect(signBytesDifferOnlyByTimestamp(a, proposalSignBytes('c', { ...p, blockId: block('q') }))).toBe(false);
  });

  it('is false for a vote against a proposal', () => {
    const p = proposal({ height: 10n, blockId: block('a'), timestamp: t1 });
    expect(signBytesDifferOnlyByTimestamp(voteSignBytes('c', base), proposalSignBytes('c', p))).toBe(false);
  });

  it('throws SignBytesError when either side is not canonical sign bytes', () => {
    expect(() => signBytesDifferOnlyByTimestamp(voteSignBytes('c', base), unhex('0102'))).toThrow(SignBytesError);
  });

  it('names what differs', () => {
    const a = decodeCanonicalSignBytes(voteSignBytes('c', base));
    const b = decodeCanonicalSignBytes(voteSignBytes('d', { ...base, round: 2, blockId: emptyBlockId(), timestamp: t2 }));
    expect(canonicalDifferences(a, b)).toEqual(['round', 'block id', 'timestamp', 'chain id']);
  });
});
