// The privval `Message` and the CometBFT types it carries, with encoders that produce exactly
// the bytes of CometBFT's gogoproto encoder, and decoders that accept anything that encoder or a
// proto3 peer may send. Field numbers: proto/tendermint/privval/types.proto (v0.38) and
// proto/cometbft/privval/v1/types.proto (v1), proto/.../types/types.proto, crypto/keys.proto.
//
// Presence rules that the bytes depend on (gogoproto):
// - proto3 scalars, bytes and strings are written only when non-zero / non-empty;
// - sub-messages marked `(gogoproto.nullable) = false` are always written, even empty: Vote and
//   Proposal's block_id and timestamp, PubKeyResponse.pub_key (v0.38), the response's Vote or
//   Proposal, BlockID.part_set_header. Absent on decode, they take their zero value;
// - nullable sub-messages (the request's Vote or Proposal, RemoteSignerError) are written only
//   when set; decoders give `null` when absent;
// - a oneof member is always written when it is the one set, even when empty (`3a00`, ping).
// Repeated occurrences of one field follow gogoproto: scalars and bytes: the last wins; embedded
// messages merge into what was read before; a oneof member replaces the previous one.

import { FieldTag, ProtoReader, ProtoWriter, ProtobufDecodeError, ProtobufEncodeError, WireType } from './protobuf';

/** SignedMsgType (tendermint/types/types.proto). Other int32 values may arrive and are kept. */
export const SignedMsgType = {
  Unknown: 0,
  Prevote: 1,
  Precommit: 2,
  Proposal: 32,
} as const;

/**
 * google.protobuf.Timestamp as CometBFT carries it (gogoproto stdtime: a Go time.Time). Seconds
 * since the Unix epoch and nanoseconds in [0, 1e9).
 */
export interface Timestamp {
  seconds: bigint;
  nanos: number;
}

/**
 * Go's zero time.Time, 0001-01-01T00:00:00Z: what a Vote or Proposal holds when its timestamp is
 * absent on the wire, and what CometBFT writes for an empty Vote (e.g. in an error response).
 */
export const GO_ZERO_TIME: Readonly<Timestamp> = Object.freeze({ seconds: -62135596800n, nanos: 0 });

// The range time.Time <-> Timestamp conversion accepts (gogoproto types/timestamp.go,
// validateTimestamp): 0001-01-01T00:00:00Z up to, not including, 10000-01-01T00:00:00Z.
const MIN_TIMESTAMP_SECONDS = -62135596800n;
const MAX_TIMESTAMP_SECONDS_EXCLUSIVE = 253402300800n;

export interface PartSetHeader {
  total: number;
  hash: Uint8Array;
}

export interface BlockId {
  hash: Uint8Array;
  partSetHeader: PartSetHeader;
}

export interface Vote {
  /** SignedMsgType: 1 prevote, 2 precommit. */
  type: number;
  height: bigint;
  round: number;
  /** The zero BlockID (empty hash and part set header) is a vote for nil. */
  blockId: BlockId;
  timestamp: Timestamp;
  validatorAddress: Uint8Array;
  validatorIndex: number;
  signature: Uint8Array;
  extension: Uint8Array;
  extensionSignature: Uint8Array;
}

export interface Proposal {
  /** SignedMsgType; CometBFT sends 32. Not part of the sign bytes (always 32 there). */
  type: number;
  height: bigint;
  round: number;
  polRound: number;
  blockId: BlockId;
  timestamp: Timestamp;
  signature: Uint8Array;
}

/** Key types by the names v1's PubKeyResponse.pub_key_type uses (crypto/*: KeyType). */
export const PublicKeyType = {
  Ed25519: 'ed25519',
  Secp256k1: 'secp256k1',
  Bls12381: 'bls12_381',
} as const;

/** A public key: its type name (see PublicKeyType) and raw bytes. */
export interface PublicKey {
  type: string;
  bytes: Uint8Array;
}

export interface RemoteSignerError {
  code: number;
  description: string;
}

export interface PubKeyRequest {
  chainId: string;
}

export interface PubKeyResponse {
  /** null: no key (an error response). */
  pubKey: PublicKey | null;
  error: RemoteSignerError | null;
}

