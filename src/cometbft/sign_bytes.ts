// The bytes a validator signs: CometBFT's canonical vote, proposal and vote extension
// (types/canonical.go, proto/tendermint/types/canonical.proto), each length-prefixed as
// protoio.MarshalDelimited writes it: uvarint(len) || proto(Canonical*).
//
// These bytes are what the slashing protection compares, so they are built in one place, by one
// encoder, and parsed back by a decoder that accepts exactly what that encoder produces (any
// other encoding of "the same" message is refused rather than interpreted).

import {
  BlockId,
  PartSetHeader,
  Proposal,
  SignedMsgType,
  Timestamp,
  Vote,
  decodeTimestamp,
  encodeTimestamp,
  validateTimestamp,
} from './messages';
import { ProtoReader, ProtoWriter, ProtobufDecodeError, WireType, encodeUvarint } from './protobuf';
import { RaftSignerError } from '../util/errors';

/** Input that has no canonical sign bytes, or bytes that are not canonical sign bytes. */
export class SignBytesError extends RaftSignerError<{ code: 'SIGN_BYTES_INVALID' }> {
  constructor(message: string) {
    super({ code: 'SIGN_BYTES_INVALID' }, message);
    this.name = 'SignBytesError';
  }
}

/** CometBFT FilePV steps (privval/file.go: stepPropose, stepPrevote, stepPrecommit). */
export const Step = {
  Propose: 1,
  Prevote: 2,
  Precommit: 3,
} as const;
export type Step = (typeof Step)[keyof typeof Step];

/** The step a SignedMsgType is signed at: proposal 1, prevote 2, precommit 3 (file.go voteToStep). */
export function stepOf(type: number): Step {
  switch (type) {
    case SignedMsgType.Proposal:
      return Step.Propose;
    case SignedMsgType.Prevote:
      return Step.Prevote;
    case SignedMsgType.Precommit:
      return Step.Precommit;
    default:
      throw new SignBytesError(`unknown signed message type ${type}: expected prevote (1), precommit (2) or proposal (32)`);
  }
}

/**
 * The step of a vote: prevote 2, precommit 3; anything else, the proposal type 32 included, is
 * not a vote (file.go voteToStep panics on it). Use this, not stepOf, for SignVoteRequest.
 */
export function stepOfVoteType(type: number): 2 | 3 {
  if (type === SignedMsgType.Prevote) return Step.Prevote;
  if (type === SignedMsgType.Precommit) return Step.Precommit;
  throw new SignBytesError(`a vote must be a prevote (1) or a precommit (2), got type ${type}`);
}

/** A human name for a step, for operators' messages. */
export function stepName(step: Step): string {
  return step === Step.Propose ? 'proposal' : step === Step.Prevote ? 'prevote' : 'precommit';
}

/**
 * Whether a block id is nil: empty hash and zero part set header (types.ProtoBlockIDIsNil). A
 * vote for nil; its canonical form omits the block id entirely.
 */
export function isNilBlockId(blockId: BlockId): boolean {
  return blockId.hash.length === 0 && blockId.partSetHeader.total === 0 && blockId.partSetHeader.hash.length === 0;
}

export type CanonicalKind = 'vote' | 'proposal';

interface CanonicalCommon {
  type: number;
  height: bigint;
  round: number;
  /** null: a nil block id, omitted from the bytes. */
  blockId: BlockId | null;
  timestamp: Timestamp;
  chainId: string;
}

/** tendermint.types.CanonicalVote. */
export interface CanonicalVote extends CanonicalCommon {
  kind: 'vote';
}

/** tendermint.types.CanonicalProposal. `type` is always 32 (CanonicalizeProposal). */
export interface CanonicalProposal extends CanonicalCommon {
  kind: 'proposal';
  polRound: number;
}

export type CanonicalSignBytes = CanonicalVote | CanonicalProposal;

/** The Vote fields that its sign bytes depend on. */
export type VoteSignFields = Pick<Vote, 'type' | 'height' | 'round' | 'blockId' | 'timestamp'>;
/** The Proposal fields that its sign bytes depend on (not `type`: the bytes always say 32). */
export type ProposalSignFields = Pick<Proposal, 'height' | 'round' | 'polRound' | 'blockId' | 'timestamp'>;
/** The Vote fields that its extension's sign bytes depend on. */
export type VoteExtensionSignFields = Pick<Vote, 'height' | 'round' | 'extension'>;

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
/** tmhash.Size: a non-empty block or part set hash must be a SHA-256. */
const HASH_SIZE = 32;

function checkInt32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
    throw new SignBytesError(`${what} must be an int32, got ${value}`);
  }
}

