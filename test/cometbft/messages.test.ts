// The privval Message codec against CometBFT's published encodings (privval/msgs_test.go
// TestPrivvalVectors, v0.38 and v1), and the presence, absence, merge and error rules of
// gogoproto's decoder.

import { createHash } from 'node:crypto';

import {
  GO_ZERO_TIME,
  PrivvalMessage,
  Proposal,
  PubKeyResponseFormat,
  RemoteSignerError,
  Vote,
  decodeMessage,
  decodeVote,
  emptyProposal,
  emptyVote,
  encodeMessage,
  encodeVote,
} from '../../src/cometbft/messages';
import { ProtoReader, ProtoWriter, ProtobufDecodeError, ProtobufEncodeError } from '../../src/cometbft/protobuf';
import { MESSAGE_VECTORS_V038, MESSAGE_VECTORS_V1, VECTOR_PUB_KEY, hex, unhex } from '../privval/vectors_fixture';

const sha256 = (s: string): Uint8Array => new Uint8Array(createHash('sha256').update(s).digest());
const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

/** 2019-10-13T16:14:44Z */
const VECTOR_TIME = { seconds: BigInt(Date.UTC(2019, 9, 13, 16, 14, 44) / 1000), nanos: 0 };

function vectorBlockId(): Vote['blockId'] {
  return {
    hash: sha256('blockID_hash'),
    partSetHeader: { total: 1000000, hash: sha256('blockID_part_set_header_hash') },
  };
}

/** The vote described in vectors.json "messages.about". */
function vectorVote(): Vote {
  return {
    ...emptyVote(),
    type: 2,
    height: 3n,
    round: 2,
    blockId: vectorBlockId(),
    timestamp: VECTOR_TIME,
    validatorAddress: sha256('validator_address').slice(0, 20),
    validatorIndex: 56789,
    extension: utf8('extension'),
  };
}

function vectorProposal(): Proposal {
  return {
    type: 1,
    height: 3n,
    round: 2,
    polRound: 2,
    blockId: vectorBlockId(),
    timestamp: VECTOR_TIME,
    signature: utf8("it's a signature"),
  };
}

const vectorError = (): RemoteSignerError => ({ code: 1, description: "it's a error" });
const vectorKey = () => ({ type: 'ed25519', bytes: unhex(VECTOR_PUB_KEY) });

/** The messages of the vectors, built from their described inputs. */
function vectorMessages(): Record<string, PrivvalMessage> {
  return {
    pingRequest: { kind: 'pingRequest' },
    pingResponse: { kind: 'pingResponse' },
    pubKeyRequest: { kind: 'pubKeyRequest', value: { chainId: '' } },
    pubKeyResponse: { kind: 'pubKeyResponse', value: { pubKey: vectorKey(), error: null } },
    pubKeyResponseWithError: { kind: 'pubKeyResponse', value: { pubKey: null, error: vectorError() } },
    signVoteRequest: { kind: 'signVoteRequest', value: { vote: vectorVote(), chainId: '', skipExtensionSigning: false } },
    signedVoteResponse: { kind: 'signedVoteResponse', value: { vote: vectorVote(), error: null } },
    signedVoteResponseWithError: { kind: 'signedVoteResponse', value: { vote: emptyVote(), error: vectorError() } },
    signProposalRequest: { kind: 'signProposalRequest', value: { proposal: vectorProposal(), chainId: '' } },
    signedProposalResponse: { kind: 'signedProposalResponse', value: { proposal: vectorProposal(), error: null } },
    signedProposalResponseWithError: {
      kind: 'signedProposalResponse',
      value: { proposal: emptyProposal(), error: vectorError() },
    },
  };
}

const vectorSets: [string, Record<string, string>, PubKeyResponseFormat][] = [
  ['v0.38', MESSAGE_VECTORS_V038, 'v0.38'],
  ['v1', MESSAGE_VECTORS_V1, 'v1'],
];