export interface SignVoteRequest {
  /** null when the node sent none (Go would dereference nil): refuse such a request. */
  vote: Vote | null;
  chainId: string;
  /** v1 only; v0.38 nodes never set it, which means "sign the extension". */
  skipExtensionSigning: boolean;
}

export interface SignedVoteResponse {
  vote: Vote;
  error: RemoteSignerError | null;
}

export interface SignProposalRequest {
  proposal: Proposal | null;
  chainId: string;
}

export interface SignedProposalResponse {
  proposal: Proposal;
  error: RemoteSignerError | null;
}

/** v1: sign arbitrary bytes with no double-sign protection. We decode it only to refuse it. */
export interface SignBytesRequest {
  value: Uint8Array;
}

export interface SignBytesResponse {
  signature: Uint8Array;
  error: RemoteSignerError | null;
}

/** The privval `Message` oneof. `none`: no member we know was set (empty, or a newer protocol). */
export type PrivvalMessage =
  | { kind: 'pubKeyRequest'; value: PubKeyRequest }
  | { kind: 'pubKeyResponse'; value: PubKeyResponse }
  | { kind: 'signVoteRequest'; value: SignVoteRequest }
  | { kind: 'signedVoteResponse'; value: SignedVoteResponse }
  | { kind: 'signProposalRequest'; value: SignProposalRequest }
  | { kind: 'signedProposalResponse'; value: SignedProposalResponse }
  | { kind: 'pingRequest' }
  | { kind: 'pingResponse' }
  | { kind: 'signBytesRequest'; value: SignBytesRequest }
  | { kind: 'signBytesResponse'; value: SignBytesResponse }
  | { kind: 'none'; unknownFieldNumbers: number[] };

export type PrivvalMessageKind = PrivvalMessage['kind'];

/**
 * How PubKeyResponse carries the key. v0.38 reads `PublicKey pub_key = 1`; v1 reserved field 1
 * and reads `bytes pub_key_bytes = 3; string pub_key_type = 4`. Each skips the other's fields as
 * unknown, so `both` serves either node version.
 */
export type PubKeyResponseFormat = 'v0.38' | 'v1' | 'both';

export interface EncodeOptions {
  /** Default `both`. */
  pubKeyResponseFormat?: PubKeyResponseFormat;
}

// ---------------------------------------------------------------------------------------------
// Zero values

export function emptyBlockId(): BlockId {
  return { hash: new Uint8Array(0), partSetHeader: { total: 0, hash: new Uint8Array(0) } };
}

/** The zero Vote, as Go's `cmtproto.Vote{}` (timestamp: Go's zero time). */
export function emptyVote(): Vote {
  return {
    type: 0,
    height: 0n,
    round: 0,
    blockId: emptyBlockId(),
    timestamp: { ...GO_ZERO_TIME },
    validatorAddress: new Uint8Array(0),
    validatorIndex: 0,
    signature: new Uint8Array(0),
    extension: new Uint8Array(0),
    extensionSignature: new Uint8Array(0),
  };
}

/** The zero Proposal, as Go's `cmtproto.Proposal{}`. */
export function emptyProposal(): Proposal {
  return {
    type: 0,
    height: 0n,
    round: 0,
    polRound: 0,
    blockId: emptyBlockId(),
    timestamp: { ...GO_ZERO_TIME },
    signature: new Uint8Array(0),
  };
}

// ---------------------------------------------------------------------------------------------
// Timestamp

/**
 * Why `ts` is not a time that Go's time.Time <-> Timestamp conversion accepts, or null if it is.
 */
export function validateTimestamp(ts: Timestamp): string | null {
  if (typeof ts.seconds !== 'bigint') return 'timestamp seconds must be a bigint';
  if (ts.seconds < MIN_TIMESTAMP_SECONDS || ts.seconds >= MAX_TIMESTAMP_SECONDS_EXCLUSIVE) {
    return `timestamp seconds ${ts.seconds} outside years 0001..9999`;
  }
  if (!Number.isInteger(ts.nanos) || ts.nanos < 0 || ts.nanos >= 1_000_000_000) {
    return `timestamp nanos ${ts.nanos} outside [0, 1e9)`;
  }
  return null;
}