function checkInt64(value: bigint, what: string): void {
  if (typeof value !== 'bigint' || value < INT64_MIN || value > INT64_MAX) {
    throw new SignBytesError(`${what} must be an int64 (bigint), got ${String(value)}`);
  }
}

/**
 * BlockIDFromProto's ValidateBasic, which CanonicalizeBlockID panics on: each hash is empty or
 * 32 bytes. Returns the canonical block id, or null for a nil one.
 */
function canonicalizeBlockId(blockId: BlockId): BlockId | null {
  if (blockId.hash.length !== 0 && blockId.hash.length !== HASH_SIZE) {
    throw new SignBytesError(`block id hash must be empty or ${HASH_SIZE} bytes, got ${blockId.hash.length}`);
  }
  const psh = blockId.partSetHeader;
  if (psh.hash.length !== 0 && psh.hash.length !== HASH_SIZE) {
    throw new SignBytesError(`part set header hash must be empty or ${HASH_SIZE} bytes, got ${psh.hash.length}`);
  }
  if (!Number.isInteger(psh.total) || psh.total < 0 || psh.total > 0xffffffff) {
    throw new SignBytesError(`part set header total must be a uint32, got ${psh.total}`);
  }
  if (isNilBlockId(blockId)) return null;
  return {
    hash: blockId.hash.slice(),
    partSetHeader: { total: psh.total, hash: psh.hash.slice() },
  };
}

function checkTimestamp(ts: Timestamp): Timestamp {
  const problem = validateTimestamp(ts);
  if (problem !== null) throw new SignBytesError(problem);
  return { seconds: ts.seconds, nanos: ts.nanos };
}

/** types.CanonicalizeVote: validator address, index, signature and extension are left out. */
export function canonicalizeVote(chainId: string, vote: VoteSignFields): CanonicalVote {
  checkInt32(vote.type, 'vote type');
  checkInt64(vote.height, 'vote height');
  checkInt32(vote.round, 'vote round');
  return {
    kind: 'vote',
    type: vote.type,
    height: vote.height,
    round: vote.round,
    blockId: canonicalizeBlockId(vote.blockId),
    timestamp: checkTimestamp(vote.timestamp),
    chainId,
  };
}

/** types.CanonicalizeProposal: the type is always ProposalType (32), whatever the proposal says. */
export function canonicalizeProposal(chainId: string, proposal: ProposalSignFields): CanonicalProposal {
  checkInt64(proposal.height, 'proposal height');
  checkInt32(proposal.round, 'proposal round');
  checkInt32(proposal.polRound, 'proposal pol round');
  return {
    kind: 'proposal',
    type: SignedMsgType.Proposal,
    height: proposal.height,
    round: proposal.round,
    polRound: proposal.polRound,
    blockId: canonicalizeBlockId(proposal.blockId),
    timestamp: checkTimestamp(proposal.timestamp),
    chainId,
  };
}

function encodeCanonicalBlockId(blockId: BlockId): Uint8Array {
  const psh = new ProtoWriter();
  if (blockId.partSetHeader.total !== 0) psh.uint32(1, blockId.partSetHeader.total);
  if (blockId.partSetHeader.hash.length > 0) psh.bytes(2, blockId.partSetHeader.hash);
  const w = new ProtoWriter();
  if (blockId.hash.length > 0) w.bytes(1, blockId.hash);
  // CanonicalBlockID.part_set_header is non-nullable: written even when empty.
  w.message(2, psh.finish());
  return w.finish();
}

function lengthPrefixed(body: Uint8Array): Uint8Array {
  const prefix = encodeUvarint(body.length);
  const out = new Uint8Array(prefix.length + body.length);
  out.set(prefix, 0);
  out.set(body, prefix.length);
  return out;
}

/**
 * The sign bytes of a canonical vote or proposal, as gogoproto marshals them: zero scalars left
 * out; height and round as sfixed64; pol_round as a varint int64 (-1 takes 10 bytes); the block
 * id only when not nil; the timestamp always (Go's zero time included).
 */
export function encodeCanonicalSignBytes(c: CanonicalSignBytes): Uint8Array {
  const w = new ProtoWriter();
  if (c.type !== 0) w.int32(1, c.type);
  if (c.height !== 0n) w.sfixed64(2, c.height);
  if (c.round !== 0) w.sfixed64(3, BigInt(c.round));
  if (c.kind === 'proposal') {
    if (c.polRound !== 0) w.int64(4, BigInt(c.polRound));
    if (c.blockId !== null) w.message(5, encodeCanonicalBlockId(c.blockId));
    w.message(6, encodeTimestamp(c.timestamp));
    if (c.chainId.length > 0) w.string(7, c.chainId);
  } else {
    if (c.blockId !== null) w.message(4, encodeCanonicalBlockId(c.blockId));
    w.message(5, encodeTimestamp(c.timestamp));
    if (c.chainId.length > 0) w.string(6, c.chainId);
  }
  return lengthPrefixed(w.finish());
}