describe('published privval vectors', () => {
  for (const [version, vectors, format] of vectorSets) {
    for (const [name, expected] of Object.entries(vectors)) {
      it(`${version} ${name}: decode then encode gives the same bytes`, () => {
        const decoded = decodeMessage(unhex(expected));
        expect(decoded.kind).not.toBe('none');
        expect(hex(encodeMessage(decoded, { pubKeyResponseFormat: format }))).toBe(expected);
      });

      it(`${version} ${name}: encoding the described inputs gives the vector`, () => {
        const msg = vectorMessages()[name];
        expect(msg).toBeDefined();
        expect(hex(encodeMessage(msg as PrivvalMessage, { pubKeyResponseFormat: format }))).toBe(expected);
      });

      it(`${version} ${name}: decodes to the described inputs`, () => {
        expect(decodeMessage(unhex(expected))).toEqual(vectorMessages()[name]);
      });
    }
  }

  it('covers every v0.38 message kind but the v1-only ones', () => {
    const kinds = new Set(Object.values(MESSAGE_VECTORS_V038).map((h) => decodeMessage(unhex(h)).kind));
    expect([...kinds].sort()).toEqual(
      [
        'pingRequest',
        'pingResponse',
        'pubKeyRequest',
        'pubKeyResponse',
        'signVoteRequest',
        'signedVoteResponse',
        'signProposalRequest',
        'signedProposalResponse',
      ].sort(),
    );
  });
});

/** The fields of a message as (field number, raw value bytes or varint) pairs, in order. */
function fieldsOf(bytes: Uint8Array): [number, Uint8Array | bigint][] {
  const r = new ProtoReader(bytes, 'test');
  const out: [number, Uint8Array | bigint][] = [];
  while (!r.atEnd) {
    const tag = r.tag();
    out.push([tag.fieldNumber, tag.wireType === 2 ? r.bytes() : r.uint64()]);
  }
  return out;
}

describe('PubKeyResponse formats', () => {
  it('writes fields 1, 3 and 4 by default so that v0.38 and v1 nodes both find the key', () => {
    const bytes = encodeMessage({ kind: 'pubKeyResponse', value: { pubKey: vectorKey(), error: null } });
    const [[field, body]] = fieldsOf(bytes) as [[number, Uint8Array]];
    expect(field).toBe(2);
    const fields = fieldsOf(body);
    expect(fields.map(([f]) => f)).toEqual([1, 3, 4]);
    // v0.38 reads PublicKey{ed25519 = 1}.
    expect(fieldsOf(fields[0]![1] as Uint8Array)).toEqual([[1, unhex(VECTOR_PUB_KEY)]]);
    // v1 reads pub_key_bytes = 3 and pub_key_type = 4.
    expect(fields[1]![1]).toEqual(unhex(VECTOR_PUB_KEY));
    expect(Buffer.from(fields[2]![1] as Uint8Array).toString()).toBe('ed25519');
    expect(decodeMessage(bytes)).toEqual({ kind: 'pubKeyResponse', value: { pubKey: vectorKey(), error: null } });
  });

  it('an error response in both formats keeps the empty non-nullable v0.38 key and no v1 key', () => {
    const bytes = encodeMessage({ kind: 'pubKeyResponse', value: { pubKey: null, error: vectorError() } });
    expect(hex(bytes)).toBe(MESSAGE_VECTORS_V038.pubKeyResponseWithError);
  });

  it('refuses a response whose v0.38 and v1 keys disagree', () => {
    const legacy = new ProtoWriter().bytes(1, unhex(VECTOR_PUB_KEY)).finish();
    const other = new Uint8Array(32).fill(7);
    const body = new ProtoWriter().message(1, legacy).bytes(3, other).string(4, 'ed25519').finish();
    const bytes = new ProtoWriter().message(2, body).finish();
    expect(() => decodeMessage(bytes)).toThrow(ProtobufDecodeError);
  });

  it('refuses to write a key type v0.38 cannot carry in the v0.38 format', () => {
    const msg: PrivvalMessage = {
      kind: 'pubKeyResponse',
      value: { pubKey: { type: 'sr25519', bytes: new Uint8Array(32) }, error: null },
    };
    expect(() => encodeMessage(msg, { pubKeyResponseFormat: 'v0.38' })).toThrow(ProtobufEncodeError);
    // Under `both`, such a key goes only into the v1 fields.
    const decoded = decodeMessage(encodeMessage(msg));
    expect(decoded).toEqual(msg);
  });

  it('decodes secp256k1 keys from the v0.38 oneof', () => {
    const key = new ProtoWriter().bytes(2, new Uint8Array(33).fill(2)).finish();
    const bytes = new ProtoWriter().message(2, new ProtoWriter().message(1, key).finish()).finish();
    expect(decodeMessage(bytes)).toEqual({
      kind: 'pubKeyResponse',
      value: { pubKey: { type: 'secp256k1', bytes: new Uint8Array(33).fill(2) }, error: null },
    });
  });
});