/** Timestamp { int64 seconds = 1; int32 nanos = 2 }, refusing what Go's stdtime refuses. */
export function encodeTimestamp(ts: Timestamp): Uint8Array {
  const problem = validateTimestamp(ts);
  if (problem !== null) throw new ProtobufEncodeError(problem);
  const w = new ProtoWriter();
  if (ts.seconds !== 0n) w.int64(1, ts.seconds);
  if (ts.nanos !== 0) w.int32(2, ts.nanos);
  return w.finish();
}

/**
 * gogoproto's StdTimeUnmarshal: decodes a fresh Timestamp (no merging) and refuses one outside
 * time.Time's range, so a Vote with such a timestamp fails to decode as it does in CometBFT.
 */
export function decodeTimestamp(bytes: Uint8Array): Timestamp {
  const r = new ProtoReader(bytes, 'Timestamp');
  const ts: Timestamp = { seconds: 0n, nanos: 0 };
  while (!r.atEnd) {
    const tag = r.tag();
    switch (tag.fieldNumber) {
      case 1:
        r.expect(tag, WireType.Varint, 'seconds');
        ts.seconds = r.int64();
        break;
      case 2:
        r.expect(tag, WireType.Varint, 'nanos');
        ts.nanos = r.int32();
        break;
      default:
        r.skip(tag);
    }
  }
  const problem = validateTimestamp(ts);
  if (problem !== null) throw new ProtobufDecodeError(`Timestamp: ${problem}`, 0);
  return ts;
}

// ---------------------------------------------------------------------------------------------
// BlockID, PartSetHeader

export function encodePartSetHeader(psh: PartSetHeader): Uint8Array {
  const w = new ProtoWriter();
  if (psh.total !== 0) w.uint32(1, psh.total);
  if (psh.hash.length > 0) w.bytes(2, psh.hash);
  return w.finish();
}

function decodePartSetHeaderInto(bytes: Uint8Array, psh: PartSetHeader): void {
  const r = new ProtoReader(bytes, 'PartSetHeader');
  while (!r.atEnd) {
    const tag = r.tag();
    switch (tag.fieldNumber) {
      case 1:
        r.expect(tag, WireType.Varint, 'total');
        psh.total = r.uint32();
        break;
      case 2:
        r.expect(tag, WireType.LengthDelimited, 'hash');
        psh.hash = r.bytes();
        break;
      default:
        r.skip(tag);
    }
  }
}

export function encodeBlockId(blockId: BlockId): Uint8Array {
  const w = new ProtoWriter();
  if (blockId.hash.length > 0) w.bytes(1, blockId.hash);
  w.message(2, encodePartSetHeader(blockId.partSetHeader)); // non-nullable: always written
  return w.finish();
}

function decodeBlockIdInto(bytes: Uint8Array, blockId: BlockId): void {
  const r = new ProtoReader(bytes, 'BlockID');
  while (!r.atEnd) {
    const tag = r.tag();
    switch (tag.fieldNumber) {
      case 1:
        r.expect(tag, WireType.LengthDelimited, 'hash');
        blockId.hash = r.bytes();
        break;
      case 2:
        r.expect(tag, WireType.LengthDelimited, 'part_set_header');
        decodePartSetHeaderInto(r.lengthDelimited(), blockId.partSetHeader);
        break;
      default:
        r.skip(tag);
    }
  }
}

export function decodeBlockId(bytes: Uint8Array): BlockId {
  const blockId = emptyBlockId();
  decodeBlockIdInto(bytes, blockId);
  return blockId;
}

// ---------------------------------------------------------------------------------------------
// Vote, Proposal

export function encodeVote(vote: Vote): Uint8Array {
  const w = new ProtoWriter();
  if (vote.type !== 0) w.int32(1, vote.type);
  if (vote.height !== 0n) w.int64(2, vote.height);
  if (vote.round !== 0) w.int32(3, vote.round);
  w.message(4, encodeBlockId(vote.blockId));
  w.message(5, encodeTimestamp(vote.timestamp));
  if (vote.validatorAddress.length > 0) w.bytes(6, vote.validatorAddress);
  if (vote.validatorIndex !== 0) w.int32(7, vote.validatorIndex);
  if (vote.signature.length > 0) w.bytes(8, vote.signature);
  if (vote.extension.length > 0) w.bytes(9, vote.extension);
  if (vote.extensionSignature.length > 0) w.bytes(10, vote.extensionSignature);
  return w.finish();
}

