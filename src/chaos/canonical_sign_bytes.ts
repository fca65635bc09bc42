// The chaos checker's own encoder of CometBFT sign bytes. It deliberately shares no code with
// src/privval/sign_bytes.ts: the checker judges what the product released, so if the product
// computed sign bytes wrongly (a field left out, a wrong wire type) and signed those, a checker
// that reused the product's encoder would agree with the bug. This one is written from the
// protobuf definitions alone (cometbft proto/cometbft/types/v1/canonical.proto, gogoproto
// marshalling; types.VoteSignBytes / ProposalSignBytes / VoteExtensionSignBytes):
//
//   CanonicalVote     { type 1 enum; height 2 sfixed64; round 3 sfixed64;
//                       block_id 4 CanonicalBlockID (nullable); timestamp 5 (non-nullable);
//                       chain_id 6 string }
//   CanonicalProposal { type 1 enum (always 32); height 2 sfixed64; round 3 sfixed64;
//                       pol_round 4 int64; block_id 5 (nullable); timestamp 6; chain_id 7 }
//   CanonicalBlockID  { hash 1 bytes; part_set_header 2 CanonicalPartSetHeader (non-nullable) }
//   CanonicalPartSetHeader { total 1 uint32; hash 2 bytes }
//   CanonicalVoteExtension { extension 1 bytes; height 2 sfixed64; round 3 sfixed64; chain_id 4 }
//
// proto3 leaves zero scalars out; the result is length-delimited (protoio.MarshalDelimited).

import type { BlockId, Proposal, Timestamp, Vote } from '../cometbft/messages';

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;

/** Proposal messages carry SignedMsgType 32 in their sign bytes whatever the request said. */
const PROPOSAL_TYPE = 32;

class Writer {
  private readonly parts: Buffer[] = [];

  private key(field: number, wire: number): void {
    this.varint(BigInt((field << 3) | wire));
  }

  /** Unsigned LEB128; negative int64 values arrive here as their two's complement (10 bytes). */
  private varint(value: bigint): void {
    let v = value < 0n ? value + (1n << 64n) : value;
    const bytes: number[] = [];
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) b |= 0x80;
      bytes.push(b);
    } while (v !== 0n);
    this.parts.push(Buffer.from(bytes));
  }

  int(field: number, value: bigint): void {
    if (value === 0n) return;
    this.key(field, WIRE_VARINT);
    this.varint(value);
  }

  sfixed64(field: number, value: bigint): void {
    if (value === 0n) return;
    this.key(field, WIRE_FIXED64);
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(value);
    this.parts.push(b);
  }

  bytes(field: number, value: Uint8Array, always = false): void {
    if (value.length === 0 && !always) return;
    this.key(field, WIRE_BYTES);
    this.varint(BigInt(value.length));
    this.parts.push(Buffer.from(value));
  }

  string(field: number, value: string): void {
    this.bytes(field, Buffer.from(value, 'utf8'));
  }

  finish(): Buffer {
    return Buffer.concat(this.parts);
  }

  /** The finished message with its length in front, as MarshalDelimited writes it. */
  delimited(): Buffer {
    const body = this.finish();
    const prefix = new Writer();
    prefix.varint(BigInt(body.length));
    return Buffer.concat([prefix.finish(), body]);
  }
}

function timestampBytes(ts: Timestamp): Buffer {
  const w = new Writer();
  w.int(1, ts.seconds);
  w.int(2, BigInt(ts.nanos));
  return w.finish();
}

/** A nil block id (no hash, empty part set header) is left out of the sign bytes altogether. */
function isNil(blockId: BlockId): boolean {
  return blockId.hash.length === 0 && blockId.partSetHeader.total === 0 && blockId.partSetHeader.hash.length === 0;
}

function blockIdBytes(blockId: BlockId): Buffer {
  const psh = new Writer();
  psh.int(1, BigInt(blockId.partSetHeader.total));
  psh.bytes(2, blockId.partSetHeader.hash);
  const w = new Writer();
  w.bytes(1, blockId.hash);
  w.bytes(2, psh.finish(), true);
  return w.finish();
}

/** What a validator key signs for a prevote or precommit. */
export function independentVoteSignBytes(chainId: string, vote: Pick<Vote, 'type' | 'height' | 'round' | 'blockId' | 'timestamp'>): Uint8Array {
  const w = new Writer();
  w.int(1, BigInt(vote.type));
  w.sfixed64(2, vote.height);
  w.sfixed64(3, BigInt(vote.round));
  if (!isNil(vote.blockId)) w.bytes(4, blockIdBytes(vote.blockId), true);
  w.bytes(5, timestampBytes(vote.timestamp), true);
  w.string(6, chainId);
  return new Uint8Array(w.delimited());
}

/** What a validator key signs for a proposal. */
export function independentProposalSignBytes(
  chainId: string,
  proposal: Pick<Proposal, 'height' | 'round' | 'polRound' | 'blockId' | 'timestamp'>,
): Uint8Array {
  const w = new Writer();
  w.int(1, BigInt(PROPOSAL_TYPE));
  w.sfixed64(2, proposal.height);
  w.sfixed64(3, BigInt(proposal.round));
  w.int(4, BigInt(proposal.polRound));
  if (!isNil(proposal.blockId)) w.bytes(5, blockIdBytes(proposal.blockId), true);
  w.bytes(6, timestampBytes(proposal.timestamp), true);
  w.string(7, chainId);
  return new Uint8Array(w.delimited());
}

/** What a validator key signs for a non-nil precommit's vote extension. */
export function independentVoteExtensionSignBytes(chainId: string, vote: Pick<Vote, 'height' | 'round' | 'extension'>): Uint8Array {
  const w = new Writer();
  w.bytes(1, vote.extension);
  w.sfixed64(2, vote.height);
  w.sfixed64(3, BigInt(vote.round));
  w.string(4, chainId);
  return new Uint8Array(w.delimited());
}
