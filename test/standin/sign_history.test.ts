// SignHistory on planted histories: verify() catches a bad signature (of the vote, of its
// extension, or on a record whose sign bytes were swapped), findConflicts() catches a double
// prevote and conflicting proposals across nodes, and lets timestamp-only differences pass.

import { ValidatorKey } from '../../src/keys/validator_key';
import { SignedMsgType, Vote, emptyBlockId } from '../../src/cometbft/messages';
import { proposalSignBytes, voteExtensionSignBytes, voteSignBytes } from '../../src/cometbft/sign_bytes';
import { SignHistory, findConflicts } from '../../src/standin/sign_history';
import { TS1, TS2, blockId, makeProposal, makeVote } from '../privval/privval_fixtures';

const CHAIN = 'history-chain';
const key = ValidatorKey.fromSeed(new Uint8Array(32).fill(3));
const otherKey = ValidatorKey.fromSeed(new Uint8Array(32).fill(4));

function signedVote(fields: Partial<Vote>, signer = key, chainId = CHAIN): Vote {
  const vote = makeVote(fields);
  const signed: Vote = { ...vote, signature: signer.sign(voteSignBytes(chainId, vote)) };
  if (vote.type === SignedMsgType.Precommit && vote.blockId.hash.length > 0) {
    signed.extensionSignature = signer.sign(voteExtensionSignBytes(chainId, vote));
  }
  return signed;
}

describe('verify()', () => {
  it('accepts correctly signed votes, precommits with extensions, and proposals', () => {
    const history = new SignHistory('node0');
    history.recordVote(CHAIN, key.publicKey, signedVote({ type: SignedMsgType.Prevote }));
    history.recordVote(CHAIN, key.publicKey, signedVote({ type: SignedMsgType.Precommit, extension: new Uint8Array([1, 2]) }));
    const proposal = makeProposal({ height: 11n });
    history.recordProposal(CHAIN, key.publicKey, { ...proposal, signature: key.sign(proposalSignBytes(CHAIN, proposal)) });
    expect(history.verify()).toEqual({ ok: true, checked: 3, failures: [] });
    expect(history.records.map((r) => r.step)).toEqual([2, 3, 1]);
    expect(history.records[0]!.source).toBe('node0');
  });

  it('fails a signature by another key', () => {
    const history = new SignHistory();
    history.recordVote(CHAIN, key.publicKey, signedVote({}, otherKey));
    const result = history.verify();
    expect(result.ok).toBe(false);
    expect(result.failures[0]!.problem).toMatch(/signature does not verify/);
  });

  it('fails a signature over other sign bytes (another chain id)', () => {
    const history = new SignHistory();
    history.recordVote(CHAIN, key.publicKey, signedVote({}, key, 'another-chain'));
    expect(history.verify().ok).toBe(false);
  });

  it('fails a flipped bit in a signature', () => {
    const history = new SignHistory();
    const vote = signedVote({});
    vote.signature[5] = (vote.signature[5] as number) ^ 1;
    history.recordVote(CHAIN, key.publicKey, vote);
    expect(history.verify().ok).toBe(false);
  });

  it('fails a bad extension signature, and one on a prevote', () => {
    const badExt = signedVote({ type: SignedMsgType.Precommit, extension: new Uint8Array([9]) });
    badExt.extensionSignature = key.sign(new Uint8Array([1]));
    const prevote = signedVote({ type: SignedMsgType.Prevote });
    prevote.extensionSignature = key.sign(voteExtensionSignBytes(CHAIN, prevote));
    const history = new SignHistory();
    history.recordVote(CHAIN, key.publicKey, badExt);
    history.recordVote(CHAIN, key.publicKey, prevote);
    const result = history.verify();
    expect(result.failures.map((f) => f.problem)).toEqual([
      expect.stringMatching(/extension signature does not verify/),
      expect.stringMatching(/extension signature on a prevote or nil precommit/),
    ]);
  });

  it('fails a record whose sign bytes are not those of its vote', () => {
    const history = new SignHistory();
    const record = history.recordVote(CHAIN, key.publicKey, signedVote({}));
    history.add({ ...record, signBytes: voteSignBytes(CHAIN, makeVote({ blockId: blockId(9) })) });
    const result = history.verify();
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]!.problem).toMatch(/not those of its vote/);
  });

  it('fails a record with no known public key', () => {
    const history = new SignHistory();
    history.recordVote(CHAIN, new Uint8Array(0), signedVote({}));
    expect(history.verify().failures[0]!.problem).toMatch(/no public key/);
  });

  it('keeps its own copy of what it records', () => {
    const history = new SignHistory();
    const vote = signedVote({});
    history.recordVote(CHAIN, key.publicKey, vote);
    vote.signature.fill(0);
    vote.blockId.hash.fill(0);
    expect(history.verify().ok).toBe(true);
  });
});