function decodeVoteInto(bytes: Uint8Array, vote: Vote): void {
  const r = new ProtoReader(bytes, 'Vote');
  while (!r.atEnd) {
    const tag = r.tag();
    switch (tag.fieldNumber) {
      case 1:
        r.expect(tag, WireType.Varint, 'type');
        vote.type = r.int32();
        break;
      case 2:
        r.expect(tag, WireType.Varint, 'height');
        vote.height = r.int64();
        break;
      case 3:
        r.expect(tag, WireType.Varint, 'round');
        vote.round = r.int32();
        break;
      case 4:
        r.expect(tag, WireType.LengthDelimited, 'block_id');
        decodeBlockIdInto(r.lengthDelimited(), vote.blockId);
        break;
      case 5:
        r.expect(tag, WireType.LengthDelimited, 'timestamp');
        vote.timestamp = decodeTimestamp(r.lengthDelimited());
        break;
      case 6:
        r.expect(tag, WireType.LengthDelimited, 'validator_address');
        vote.validatorAddress = r.bytes();
        break;
      case 7:
        r.expect(tag, WireType.Varint, 'validator_index');
        vote.validatorIndex = r.int32();
        break;
      case 8:
        r.expect(tag, WireType.LengthDelimited, 'signature');
        vote.signature = r.bytes();
        break;
      case 9:
        r.expect(tag, WireType.LengthDelimited, 'extension');
        vote.extension = r.bytes();
        break;
      case 10:
        r.expect(tag, WireType.LengthDelimited, 'extension_signature');
        vote.extensionSignature = r.bytes();
        break;
      default:
        r.skip(tag);
    }
  }
}

export function decodeVote(bytes: Uint8Array): Vote {
  const vote = emptyVote();
  decodeVoteInto(bytes, vote);
  return vote;
}

export function encodeProposal(proposal: Proposal): Uint8Array {
  const w = new ProtoWriter();
  if (proposal.type !== 0) w.int32(1, proposal.type);
  if (proposal.height !== 0n) w.int64(2, proposal.height);
  if (proposal.round !== 0) w.int32(3, proposal.round);
  if (proposal.polRound !== 0) w.int32(4, proposal.polRound);
  w.message(5, encodeBlockId(proposal.blockId));
  w.message(6, encodeTimestamp(proposal.timestamp));
  if (proposal.signature.length > 0) w.bytes(7, proposal.signature);
  return w.finish();
}

function decodeProposalInto(bytes: Uint8Array, proposal: Proposal): void {
  const r = new ProtoReader(bytes, 'Proposal');
  while (!r.atEnd) {
    const tag = r.tag();
    switch (tag.fieldNumber) {
      case 1:
        r.expect(tag, WireType.Varint, 'type');
        proposal.type = r.int32();
        break;
      case 2:
        r.expect(tag, WireType.Varint, 'height');
        proposal.height = r.int64();
        break;
      case 3:
        r.expect(tag, WireType.Varint, 'round');
        proposal.round = r.int32();
        break;
      case 4:
        r.expect(tag, WireType.Varint, 'pol_round');
        proposal.polRound = r.int32();
        break;
      case 5:
        r.expect(tag, WireType.LengthDelimited, 'block_id');
        decodeBlockIdInto(r.lengthDelimited(), proposal.blockId);
        break;
      case 6:
        r.expect(tag, WireType.LengthDelimited, 'timestamp');
        proposal.timestamp = decodeTimestamp(r.lengthDelimited());
        break;
      case 7:
        r.expect(tag, WireType.LengthDelimited, 'signature');
        proposal.signature = r.bytes();
        break;
      default:
        r.skip(tag);
    }
  }
}

export function decodeProposal(bytes: Uint8Array): Proposal {
  const proposal = emptyProposal();
  decodeProposalInto(bytes, proposal);
  return proposal;
}