describe('presence and absence', () => {
  it('a SignVoteRequest without a vote decodes with vote null', () => {
    const bytes = new ProtoWriter().message(3, new ProtoWriter().string(2, 'chain').finish()).finish();
    expect(decodeMessage(bytes)).toEqual({
      kind: 'signVoteRequest',
      value: { vote: null, chainId: 'chain', skipExtensionSigning: false },
    });
  });

  it('a SignProposalRequest without a proposal decodes with proposal null', () => {
    const bytes = new ProtoWriter().message(5, new Uint8Array(0)).finish();
    expect(decodeMessage(bytes)).toEqual({ kind: 'signProposalRequest', value: { proposal: null, chainId: '' } });
  });

  it('an empty vote decodes to the zero vote with Go zero time; an empty timestamp is the Unix epoch', () => {
    expect(decodeVote(new Uint8Array(0))).toEqual(emptyVote());
    expect(decodeVote(new Uint8Array(0)).timestamp).toEqual(GO_ZERO_TIME);
    const withEmptyTimestamp = new ProtoWriter().message(5, new Uint8Array(0)).finish();
    expect(decodeVote(withEmptyTimestamp).timestamp).toEqual({ seconds: 0n, nanos: 0 });
  });

  it('an empty vote encodes block id and timestamp anyway (non-nullable)', () => {
    expect(hex(encodeVote(emptyVote()))).toBe('220212002a0b088092b8c398feffffff01');
  });

  it('skip_extension_signing round-trips and is written only when true', () => {
    const msg: PrivvalMessage = {
      kind: 'signVoteRequest',
      value: { vote: vectorVote(), chainId: 'c', skipExtensionSigning: true },
    };
    const bytes = encodeMessage(msg);
    expect(decodeMessage(bytes)).toEqual(msg);
    const without = encodeMessage({ ...msg, value: { ...msg.value, skipExtensionSigning: false } });
    expect(bytes.length).toBe(without.length + 2);
  });

  it('an empty Message, or one with only unknown members, decodes as none', () => {
    expect(decodeMessage(new Uint8Array(0))).toEqual({ kind: 'none', unknownFieldNumbers: [] });
    const future = new ProtoWriter().message(11, new Uint8Array([8, 1])).finish();
    expect(decodeMessage(future)).toEqual({ kind: 'none', unknownFieldNumbers: [11] });
    expect(encodeMessage({ kind: 'none', unknownFieldNumbers: [11] })).toEqual(new Uint8Array(0));
  });

  it('decodes SignBytesRequest and SignBytesResponse (v1)', () => {
    const req: PrivvalMessage = { kind: 'signBytesRequest', value: { value: utf8('anything') } };
    expect(decodeMessage(encodeMessage(req))).toEqual(req);
    const res: PrivvalMessage = {
      kind: 'signBytesResponse',
      value: { signature: new Uint8Array(0), error: { code: 0, description: 'refused' } },
    };
    expect(decodeMessage(encodeMessage(res))).toEqual(res);
  });

  it('round-trips a vote with every field set, negative round and a pol round of -1', () => {
    const vote: Vote = {
      ...vectorVote(),
      round: -1,
      timestamp: { seconds: 1_700_000_000n, nanos: 999_999_999 },
      signature: new Uint8Array(64).fill(9),
      extensionSignature: new Uint8Array(64).fill(8),
    };
    expect(decodeVote(encodeVote(vote))).toEqual(vote);
    const proposal: Proposal = { ...vectorProposal(), type: 32, polRound: -1 };
    const msg: PrivvalMessage = { kind: 'signedProposalResponse', value: { proposal, error: null } };
    expect(decodeMessage(encodeMessage(msg))).toEqual(msg);
  });
});

