// The signer's replicated bytes (signer_codec.ts): commands in log entries, stored records and
// snapshot images round-trip exactly, and decoding is strict: anything this version does not
// understand is a SignerCodecError naming the problem, never skipped.

import { ProtoWriter } from '../../src/cometbft/protobuf';
import {
  decodeSignerCommand,
  decodeSignerSnapshot,
  decodeStoredRecord,
  encodeSignerCommand,
  encodeSignerSnapshot,
  encodeStoredRecord,
  ImportStateCommand,
  SIGNER_FORMAT_VERSION,
  SignerCodecError,
  SignerCommand,
  StoredRecord,
} from '../../src/signer/signer_codec';
import { SignRequest } from '../../src/cometbft/sign_types';
import { proposalRequest, voteRequest } from '../support/sign_requests';
import { CHAIN_A, CHAIN_B, KEY_A, KEY_B, plain, watermark } from './signer_test_support';

const INT64_MAX = (1n << 63n) - 1n;

const pkA = KEY_A.publicKey;
const pkB = KEY_B.publicKey;

function expectCodecError(fn: () => unknown, message: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(SignerCodecError);
  expect((thrown as Error).message).toMatch(message);
}

interface RawFields {
  chainId?: string;
  pubKey?: Uint8Array;
  height?: bigint;
  /** Written as a 64-bit varint, so any value (a negative one takes 10 bytes, as int32 does). */
  round?: bigint;
  step?: bigint;
  signBytes?: Uint8Array;
  signature?: Uint8Array;
  index?: bigint;
}

/**
 * A sign request or record written by hand, field by field, so that any field can hold what the
 * encoder would never write. Fields 7 and 8 only when given.
 */
function raw(f: RawFields, extra?: (w: ProtoWriter) => void): Uint8Array {
  const w = new ProtoWriter()
    .string(1, f.chainId ?? CHAIN_A)
    .bytes(2, f.pubKey ?? pkA)
    .sfixed64(3, f.height ?? 10n)
    .uint64(4, BigInt.asUintN(64, f.round ?? 0n))
    .uint64(5, BigInt.asUintN(64, f.step ?? 2n))
    .bytes(6, f.signBytes ?? new Uint8Array(0));
  if (f.signature) w.bytes(7, f.signature);
  if (f.index !== undefined) w.uint64(8, f.index);
  extra?.(w);
  return w.finish();
}

/** A command holding one hand-written sign request (field 2) or import (field 3). */
function rawCommand(field: 2 | 3, body: Uint8Array): Uint8Array {
  return new ProtoWriter().uint32(1, SIGNER_FORMAT_VERSION).message(field, body).finish();
}

function rawRequest(r: SignRequest, extra?: (w: ProtoWriter) => void): Uint8Array {
  return raw({ chainId: r.chainId, pubKey: r.pubKey, height: r.height, round: BigInt(r.round), step: BigInt(r.step), signBytes: r.signBytes }, extra);
}

const request = voteRequest(CHAIN_A, pkA, { height: 10, type: 'prevote', block: 'A' });