// ---------------------------------------------------------------------------------------------
// PublicKey, RemoteSignerError

// The PublicKey oneof's members (crypto/keys.proto; bls12381 = 3 exists from v1 on).
const PUBLIC_KEY_FIELD_BY_TYPE: ReadonlyMap<string, number> = new Map([
  [PublicKeyType.Ed25519, 1],
  [PublicKeyType.Secp256k1, 2],
  [PublicKeyType.Bls12381, 3],
]);
const PUBLIC_KEY_TYPE_BY_FIELD: ReadonlyMap<number, string> = new Map(
  [...PUBLIC_KEY_FIELD_BY_TYPE].map(([type, field]) => [field, type]),
);

/** tendermint.crypto.PublicKey; null encodes the empty oneof (`0a00` inside PubKeyResponse). */
export function encodePublicKey(key: PublicKey | null): Uint8Array {
  const w = new ProtoWriter();
  if (key !== null) {
    const field = PUBLIC_KEY_FIELD_BY_TYPE.get(key.type);
    if (field === undefined) throw new ProtobufEncodeError(`no PublicKey field for key type "${key.type}"`);
    // A oneof member is written even when its bytes are empty.
    w.bytes(field, key.bytes);
  }
  return w.finish();
}

/** null when no member we know is set. */
export function decodePublicKey(bytes: Uint8Array): PublicKey | null {
  const r = new ProtoReader(bytes, 'PublicKey');
  let key: PublicKey | null = null;
  while (!r.atEnd) {
    const tag = r.tag();
    const type = PUBLIC_KEY_TYPE_BY_FIELD.get(tag.fieldNumber);
    if (type === undefined) {
      r.skip(tag);
      continue;
    }
    r.expect(tag, WireType.LengthDelimited, type);
    key = { type, bytes: r.bytes() };
  }
  return key;
}

export function encodeRemoteSignerError(error: RemoteSignerError): Uint8Array {
  const w = new ProtoWriter();
  if (error.code !== 0) w.int32(1, error.code);
  if (error.description.length > 0) w.string(2, error.description);
  return w.finish();
}

function decodeRemoteSignerErrorInto(bytes: Uint8Array, error: RemoteSignerError): void {
  const r = new ProtoReader(bytes, 'RemoteSignerError');
  while (!r.atEnd) {
    const tag = r.tag();
    switch (tag.fieldNumber) {
      case 1:
        r.expect(tag, WireType.Varint, 'code');
        error.code = r.int32();
        break;
      case 2:
        r.expect(tag, WireType.LengthDelimited, 'description');
        error.description = r.string();
        break;
      default:
        r.skip(tag);
    }
  }
}

/** A nullable RemoteSignerError field: merges into an earlier occurrence, as gogoproto does. */
function mergeRemoteSignerError(bytes: Uint8Array, previous: RemoteSignerError | null): RemoteSignerError {
  const error = previous ?? { code: 0, description: '' };
  decodeRemoteSignerErrorInto(bytes, error);
  return error;
}

// ---------------------------------------------------------------------------------------------
// The request and response bodies

function encodePubKeyRequest(req: PubKeyRequest): Uint8Array {
  const w = new ProtoWriter();
  if (req.chainId.length > 0) w.string(1, req.chainId);
  return w.finish();
}

function decodePubKeyRequest(bytes: Uint8Array): PubKeyRequest {
  const r = new ProtoReader(bytes, 'PubKeyRequest');
  const req: PubKeyRequest = { chainId: '' };
  while (!r.atEnd) {
    const tag = r.tag();
    if (tag.fieldNumber === 1) {
      r.expect(tag, WireType.LengthDelimited, 'chain_id');
      req.chainId = r.string();
    } else {
      r.skip(tag);
    }
  }
  return req;
}

