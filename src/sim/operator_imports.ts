// What an operator (or any holder of the admin certificate) imports with `state import`, drafted
// for the simulator: the last state of a signer being migrated from, as priv_validator_state.json
// holds it. Some are what a real old signer wrote (height, round and step only; or a vote or
// proposal with the signature it released, sometimes for the block the cluster's validator nodes
// will also sign, at another time), some are crafted (a signature that does not verify, sign bytes
// of another chain): every node must refuse those alike, and a valid one may only raise the
// watermark.

import crypto from 'node:crypto';
import type { BlockId, Timestamp } from '../cometbft/messages';
import { SignedMsgType } from '../cometbft/messages';
import { proposalSignBytes, voteSignBytes } from '../cometbft/sign_bytes';
import type { ValidatorKey } from '../keys/validator_key';
import type { SeededRandom } from '../raft/rng';
import type { ImportStateCommand } from '../signer/signer_codec';

export type DraftKind = 'hrs-only' | 'signed' | 'signed-fleet-block' | 'bad-signature' | 'other-chain';

const BASE_SECONDS = 1_700_000_000n;

function blockId(base: string): BlockId {
  const h = (s: string): Uint8Array => crypto.createHash('sha256').update(s).digest();
  return { hash: h(base), partSetHeader: { total: 1, hash: h(`${base}/parts`) } };
}

/**
 * An import for `chainId` near height `around` (the watermark the drafting node knows). The
 * 'signed-fleet-block' kind names the block the simulated validator nodes sign at that HRS
 * (validator_fleet.ts names its blocks `${chain}/${height}/${round}/a`), so a later request for it
 * differs only by the timestamp and gets the imported signature back.
 */
export function draftImport(rng: SeededRandom, chainId: string, key: ValidatorKey, around: bigint, nowMs: number): { kind: DraftKind; command: ImportStateCommand } {
  const kind = rng.pick<DraftKind>(['hrs-only', 'hrs-only', 'signed', 'signed', 'signed-fleet-block', 'bad-signature', 'other-chain']);
  const ahead = around + BigInt(rng.between(0, 3));
  const height = ahead > 0n ? ahead : 1n;
  const round = 0;
  const step = rng.pick<1 | 2 | 3>([1, 2, 3]);
  if (kind === 'hrs-only') {
    return { kind, command: { chainId, pubKey: key.publicKey, record: { height, round, step: rng.pick<0 | 1 | 2 | 3>([0, 1, 2, 3]), signBytes: new Uint8Array(0), signature: new Uint8Array(0) } } };
  }
  const bytesChain = kind === 'other-chain' ? `${chainId}-elsewhere` : chainId;
  const block = blockId(kind === 'signed-fleet-block' ? `${chainId}/${height}/${round}/a` : `${chainId}/${height}/${round}/migrated`);
  const timestamp: Timestamp = { seconds: BASE_SECONDS + BigInt(Math.floor(nowMs / 1000)), nanos: 0 };
  const signBytes =
    step === 1
      ? proposalSignBytes(bytesChain, { height, round, polRound: -1, blockId: block, timestamp })
      : voteSignBytes(bytesChain, { type: step === 2 ? SignedMsgType.Prevote : SignedMsgType.Precommit, height, round, blockId: block, timestamp });
  const signature = key.sign(signBytes);
  if (kind === 'bad-signature') signature[0] ^= 0x01;
  return { kind, command: { chainId, pubKey: key.publicKey, record: { height, round, step, signBytes, signature } } };
}