describe('sign commands', () => {
  it('round-trip several requests in order, all steps, round 0 and the largest int64 height', () => {
    const requests: SignRequest[] = [
      proposalRequest(CHAIN_A, pkA, { height: 1, round: 0, block: 'A' }),
      voteRequest(CHAIN_A, pkA, { height: 1, round: 0, type: 'prevote', block: 'A' }),
      voteRequest(CHAIN_B, pkB, { height: 7, round: 3, type: 'precommit', block: 'nil' }),
      // The HRS fields travel as they are, whatever the sign bytes say: the codec is not the FilePV check.
      { ...voteRequest(CHAIN_B, pkB, { height: 8, type: 'precommit', block: 'B' }), height: INT64_MAX, round: 0x7fffffff },
    ];
    const bytes = encodeSignerCommand({ kind: 'sign', requests });
    const decoded = decodeSignerCommand(bytes);
    expect(decoded.kind).toBe('sign');
    if (decoded.kind !== 'sign') return;
    expect(decoded.requests).toHaveLength(4);
    expect(plain(decoded.requests)).toEqual(plain(requests));
    expect(decoded.requests.map((r) => r.step)).toEqual([1, 2, 3, 3]);
    expect(decoded.requests[0].round).toBe(0);
    expect(decoded.requests[3].height).toBe(INT64_MAX);
    // Re-encoding gives the same bytes: every node writes and reads the log identically.
    expect(Buffer.from(encodeSignerCommand(decoded)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('decoded requests do not share memory with the entry', () => {
    const bytes = encodeSignerCommand({ kind: 'sign', requests: [request] });
    const decoded = decodeSignerCommand(bytes);
    bytes.fill(0);
    expect(decoded.kind === 'sign' && plain(decoded.requests[0])).toEqual(plain(request));
  });

  it('an encoder given no request refuses to write an empty command', () => {
    expectCodecError(() => encodeSignerCommand({ kind: 'sign', requests: [] }), /at least one request/);
    expectCodecError(() => encodeSignerCommand({ kind: 'import-state', imports: [] }), /at least one record/);
  });

  it('the encoder refuses to log a sign request that the decoder would refuse (no node could apply it)', () => {
    const bad: [string, SignRequest][] = [
      ['step 0', { ...request, step: 0 as unknown as 1 }],
      ['step 4', { ...request, step: 4 as unknown as 1 }],
      ['31-byte key', { ...request, pubKey: new Uint8Array(31) }],
      ['33-byte key', { ...request, pubKey: new Uint8Array(33) }],
      ['negative height', { ...request, height: -1n }],
      ['negative round', { ...request, round: -1 }],
      ['round beyond int32', { ...request, round: 2 ** 31 }],
      ['no chain id', { ...request, chainId: '' }],
    ];
    for (const [what, r] of bad) {
      let thrown: unknown;
      try {
        encodeSignerCommand({ kind: 'sign', requests: [request, r] });
      } catch (e) {
        thrown = e;
      }
      expect([what, thrown instanceof SignerCodecError]).toEqual([what, true]);
    }
  });
});

describe('import commands', () => {
  const signedB = voteRequest(CHAIN_B, pkB, { height: 7, round: 3, type: 'precommit', block: 'B' });
  const imports: ImportStateCommand[] = [
    { chainId: CHAIN_A, pubKey: pkA, record: watermark(361402n, 0, 0) },
    {
      chainId: CHAIN_B,
      pubKey: pkB,
      // A record as a FilePV writes it: its own sign bytes, signed (importProblem checks both).
      record: { height: 7n, round: 3, step: 3, signBytes: signedB.signBytes, signature: KEY_B.sign(signedB.signBytes) },
    },
    { chainId: CHAIN_A, pubKey: pkB, record: watermark(INT64_MAX, 0, 1) },
  ];

  it('round-trip, step 0 included', () => {
    const decoded = decodeSignerCommand(encodeSignerCommand({ kind: 'import-state', imports }));
    expect(decoded.kind).toBe('import-state');
    if (decoded.kind !== 'import-state') return;
    expect(plain(decoded.imports)).toEqual(plain(imports));
    expect(decoded.imports[0].record.step).toBe(0);
  });

  it('step 0 is allowed only in imports, never in a sign request', () => {
    expect(decodeSignerCommand(rawCommand(3, raw({ step: 0n }))).kind).toBe('import-state');
    expectCodecError(() => decodeSignerCommand(rawCommand(2, raw({ step: 0n }))), /sign request: step 0 is not a FilePV step/);
  });

  it('a step above 3 is refused in both', () => {
    expectCodecError(() => decodeSignerCommand(rawCommand(2, raw({ step: 4n }))), /sign request: step 4/);
    expectCodecError(() => decodeSignerCommand(rawCommand(3, raw({ step: 4n }))), /imported state: step 4/);
  });
});

describe('stored records and snapshots', () => {
  const records: StoredRecord[] = [
    {
      chainId: CHAIN_A,
      pubKey: pkA,
      record: { height: 10n, round: 0, step: 2, signBytes: request.signBytes, signature: new Uint8Array(64).fill(9) },
      index: 42,
    },
    { chainId: CHAIN_B, pubKey: pkB, record: watermark(INT64_MAX, 1, 0), index: Number.MAX_SAFE_INTEGER },
    { chainId: 'chain-c', pubKey: pkA, record: { ...watermark(3n, 0, 3), signature: new Uint8Array(0) }, index: 0 },
  ];

  it('a stored record round-trips with its index', () => {
    for (const r of records) expect(plain(decodeStoredRecord(encodeStoredRecord(r)))).toEqual(plain(r));
  });

  it('a stored index beyond the safe integers is refused', () => {
    expect(decodeStoredRecord(raw({ index: BigInt(Number.MAX_SAFE_INTEGER) })).index).toBe(Number.MAX_SAFE_INTEGER);
    expectCodecError(() => decodeStoredRecord(raw({ index: BigInt(Number.MAX_SAFE_INTEGER) + 1n })), /index out of range/);
  });

  it('a snapshot round-trips every record in order', () => {
    expect(plain(decodeSignerSnapshot(encodeSignerSnapshot(records)))).toEqual(plain(records));
  });

  it('an empty snapshot image, or one with no record, decodes to no records', () => {
    expect(decodeSignerSnapshot(new Uint8Array(0))).toEqual([]);
    expect(decodeSignerSnapshot(encodeSignerSnapshot([]))).toEqual([]);
  });
});

describe('strict decoding', () => {
  const version = (w: ProtoWriter = new ProtoWriter()): ProtoWriter => w.uint32(1, SIGNER_FORMAT_VERSION);

  it('an unknown command field (a newer writer) is refused', () => {
    const bytes = version().message(2, rawRequest(request)).bytes(9, new Uint8Array([1])).finish();
    expectCodecError(() => decodeSignerCommand(bytes), /signer command: unknown field 9.*upgrade/);
  });

  it('an unknown field inside a sign request is refused (fields 7 and 8 are for records only)', () => {
    const bytes = version().message(2, rawRequest(request, (w) => w.bytes(7, new Uint8Array(64)))).finish();
    expectCodecError(() => decodeSignerCommand(bytes), /sign request: unknown field 7/);
  });

  it('an unknown field inside a snapshot, or in one of its records, is refused', () => {
    expectCodecError(() => decodeSignerSnapshot(version().uint32(3, 1).finish()), /signer snapshot: unknown field 3/);
    const rec = new ProtoWriter().string(1, CHAIN_A).bytes(2, pkA).uint32(9, 1).finish();
    expectCodecError(() => decodeSignerSnapshot(version().message(2, rec).finish()), /snapshot record: unknown field 9/);
    expectCodecError(() => decodeStoredRecord(rec), /stored slashing record: unknown field 9/);
  });

  it('a known field with the wrong wire type is refused', () => {
    // The request as a varint instead of a message.
    expectCodecError(() => decodeSignerCommand(version().uint32(2, 5).finish()), /signer command: field 2 has wire type 0, expected 2/);
    // The version as bytes.
    expectCodecError(() => decodeSignerCommand(new ProtoWriter().bytes(1, Uint8Array.of(1)).finish()), /field 1 has wire type 2, expected 0/);
    // The height as a varint instead of sfixed64.
    const varintHeight = new ProtoWriter().string(1, CHAIN_A).bytes(2, pkA).uint64(3, 10n).int32(4, 0).uint32(5, 2).bytes(6, request.signBytes).finish();
    expectCodecError(() => decodeSignerCommand(version().message(2, varintHeight).finish()), /sign request: field 3 has wire type 0, expected 1/);
    // The snapshot's record as a fixed64.
    expectCodecError(() => decodeSignerSnapshot(version().sfixed64(2, 1n).finish()), /signer snapshot: field 2 has wire type 1, expected 2/);
  });

  it('another format version is refused with the advice to upgrade', () => {
    const cmd = new ProtoWriter().uint32(1, SIGNER_FORMAT_VERSION + 1).message(2, rawRequest(request)).finish();
    expectCodecError(() => decodeSignerCommand(cmd), new RegExp(`signer command has format version ${SIGNER_FORMAT_VERSION + 1}.*upgrade this node`));
    expectCodecError(() => decodeSignerCommand(new ProtoWriter().uint32(1, 0).message(2, rawRequest(request)).finish()), /format version 0/);
    expectCodecError(() => decodeSignerSnapshot(new ProtoWriter().uint32(1, 2).finish()), /signer snapshot has format version 2/);
  });

  it('a missing version is refused', () => {
    expectCodecError(() => decodeSignerCommand(new ProtoWriter().message(2, rawRequest(request)).finish()), /signer command without a format version/);
    expectCodecError(() => decodeSignerCommand(new Uint8Array(0)), /without a format version/);
    const rec = encodeStoredRecord({ chainId: CHAIN_A, pubKey: pkA, record: watermark(1n, 0, 1), index: 1 });
    expectCodecError(() => decodeSignerSnapshot(new ProtoWriter().message(2, rec).finish()), /signer snapshot without a format version/);
  });

  it('a command mixing sign requests and imports is refused', () => {
    const rec = encodeStoredRecord({ chainId: CHAIN_A, pubKey: pkA, record: watermark(1n, 0, 1), index: 0 });
    const bytes = version().message(2, rawRequest(request)).message(3, rec).finish();
    expectCodecError(() => decodeSignerCommand(bytes), /mixes sign requests and imports/);
  });

  it('a command with only a version is refused as empty', () => {
    expectCodecError(() => decodeSignerCommand(version().finish()), /empty signer command/);
  });

  it('a public key of 31 or 33 bytes is refused', () => {
    for (const n of [31, 33, 0]) {
      const pubKey = new Uint8Array(n).fill(5);
      const message = new RegExp(`public key must be 32 bytes, got ${n}`);
      expectCodecError(() => decodeSignerCommand(rawCommand(2, raw({ pubKey }))), message);
      expectCodecError(() => decodeSignerCommand(rawCommand(3, raw({ pubKey }))), message);
      expectCodecError(() => decodeStoredRecord(raw({ pubKey, index: 1n })), message);
      expectCodecError(() => decodeSignerSnapshot(new ProtoWriter().uint32(1, SIGNER_FORMAT_VERSION).message(2, raw({ pubKey })).finish()), message);
    }
  });

  it('a negative height or round is refused', () => {
    expectCodecError(() => decodeSignerCommand(rawCommand(2, raw({ height: -1n }))), /sign request: negative height/);
    expectCodecError(() => decodeSignerCommand(rawCommand(2, raw({ height: -(1n << 63n) }))), /negative height/);
    expectCodecError(() => decodeSignerCommand(rawCommand(2, raw({ round: -1n }))), /sign request: .*round/);
    expectCodecError(() => decodeSignerCommand(rawCommand(3, raw({ height: -5n }))), /imported state: negative height/);
    expectCodecError(() => decodeStoredRecord(raw({ round: -1n })), /round/);
  });

  it('a round or step beyond 32 bits is refused, not truncated', () => {
    expectCodecError(() => decodeSignerCommand(rawCommand(2, raw({ round: 1n << 32n }))), /sign request: round/);
    expectCodecError(() => decodeSignerCommand(rawCommand(2, raw({ round: (1n << 32n) + 5n }))), /round/);
    expectCodecError(() => decodeSignerCommand(rawCommand(2, raw({ step: (1n << 32n) + 2n }))), /step/);
    expectCodecError(() => decodeSignerCommand(rawCommand(3, raw({ step: (1n << 32n) + 3n }))), /step/);
  });

  it('a format version of 2^32 + 1 is not version 1', () => {
    const bytes = new ProtoWriter()
      .uint64(1, (1n << 32n) + BigInt(SIGNER_FORMAT_VERSION))
      .message(2, rawRequest(request))
      .finish();
    expectCodecError(() => decodeSignerCommand(bytes), /format version 4294967297/);
  });

  it('a request or record without a chain id is refused', () => {
    expectCodecError(() => decodeSignerCommand(rawCommand(2, raw({ chainId: '' }))), /sign request: no chain id/);
    expectCodecError(() => decodeStoredRecord(raw({ chainId: '' })), /no chain id/);
  });

  it('a second version field that disagrees with the first is refused', () => {
    const bytes = version().message(2, rawRequest(request)).uint32(1, 7).finish();
    expectCodecError(() => decodeSignerCommand(bytes), /format version 7/);
  });
});