function encodePubKeyResponse(res: PubKeyResponse, format: PubKeyResponseFormat): Uint8Array {
  const w = new ProtoWriter();
  if (format !== 'v1') {
    // v0.38: `PublicKey pub_key = 1 [(gogoproto.nullable) = false]`, written even when empty.
    // A key type v0.38 cannot express is left out of field 1 under `both` (v1 fields carry it).
    const legacyKey = res.pubKey !== null && PUBLIC_KEY_FIELD_BY_TYPE.has(res.pubKey.type) ? res.pubKey : null;
    if (format === 'v0.38' && res.pubKey !== null && legacyKey === null) {
      throw new ProtobufEncodeError(`a v0.38 PubKeyResponse cannot carry a "${res.pubKey.type}" key`);
    }
    w.message(1, encodePublicKey(legacyKey));
  }
  if (res.error !== null) w.message(2, encodeRemoteSignerError(res.error));
  if (format !== 'v0.38' && res.pubKey !== null) {
    if (res.pubKey.bytes.length > 0) w.bytes(3, res.pubKey.bytes);
    if (res.pubKey.type.length > 0) w.string(4, res.pubKey.type);
  }
  return w.finish();
}

function decodePubKeyResponse(bytes: Uint8Array): PubKeyResponse {
  const r = new ProtoReader(bytes, 'PubKeyResponse');
  let legacyKey: PublicKey | null = null;
  let keyBytes: Uint8Array | null = null;
  let keyType: string | null = null;
  let error: RemoteSignerError | null = null;
  while (!r.atEnd) {
    const tag: FieldTag = r.tag();
    switch (tag.fieldNumber) {
      case 1:
        r.expect(tag, WireType.LengthDelimited, 'pub_key');
        // Non-nullable message holding a oneof: a later occurrence replaces the member only if
        // it sets one (merge semantics).
        legacyKey = decodePublicKey(r.lengthDelimited()) ?? legacyKey;
        break;
      case 2:
        r.expect(tag, WireType.LengthDelimited, 'error');
        error = mergeRemoteSignerError(r.lengthDelimited(), error);
        break;
      case 3:
        r.expect(tag, WireType.LengthDelimited, 'pub_key_bytes');
        keyBytes = r.bytes();
        break;
      case 4:
        r.expect(tag, WireType.LengthDelimited, 'pub_key_type');
        keyType = r.string();
        break;
      default:
        r.skip(tag);
    }
  }
  const v1Key: PublicKey | null =
    keyBytes !== null || keyType !== null ? { type: keyType ?? '', bytes: keyBytes ?? new Uint8Array(0) } : null;
  if (legacyKey !== null && v1Key !== null) {
    if (legacyKey.type !== v1Key.type || !bytesEqual(legacyKey.bytes, v1Key.bytes)) {
      throw new ProtobufDecodeError('PubKeyResponse: pub_key (field 1) and pub_key_bytes/pub_key_type disagree', 0);
    }
  }
  return { pubKey: legacyKey ?? v1Key, error };
}

function encodeSignVoteRequest(req: SignVoteRequest): Uint8Array {
  const w = new ProtoWriter();
  if (req.vote !== null) w.message(1, encodeVote(req.vote));
  if (req.chainId.length > 0) w.string(2, req.chainId);
  if (req.skipExtensionSigning) w.bool(3, true);
  return w.finish();
}

function decodeSignVoteRequest(bytes: Uint8Array): SignVoteRequest {
  const r = new ProtoReader(bytes, 'SignVoteRequest');
  const req: SignVoteRequest = { vote: null, chainId: '', skipExtensionSigning: false };
  while (!r.atEnd) {
    const tag = r.tag();
    switch (tag.fieldNumber) {
      case 1: {
        r.expect(tag, WireType.LengthDelimited, 'vote');
        const vote = req.vote ?? emptyVote();
        decodeVoteInto(r.lengthDelimited(), vote);
        req.vote = vote;
        break;
      }
      case 2:
        r.expect(tag, WireType.LengthDelimited, 'chain_id');
        req.chainId = r.string();
        break;
      case 3:
        r.expect(tag, WireType.Varint, 'skip_extension_signing');
        req.skipExtensionSigning = r.bool();
        break;
      default:
        r.skip(tag);
    }
  }
  return req;
}

function encodeSignedVoteResponse(res: SignedVoteResponse): Uint8Array {
  const w = new ProtoWriter();
  w.message(1, encodeVote(res.vote)); // non-nullable
  if (res.error !== null) w.message(2, encodeRemoteSignerError(res.error));
  return w.finish();
}