/** types.VoteSignBytes. */
export function voteSignBytes(chainId: string, vote: VoteSignFields): Uint8Array {
  return encodeCanonicalSignBytes(canonicalizeVote(chainId, vote));
}

/** types.ProposalSignBytes. */
export function proposalSignBytes(chainId: string, proposal: ProposalSignFields): Uint8Array {
  return encodeCanonicalSignBytes(canonicalizeProposal(chainId, proposal));
}

/** types.VoteExtensionSignBytes: CanonicalVoteExtension { extension, height, round, chain_id }. */
export function voteExtensionSignBytes(chainId: string, vote: VoteExtensionSignFields): Uint8Array {
  checkInt64(vote.height, 'vote height');
  checkInt32(vote.round, 'vote round');
  const w = new ProtoWriter();
  if (vote.extension.length > 0) w.bytes(1, vote.extension);
  if (vote.height !== 0n) w.sfixed64(2, vote.height);
  if (vote.round !== 0) w.sfixed64(3, BigInt(vote.round));
  if (chainId.length > 0) w.string(4, chainId);
  return lengthPrefixed(w.finish());
}

// ---------------------------------------------------------------------------------------------
// Decoding

function int32FromSfixed64(value: bigint, what: string): number {
  if (value < -0x80000000n || value > 0x7fffffffn) {
    throw new SignBytesError(`${what} ${value} is outside int32: not produced by CometBFT`);
  }
  return Number(value);
}

function decodeCanonicalBlockId(bytes: Uint8Array): BlockId {
  const r = new ProtoReader(bytes, 'CanonicalBlockID');
  const blockId: BlockId = { hash: new Uint8Array(0), partSetHeader: { total: 0, hash: new Uint8Array(0) } };
  while (!r.atEnd) {
    const tag = r.tag();
    switch (tag.fieldNumber) {
      case 1:
        r.expect(tag, WireType.LengthDelimited, 'hash');
        blockId.hash = r.bytes();
        break;
      case 2: {
        r.expect(tag, WireType.LengthDelimited, 'part_set_header');
        const p = new ProtoReader(r.lengthDelimited(), 'CanonicalPartSetHeader');
        const psh: PartSetHeader = blockId.partSetHeader;
        while (!p.atEnd) {
          const t = p.tag();
          if (t.fieldNumber === 1) {
            p.expect(t, WireType.Varint, 'total');
            psh.total = p.uint32();
          } else if (t.fieldNumber === 2) {
            p.expect(t, WireType.LengthDelimited, 'hash');
            psh.hash = p.bytes();
          } else {
            throw new SignBytesError(`CanonicalPartSetHeader has an unknown field ${t.fieldNumber}`);
          }
        }
        break;
      }
      default:
        throw new SignBytesError(`CanonicalBlockID has an unknown field ${tag.fieldNumber}`);
    }
  }
  return blockId;
}

/** The value of field 1 (type), 0 when absent: tells a canonical proposal (32) from a vote. */
function peekType(body: Uint8Array): number {
  const r = new ProtoReader(body, 'sign bytes');
  let type = 0;
  while (!r.atEnd) {
    const tag = r.tag();
    if (tag.fieldNumber === 1 && tag.wireType === WireType.Varint) type = r.int32();
    else r.skip(tag);
  }
  return type;
}