describe('findConflicts()', () => {
  it('finds a double prevote across two nodes', () => {
    const a = new SignHistory('node0');
    const b = new SignHistory('node1');
    a.recordVote(CHAIN, key.publicKey, signedVote({ blockId: blockId(1) }));
    b.recordVote(CHAIN, key.publicKey, signedVote({ blockId: blockId(2) }));
    const conflicts = findConflicts([a, b]);
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]).toEqual(
      expect.objectContaining({ chainId: CHAIN, height: 10n, round: 0, step: 2, differences: ['block id'] }),
    );
    expect(conflicts[0]!.first.source).toBe('node0');
    expect(conflicts[0]!.second.source).toBe('node1');
  });

  it('finds a prevote for a block and one for nil at the same HRS within one history', () => {
    const a = new SignHistory();
    a.recordVote(CHAIN, key.publicKey, signedVote({ blockId: blockId(1) }));
    a.recordVote(CHAIN, key.publicKey, signedVote({ blockId: emptyBlockId() }));
    expect(findConflicts([a])).toHaveLength(1);
  });

  it('lets votes that differ only by timestamp pass', () => {
    const a = new SignHistory('node0');
    const b = new SignHistory('node1');
    a.recordVote(CHAIN, key.publicKey, signedVote({ timestamp: TS1 }));
    b.recordVote(CHAIN, key.publicKey, signedVote({ timestamp: TS2 }));
    a.recordVote(CHAIN, key.publicKey, signedVote({ timestamp: TS1 }));
    expect(findConflicts([a, b])).toEqual([]);
  });

  it('finds conflicting proposals (another pol round)', () => {
    const a = new SignHistory();
    const b = new SignHistory();
    for (const [history, polRound] of [
      [a, -1],
      [b, 0],
    ] as const) {
      const proposal = makeProposal({ round: 1, polRound });
      history.recordProposal(CHAIN, key.publicKey, { ...proposal, signature: key.sign(proposalSignBytes(CHAIN, proposal)) });
    }
    const conflicts = findConflicts([a, b]);
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]!.step).toBe(1);
    expect(conflicts[0]!.differences).toEqual(['pol round']);
  });

  it('does not mix chains, keys, rounds or steps', () => {
    const a = new SignHistory();
    a.recordVote(CHAIN, key.publicKey, signedVote({ blockId: blockId(1) }));
    a.recordVote('other-chain', key.publicKey, signedVote({ blockId: blockId(2) }, key, 'other-chain'));
    a.recordVote(CHAIN, otherKey.publicKey, signedVote({ blockId: blockId(3) }, otherKey));
    a.recordVote(CHAIN, key.publicKey, signedVote({ blockId: blockId(4), round: 1 }));
    a.recordVote(CHAIN, key.publicKey, signedVote({ blockId: blockId(5), type: SignedMsgType.Precommit }));
    expect(findConflicts([a])).toEqual([]);
  });

  it('reports each pair of distinct votes once', () => {
    const a = new SignHistory();
    for (const fill of [1, 2, 3, 1]) a.recordVote(CHAIN, key.publicKey, signedVote({ blockId: blockId(fill) }));
    expect(findConflicts([a])).toHaveLength(3);
  });
});