function decodeSignedVoteResponse(bytes: Uint8Array): SignedVoteResponse {
  const r = new ProtoReader(bytes, 'SignedVoteResponse');
  const res: SignedVoteResponse = { vote: emptyVote(), error: null };
  while (!r.atEnd) {
    const tag = r.tag();
    switch (tag.fieldNumber) {
      case 1:
        r.expect(tag, WireType.LengthDelimited, 'vote');
        decodeVoteInto(r.lengthDelimited(), res.vote);
        break;
      case 2:
        r.expect(tag, WireType.LengthDelimited, 'error');
        res.error = mergeRemoteSignerError(r.lengthDelimited(), res.error);
        break;
      default:
        r.skip(tag);
    }
  }
  return res;
}

function encodeSignProposalRequest(req: SignProposalRequest): Uint8Array {
  const w = new ProtoWriter();
  if (req.proposal !== null) w.message(1, encodeProposal(req.proposal));
  if (req.chainId.length > 0) w.string(2, req.chainId);
  return w.finish();
}

function decodeSignProposalRequest(bytes: Uint8Array): SignProposalRequest {
  const r = new ProtoReader(bytes, 'SignProposalRequest');
  const req: SignProposalRequest = { proposal: null, chainId: '' };
  while (!r.atEnd) {
    const tag = r.tag();
    switch (tag.fieldNumber) {
      case 1: {
        r.expect(tag, WireType.LengthDelimited, 'proposal');
        const proposal = req.proposal ?? emptyProposal();
        decodeProposalInto(r.lengthDelimited(), proposal);
        req.proposal = proposal;
        break;
      }
      case 2:
        r.expect(tag, WireType.LengthDelimited, 'chain_id');
        req.chainId = r.string();
        break;
      default:
        r.skip(tag);
    }
  }
  return req;
}

function encodeSignedProposalResponse(res: SignedProposalResponse): Uint8Array {
  const w = new ProtoWriter();
  w.message(1, encodeProposal(res.proposal)); // non-nullable
  if (res.error !== null) w.message(2, encodeRemoteSignerError(res.error));
  return w.finish();
}

function decodeSignedProposalResponse(bytes: Uint8Array): SignedProposalResponse {
  const r = new ProtoReader(bytes, 'SignedProposalResponse');
  const res: SignedProposalResponse = { proposal: emptyProposal(), error: null };
  while (!r.atEnd) {
    const tag = r.tag();
    switch (tag.fieldNumber) {
      case 1:
        r.expect(tag, WireType.LengthDelimited, 'proposal');
        decodeProposalInto(r.lengthDelimited(), res.proposal);
        break;
      case 2:
        r.expect(tag, WireType.LengthDelimited, 'error');
        res.error = mergeRemoteSignerError(r.lengthDelimited(), res.error);
        break;
      default:
        r.skip(tag);
    }
  }
  return res;
}

function encodeSignBytesRequest(req: SignBytesRequest): Uint8Array {
  const w = new ProtoWriter();
  if (req.value.length > 0) w.bytes(1, req.value);
  return w.finish();
}

function decodeSignBytesRequest(bytes: Uint8Array): SignBytesRequest {
  const r = new ProtoReader(bytes, 'SignBytesRequest');
  const req: SignBytesRequest = { value: new Uint8Array(0) };
  while (!r.atEnd) {
    const tag = r.tag();
    if (tag.fieldNumber === 1) {
      r.expect(tag, WireType.LengthDelimited, 'value');
      req.value = r.bytes();
    } else {
      r.skip(tag);
    }
  }
  return req;
}

function encodeSignBytesResponse(res: SignBytesResponse): Uint8Array {
  const w = new ProtoWriter();
  if (res.signature.length > 0) w.bytes(1, res.signature);
  if (res.error !== null) w.message(2, encodeRemoteSignerError(res.error));
  return w.finish();
}

