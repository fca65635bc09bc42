// Sign requests as a validator node would cause them: canonical sign bytes built with the same
// encoder the privval layer uses, for a block named by a letter (or nil) and a timestamp.

import { createHash } from 'node:crypto';
import { BlockId, SignedMsgType } from '../../src/cometbft/messages';
import { proposalSignBytes, voteSignBytes } from '../../src/cometbft/sign_bytes';
import { SignRequest } from '../../src/cometbft/sign_types';

/** A block id derived from a name ('A', 'B', ...); 'nil' is the empty block id. */
export function blockIdOf(name: string): BlockId {
  if (name === 'nil') return { hash: new Uint8Array(0), partSetHeader: { total: 0, hash: new Uint8Array(0) } };
  const hash = createHash('sha256').update(`block ${name}`).digest();
  return { hash, partSetHeader: { total: 1, hash: createHash('sha256').update(`parts ${name}`).digest() } };
}

export interface VoteSpec {
  height: bigint | number;
  round?: number;
  /** 'prevote' or 'precommit'. */
  type: 'prevote' | 'precommit';
  block: string;
  /** Seconds since the epoch; differing timestamps are the only allowed difference. */
  time?: number;
}

export function voteRequest(chainId: string, pubKey: Uint8Array, v: VoteSpec): SignRequest {
  const height = BigInt(v.height);
  const round = v.round ?? 0;
  const type = v.type === 'prevote' ? SignedMsgType.Prevote : SignedMsgType.Precommit;
  const signBytes = voteSignBytes(chainId, {
    type,
    height,
    round,
    blockId: blockIdOf(v.block),
    timestamp: { seconds: BigInt(v.time ?? 1_700_000_000), nanos: 0 },
  });
  return { chainId, pubKey, height, round, step: v.type === 'prevote' ? 2 : 3, signBytes };
}

export function proposalRequest(
  chainId: string,
  pubKey: Uint8Array,
  p: { height: bigint | number; round?: number; block: string; polRound?: number; time?: number },
): SignRequest {
  const height = BigInt(p.height);
  const round = p.round ?? 0;
  const signBytes = proposalSignBytes(chainId, {
    height,
    round,
    polRound: p.polRound ?? -1,
    blockId: blockIdOf(p.block),
    timestamp: { seconds: BigInt(p.time ?? 1_700_000_000), nanos: 0 },
  });
  return { chainId, pubKey, height, round, step: 1, signBytes };
}