function decodeCanonicalBody(body: Uint8Array, kind: CanonicalKind): CanonicalSignBytes {
  const name = kind === 'vote' ? 'CanonicalVote' : 'CanonicalProposal';
  // Field numbers after `round` are shifted by one in CanonicalProposal (pol_round is 4).
  const shift = kind === 'proposal' ? 1 : 0;
  const r = new ProtoReader(body, name);
  let type = 0;
  let height = 0n;
  let round = 0n;
  let polRound = 0n;
  let blockId: BlockId | null = null;
  let timestamp: Timestamp | null = null;
  let chainId = '';
  while (!r.atEnd) {
    const tag = r.tag();
    const f = tag.fieldNumber;
    if (f === 1) {
      r.expect(tag, WireType.Varint, 'type');
      type = r.int32();
    } else if (f === 2) {
      r.expect(tag, WireType.Fixed64, 'height');
      height = r.sfixed64();
    } else if (f === 3) {
      r.expect(tag, WireType.Fixed64, 'round');
      round = r.sfixed64();
    } else if (f === 4 && kind === 'proposal') {
      r.expect(tag, WireType.Varint, 'pol_round');
      polRound = r.int64();
    } else if (f === 4 + shift) {
      r.expect(tag, WireType.LengthDelimited, 'block_id');
      blockId = decodeCanonicalBlockId(r.lengthDelimited());
    } else if (f === 5 + shift) {
      r.expect(tag, WireType.LengthDelimited, 'timestamp');
      timestamp = decodeTimestamp(r.lengthDelimited());
    } else if (f === 6 + shift) {
      r.expect(tag, WireType.LengthDelimited, 'chain_id');
      chainId = r.string();
    } else {
      throw new SignBytesError(`${name} has an unknown field ${f}`);
    }
  }
  if (timestamp === null) throw new SignBytesError(`${name} has no timestamp`);
  if (blockId !== null) {
    // Checked like CanonicalizeBlockID would on the way in; a nil id is never written.
    const canonical = canonicalizeBlockId(blockId);
    if (canonical === null) throw new SignBytesError(`${name} carries a nil block id, which is always left out`);
  }
  const common = {
    type,
    height,
    round: int32FromSfixed64(round, 'round'),
    blockId,
    timestamp,
    chainId,
  };
  if (kind === 'proposal') {
    if (type !== SignedMsgType.Proposal) throw new SignBytesError(`CanonicalProposal has type ${type}, not 32`);
    return { kind, ...common, polRound: int32FromSfixed64(polRound, 'pol round') };
  }
  return { kind, ...common };
}

/**
 * Parses sign bytes made by voteSignBytes / proposalSignBytes (or CometBFT's encoder, which is
 * the same) back into their canonical fields. `kind` defaults to what the type field says (32:
 * proposal, anything else: vote). Throws SignBytesError unless the input is exactly the
 * canonical encoding of what it holds: a length prefix covering the rest, no unknown or repeated
 * fields, no zero value written, fields in order.
 */
export function decodeCanonicalSignBytes(bytes: Uint8Array, kind?: CanonicalKind): CanonicalSignBytes {
  let parsed: CanonicalSignBytes;
  try {
    const r = new ProtoReader(bytes, 'sign bytes');
    const body = r.lengthDelimited();
    if (!r.atEnd) throw new SignBytesError(`sign bytes have ${bytes.length - r.offset} bytes after the message`);
    const resolvedKind = kind ?? (peekType(body) === SignedMsgType.Proposal ? 'proposal' : 'vote');
    parsed = decodeCanonicalBody(body, resolvedKind);
  } catch (e) {
    if (e instanceof ProtobufDecodeError) throw new SignBytesError(`malformed sign bytes: ${e.message}`);
    throw e;
  }
  if (!bytesEqual(encodeCanonicalSignBytes(parsed), bytes)) {
    throw new SignBytesError(`sign bytes are not in canonical form for a ${parsed.kind}`);
  }
  return parsed;
}

/** The canonical fields on which `a` and `b` differ, by name, in field order. */
export function canonicalDifferences(a: CanonicalSignBytes, b: CanonicalSignBytes): string[] {
  const out: string[] = [];
  if (a.kind !== b.kind) out.push('kind');
  if (a.type !== b.type) out.push('type');
  if (a.height !== b.height) out.push('height');
  if (a.round !== b.round) out.push('round');
  if (a.kind === 'proposal' && b.kind === 'proposal' && a.polRound !== b.polRound) out.push('pol round');
  if (!blockIdsEqual(a.blockId, b.blockId)) out.push('block id');
  if (a.timestamp.seconds !== b.timestamp.seconds || a.timestamp.nanos !== b.timestamp.nanos) out.push('timestamp');
  if (a.chainId !== b.chainId) out.push('chain id');
  return out;
}

/**
 * CometBFT's checkVotesOnlyDifferByTimestamp / checkProposalsOnlyDifferByTimestamp
 * (privval/file.go): parse both, set both timestamps equal, compare. True also when identical.
 * Throws SignBytesError if either is not canonical sign bytes (where Go panics).
 */
export function signBytesDifferOnlyByTimestamp(a: Uint8Array, b: Uint8Array, kind?: CanonicalKind): boolean {
  const diff = canonicalDifferences(decodeCanonicalSignBytes(a, kind), decodeCanonicalSignBytes(b, kind));
  return diff.every((field) => field === 'timestamp');
}

function blockIdsEqual(a: BlockId | null, b: BlockId | null): boolean {
  if (a === null || b === null) return a === b;
  return (
    bytesEqual(a.hash, b.hash) &&
    a.partSetHeader.total === b.partSetHeader.total &&
    bytesEqual(a.partSetHeader.hash, b.partSetHeader.hash)
  );
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