describe('unknown fields, repeats and merging (gogoproto semantics)', () => {
  it('skips unknown fields of every wire type inside a vote', () => {
    const base = encodeVote(vectorVote());
    const unknown = new Uint8Array([
      ...[0x58, 0x05], // field 11 varint
      ...[0x61, 1, 2, 3, 4, 5, 6, 7, 8], // field 12 fixed64
      ...[0x6a, 0x02, 0xaa, 0xbb], // field 13 bytes
      ...[0x73, 0x08, 0x01, 0x74], // field 14 group containing field 1 varint
      ...[0x7d, 1, 2, 3, 4], // field 15 fixed32
    ]);
    const bytes = new Uint8Array([...unknown.slice(0, 11), ...base, ...unknown.slice(11)]);
    expect(decodeVote(bytes)).toEqual(vectorVote());
  });

  it('a repeated scalar field: the last one wins', () => {
    const bytes = new ProtoWriter().int64(2, 5n).int64(2, 7n).finish();
    expect(decodeVote(bytes).height).toBe(7n);
  });

  it('a repeated non-nullable block id merges into the earlier one', () => {
    const hashOnly = new ProtoWriter().bytes(1, sha256('a')).finish();
    const totalOnly = new ProtoWriter().message(2, new ProtoWriter().uint32(1, 4).finish()).finish();
    const bytes = new ProtoWriter().message(4, hashOnly).message(4, totalOnly).finish();
    const vote = decodeVote(bytes);
    expect(vote.blockId.hash).toEqual(sha256('a'));
    expect(vote.blockId.partSetHeader.total).toBe(4);
  });

  it('a repeated vote in SignVoteRequest merges; a repeated oneof member replaces', () => {
    const req = new ProtoWriter()
      .message(1, new ProtoWriter().int64(2, 9n).finish())
      .message(1, new ProtoWriter().int32(3, 4).finish())
      .finish();
    const decoded = decodeMessage(new ProtoWriter().message(3, req).finish());
    expect(decoded.kind).toBe('signVoteRequest');
    if (decoded.kind !== 'signVoteRequest') return;
    expect(decoded.value.vote?.height).toBe(9n);
    expect(decoded.value.vote?.round).toBe(4);

    const two = new ProtoWriter().message(3, req).message(7, new Uint8Array(0)).finish();
    expect(decodeMessage(two).kind).toBe('pingRequest');
  });

  it('int32 fields take the low 32 bits of the varint, like Go', () => {
    const bytes = new ProtoWriter().uint64(3, (1n << 32n) + 5n).finish();
    expect(decodeVote(bytes).round).toBe(5);
  });
});

describe('malformed input is a ProtobufDecodeError', () => {
  const cases: [string, string][] = [
    // SignVoteRequest { chain_id (2) sent as a varint }
    ['a known field with the wrong wire type', '1a021000'],
    ['a truncated oneof member', '1a05080210'],
    ['a vote timestamp with nanos >= 1e9', hex(new ProtoWriter().message(3, new ProtoWriter().message(1, new ProtoWriter().message(5, new ProtoWriter().int32(2, 1_000_000_000).finish()).finish()).finish()).finish())],
    ['a vote timestamp before year 1', hex(new ProtoWriter().message(4, new ProtoWriter().message(1, new ProtoWriter().message(5, new ProtoWriter().int64(1, -62135596801n).finish()).finish()).finish()).finish())],
    ['a chain id that is not UTF-8', hex(new ProtoWriter().message(1, new Uint8Array([0x0a, 0x02, 0xc3, 0x28])).finish())],
    ['a Message member sent as a varint', '0801'],
    ['field number 0', '0200'],
    ['an end-group tag at top level', '0c'],
    ['wire type 6', '0e'],
    ['a ping with a truncated unknown field', '3a021a05'],
  ];
  for (const [what, input] of cases) {
    it(what, () => {
      expect(() => decodeMessage(unhex(input))).toThrow(ProtobufDecodeError);
    });
  }

  it('a vote field with the wrong wire type names the field', () => {
    // SignVoteRequest { vote { height (2) sent as bytes } }
    const vote = new ProtoWriter().bytes(2, new Uint8Array([1])).finish();
    const bytes = new ProtoWriter().message(3, new ProtoWriter().message(1, vote).finish()).finish();
    expect(() => decodeMessage(bytes)).toThrow(/Vote: field height \(2\) has wire type 2, expected 0/);
  });

  it('preserves a leading byte-order mark in a chain id', () => {
    const chainId = '\ufeffchain';
    const msg: PrivvalMessage = { kind: 'pubKeyRequest', value: { chainId } };
    expect(decodeMessage(encodeMessage(msg))).toEqual(msg);
  });
});

describe('encoding refuses values the wire type cannot hold', () => {
  const vote = vectorVote();
  it.each([
    ['height above int64', { ...vote, height: 1n << 63n }],
    ['round above int32', { ...vote, round: 2 ** 31 }],
    ['fractional round', { ...vote, round: 1.5 }],
    ['part set total above uint32', { ...vote, blockId: { ...vote.blockId, partSetHeader: { total: 2 ** 32, hash: new Uint8Array(0) } } }],
    ['timestamp nanos out of range', { ...vote, timestamp: { seconds: 0n, nanos: -1 } }],
    ['timestamp after year 9999', { ...vote, timestamp: { seconds: 253402300800n, nanos: 0 } }],
  ])('%s', (_what, bad) => {
    expect(() => encodeVote(bad as Vote)).toThrow(ProtobufEncodeError);
  });
});
