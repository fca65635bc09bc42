// The checker's own sign-bytes encoder against CometBFT's published vectors, and against the
// product's encoder on many generated votes and proposals: two independent implementations that
// agree are what lets the checker judge the product's signatures.

import { createHash } from 'node:crypto';
import { independentProposalSignBytes, independentVoteExtensionSignBytes, independentVoteSignBytes } from '../../src/chaos/canonical_sign_bytes';
import { BlockId, GO_ZERO_TIME, SignedMsgType } from '../../src/cometbft/messages';
import { proposalSignBytes, voteExtensionSignBytes, voteSignBytes } from '../../src/cometbft/sign_bytes';
import { SeededRandom } from '../../src/raft/rng';
import { VOTE_SIGN_BYTES_CASES } from '../privval/vectors_fixture';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('independent canonical sign bytes', () => {
  test.each(VOTE_SIGN_BYTES_CASES.map((c, i) => [i, c] as const))("CometBFT's vote vector %i", (_i, c) => {
    const vote = {
      type: c.vote.type ?? 0,
      height: BigInt(c.vote.height ?? 0),
      round: c.vote.round ?? 0,
      blockId: { hash: new Uint8Array(0), partSetHeader: { total: 0, hash: new Uint8Array(0) } },
      timestamp: GO_ZERO_TIME,
    };
    expect(hex(independentVoteSignBytes(c.chainId, vote))).toBe(c.signBytes);
  });

  test('agrees with the product on generated votes, proposals and extensions', () => {
    const random = new SeededRandom(5);
    const sha = (s: string): Uint8Array => createHash('sha256').update(s).digest();
    for (let i = 0; i < 500; i++) {
      const nil = random.chance(0.3);
      const blockId: BlockId = nil
        ? { hash: new Uint8Array(0), partSetHeader: { total: 0, hash: new Uint8Array(0) } }
        : { hash: sha(`b${i}`), partSetHeader: { total: random.between(1, 70000), hash: sha(`p${i}`) } };
      const height = random.chance(0.1) ? 0n : BigInt(random.between(1, 2 ** 30)) * BigInt(random.between(1, 1000));
      const round = random.chance(0.3) ? 0 : random.between(1, 1000);
      const timestamp = random.chance(0.1) ? GO_ZERO_TIME : { seconds: BigInt(random.between(0, 2 ** 31)), nanos: random.between(0, 999_999_999) };
      const chainId = random.chance(0.1) ? '' : `chain-${random.nextInt(100)}`;
      const type = random.chance(0.5) ? SignedMsgType.Prevote : SignedMsgType.Precommit;
      expect(hex(independentVoteSignBytes(chainId, { type, height, round, blockId, timestamp }))).toBe(hex(voteSignBytes(chainId, { type, height, round, blockId, timestamp })));
      const polRound = random.between(-1, round);
      expect(hex(independentProposalSignBytes(chainId, { height, round, polRound, blockId, timestamp }))).toBe(
        hex(proposalSignBytes(chainId, { height, round, polRound, blockId, timestamp })),
      );
      const extension = random.chance(0.5) ? new Uint8Array(0) : sha(`e${i}`);
      expect(hex(independentVoteExtensionSignBytes(chainId, { height, round, extension }))).toBe(hex(voteExtensionSignBytes(chainId, { height, round, extension })));
    }
  });
});