function decodeSignBytesResponse(bytes: Uint8Array): SignBytesResponse {
  const r = new ProtoReader(bytes, 'SignBytesResponse');
  const res: SignBytesResponse = { signature: new Uint8Array(0), error: null };
  while (!r.atEnd) {
    const tag = r.tag();
    switch (tag.fieldNumber) {
      case 1:
        r.expect(tag, WireType.LengthDelimited, 'signature');
        res.signature = r.bytes();
        break;
      case 2:
        r.expect(tag, WireType.LengthDelimited, 'error');
        res.error = mergeRemoteSignerError(r.lengthDelimited(), res.error);
        break;
      default:
        r.skip(tag);
    }
  }
  return res;
}

/** Ping messages have no fields; anything inside is skipped, but must still be well formed. */
function checkEmptyMessage(bytes: Uint8Array, context: string): void {
  const r = new ProtoReader(bytes, context);
  while (!r.atEnd) r.skip(r.tag());
}

// ---------------------------------------------------------------------------------------------
// Message

/** Encodes one privval `Message` (without the length prefix; see framing.ts). */
export function encodeMessage(msg: PrivvalMessage, options: EncodeOptions = {}): Uint8Array {
  const w = new ProtoWriter();
  switch (msg.kind) {
    case 'pubKeyRequest':
      w.message(1, encodePubKeyRequest(msg.value));
      break;
    case 'pubKeyResponse':
      w.message(2, encodePubKeyResponse(msg.value, options.pubKeyResponseFormat ?? 'both'));
      break;
    case 'signVoteRequest':
      w.message(3, encodeSignVoteRequest(msg.value));
      break;
    case 'signedVoteResponse':
      w.message(4, encodeSignedVoteResponse(msg.value));
      break;
    case 'signProposalRequest':
      w.message(5, encodeSignProposalRequest(msg.value));
      break;
    case 'signedProposalResponse':
      w.message(6, encodeSignedProposalResponse(msg.value));
      break;
    case 'pingRequest':
      w.message(7, new Uint8Array(0));
      break;
    case 'pingResponse':
      w.message(8, new Uint8Array(0));
      break;
    case 'signBytesRequest':
      w.message(9, encodeSignBytesRequest(msg.value));
      break;
    case 'signBytesResponse':
      w.message(10, encodeSignBytesResponse(msg.value));
      break;
    case 'none':
      break;
  }
  return w.finish();
}

/**
 * Decodes one privval `Message`. Throws ProtobufDecodeError on malformed input. When several
 * oneof members are present the last one wins, as in gogoproto's generated Unmarshal.
 */
export function decodeMessage(bytes: Uint8Array): PrivvalMessage {
  const r = new ProtoReader(bytes, 'Message');
  let msg: PrivvalMessage | null = null;
  const unknownFieldNumbers: number[] = [];
  while (!r.atEnd) {
    const tag = r.tag();
    if (tag.fieldNumber < 1 || tag.fieldNumber > 10) {
      unknownFieldNumbers.push(tag.fieldNumber);
      r.skip(tag);
      continue;
    }
    r.expect(tag, WireType.LengthDelimited, `sum (${tag.fieldNumber})`);
    const body = r.lengthDelimited();
    switch (tag.fieldNumber) {
      case 1:
        msg = { kind: 'pubKeyRequest', value: decodePubKeyRequest(body) };
        break;
      case 2:
        msg = { kind: 'pubKeyResponse', value: decodePubKeyResponse(body) };
        break;
      case 3:
        msg = { kind: 'signVoteRequest', value: decodeSignVoteRequest(body) };
        break;
      case 4:
        msg = { kind: 'signedVoteResponse', value: decodeSignedVoteResponse(body) };
        break;
      case 5:
        msg = { kind: 'signProposalRequest', value: decodeSignProposalRequest(body) };
        break;
      case 6:
        msg = { kind: 'signedProposalResponse', value: decodeSignedProposalResponse(body) };
        break;
      case 7:
        checkEmptyMessage(body, 'PingRequest');
        msg = { kind: 'pingRequest' };
        break;
      case 8:
        checkEmptyMessage(body, 'PingResponse');
        msg = { kind: 'pingResponse' };
        break;
      case 9:
        msg = { kind: 'signBytesRequest', value: decodeSignBytesRequest(body) };
        break;
      case 10:
        msg = { kind: 'signBytesResponse', value: decodeSignBytesResponse(body) };
        break;
    }
  }
  return msg ?? { kind: 'none', unknownFieldNumbers };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
