// The signer checker itself: it must flag every release the one rule forbids and nothing FilePV
// allows.

import { ValidatorKey } from '../../src/keys/validator_key';
import { BlockId, SignedMsgType } from '../../src/cometbft/messages';
import { voteSignBytes } from '../../src/cometbft/sign_bytes';
import { ReleasedSignature, SignerInvariantChecker, withTimestamp } from '../../src/sim/signer_invariants';
import { SignRequest } from '../../src/cometbft/sign_types';
import type { ImportStateCommand } from '../../src/signer/signer_codec';

const key = ValidatorKey.fromSeed(Buffer.alloc(32, 7));
const chainId = 'test-chain';
const block = (tag: number): BlockId => ({ hash: Buffer.alloc(32, tag), partSetHeader: { total: 1, hash: Buffer.alloc(32, tag + 1) } });
const NIL: BlockId = { hash: new Uint8Array(0), partSetHeader: { total: 0, hash: new Uint8Array(0) } };

function prevote(height: bigint, blockId: BlockId, seconds = 100n): SignRequest {
  const signBytes = voteSignBytes(chainId, { type: SignedMsgType.Prevote, height, round: 0, blockId, timestamp: { seconds, nanos: 0 } });
  return { chainId, pubKey: key.publicKey, height, round: 0, step: 2, signBytes };
}

function released(req: SignRequest, over: Partial<ReleasedSignature> = {}): ReleasedSignature {
  return {
    chainId: req.chainId,
    pubKey: req.pubKey,
    height: req.height,
    round: req.round,
    step: req.step,
    requestBytes: req.signBytes,
    signedBytes: req.signBytes,
    signature: key.sign(req.signBytes),
    storedTimestamp: false,
    node: 'n0',
    durableApplied: 100,
    ...over,
  };
}

function checker(): SignerInvariantChecker {
  return new SignerInvariantChecker(() => 0);
}

function imported(req: SignRequest, signature = key.sign(req.signBytes)): ImportStateCommand {
  return { chainId: req.chainId, pubKey: req.pubKey, record: { height: req.height, round: req.round, step: req.step, signBytes: req.signBytes, signature } };
}

describe('SignerInvariantChecker: imported states', () => {
  test('a valid import raises the watermark: its signature may be released, what conflicts with it is refused by every node', () => {
    const c = checker();
    const old = prevote(5n, block(1));
    const conflicting = prevote(5n, block(2));
    c.onCommitted(1, [], [imported(old)]);
    c.onDecided('n0', 1, [], ['imported']);
    c.onCommitted(2, [conflicting]);
    c.onDecided('n0', 2, ['refused']);
    c.onReleased(released(old, { durableApplied: 2 }));
    expect(c.violations).toEqual([]);
  });

  test('a node that applies an import otherwise than the rules say is flagged', () => {
    const c = checker();
    const a = prevote(5n, block(1));
    c.onCommitted(1, [], [imported(a), imported(prevote(4n, block(3))), imported(a, new Uint8Array(64))]);
    c.onDecided('n0', 1, [], ['imported', 'ignored', 'refused']);
    expect(c.violations).toEqual([]);
    c.onDecided('n1', 1, [], ['imported', 'imported', 'refused']);
    expect(c.violations).toEqual([expect.stringMatching(/signer agreement: n1 applied import 1 of index 1 as imported where the rules say ignored/)]);
  });

  test('a signature whose only record is an import that was refused is released outside the log', () => {
    const c = checker();
    const a = prevote(5n, block(1));
    const forged = new Uint8Array(key.sign(a.signBytes));
    forged[0] ^= 1;
    c.onCommitted(1, [], [imported(a, forged)]);
    c.onReleased(released(a, { durableApplied: 1 }));
    expect(c.violations).toEqual([expect.stringMatching(/released outside the log/)]);
  });

  test('a request at the HRS of an import without sign bytes is refused by the rules', () => {
    const c = checker();
    const a = prevote(5n, block(1));
    c.onCommitted(1, [], [{ chainId, pubKey: key.publicKey, record: { height: 5n, round: 0, step: 2, signBytes: new Uint8Array(0), signature: new Uint8Array(0) } }]);
    c.onCommitted(2, [a]);
    c.onDecided('n0', 2, ['refused']);
    c.onDecided('n1', 2, ['signed']);
    expect(c.violations).toEqual([expect.stringMatching(/signer agreement: n1 decided request 0 of index 2 as signed where the FilePV rules say refused/)]);
  });
});

describe('SignerInvariantChecker', () => {
  test('a committed, accepted request released by a node that applied it is fine, as often as asked', () => {
    const c = checker();
    const a = prevote(5n, block(1));
    c.onCommitted(1, []);
    c.onCommitted(2, [a]);
    c.onReleased(released(a, { durableApplied: 2 }));
    c.onReleased(released(a, { node: 'n1', durableApplied: 7 }));
    expect(c.violations).toEqual([]);
    expect(c.released).toBe(2);
  });

  test('the stored signature with the stored timestamp for a vote asked again with another timestamp is fine', () => {
    const c = checker();
    const a = prevote(5n, block(1), 100n);
    const later = prevote(5n, block(1), 104n);
    c.onCommitted(1, [a, later]);
    c.onReleased(released(a, { durableApplied: 1 }));
    const stored = withTimestamp(later.signBytes, 2, { seconds: 100n, nanos: 0 });
    expect(Buffer.from(stored).equals(Buffer.from(a.signBytes))).toBe(true);
    c.onReleased(released(later, { signedBytes: stored, signature: key.sign(stored), storedTimestamp: true, durableApplied: 1 }));
    expect(c.violations).toEqual([]);
  });

  test('two conflicting votes at one HRS is a double sign, even if each was "committed"', () => {
    const c = checker();
    const a = prevote(5n, block(1));
    const nil = prevote(5n, NIL);
    c.onCommitted(1, [a]);
    c.onReleased(released(a, { durableApplied: 1 }));
    c.onReleased(released(nil, { node: 'n2', durableApplied: 1 }));
    expect(c.violations[0]).toMatch(/signer safety \(double sign\): at chain test-chain key \w+ 5\/0\/2 n0 released prevote for block 01010101 .* and n2 released prevote for nil/);
  });

  test('a second signature of the same vote with another timestamp is flagged: FilePV answers the stored one', () => {
    const c = checker();
    const a = prevote(5n, block(1), 100n);
    const later = prevote(5n, block(1), 104n);
    c.onCommitted(1, [a, later]);
    c.onReleased(released(a, { durableApplied: 1 }));
    c.onReleased(released(later, { durableApplied: 1 }));
    expect(c.violations.some((v) => /two signatures for one vote: FilePV answers the stored one/.test(v))).toBe(true);
  });

  test('a signature that does not verify is flagged', () => {
    const c = checker();
    const a = prevote(5n, block(1));
    c.onCommitted(1, [a]);
    const bad = key.sign(a.signBytes);
    bad[0] ^= 1;
    c.onReleased(released(a, { signature: bad, durableApplied: 1 }));
    expect(c.violations[0]).toMatch(/signer safety \(bad signature\)/);
  });

  test('a release that no committed entry decided is flagged: not yet committed, or refused by the rules', () => {
    const notYet = checker();
    const a = prevote(5n, block(1));
    notYet.onReleased(released(a));
    expect(notYet.violations[0]).toMatch(/released outside the log\): n0 released prevote for block 01010101 .* no committed entry up to index 0/);

    // Committed, but after a conflicting request at the same HRS: the rules refused it.
    const refused = checker();
    const b = prevote(5n, block(2));
    refused.onCommitted(1, [a, b]);
    refused.onReleased(released(b, { durableApplied: 1 }));
    expect(refused.violations[0]).toMatch(/released outside the log/);

    // Committed below the watermark: a regression, refused.
    const regression = checker();
    const old = prevote(4n, block(3));
    regression.onCommitted(1, [a, old]);
    regression.onReleased(released(old, { durableApplied: 1 }));
    expect(regression.violations[0]).toMatch(/released outside the log/);
  });

  test('a release by a node whose disk has not applied the deciding entry is flagged', () => {
    const c = checker();
    const a = prevote(5n, block(1));
    c.onCommitted(1, []);
    c.onCommitted(2, []);
    c.onCommitted(3, [a]);
    c.onReleased(released(a, { node: 'n4', durableApplied: 2 }));
    expect(c.violations[0]).toMatch(/released before applied\): n4 released chain test-chain key \w+ 5\/0\/2 decided at index 3 while its disk held the state machine only up to index 2/);
  });

  test('an answer over other bytes than the request is flagged', () => {
    const c = checker();
    const a = prevote(5n, block(1));
    const b = prevote(6n, block(1));
    c.onCommitted(1, [a, b]);
    c.onReleased(released(a, { signedBytes: b.signBytes, signature: key.sign(b.signBytes), durableApplied: 1 }));
    expect(c.violations[0]).toMatch(/bad answer/);
  });

  test('a release by a node the membership names with another store is flagged', () => {
    const c = checker();
    const a = prevote(5n, block(1));
    c.onCommitted(1, [a]);
    c.onReleased(released(a, { durableApplied: 1, foreignStore: false }));
    expect(c.violations).toEqual([]);
    c.onReleased(released(a, { node: 'n2', durableApplied: 1, foreignStore: true }));
    expect(c.violations[0]).toMatch(/released from a store the membership does not name\): n2 released prevote for block \w+ .* for chain test-chain key \w+ 5\/0\/2/);
  });

  test('checks can be turned off one by one, to show what the others catch alone', () => {
    const c = new SignerInvariantChecker(() => 0, { committed: false, durable: false });
    const a = prevote(5n, block(1));
    c.onReleased(released(a, { durableApplied: 0 }));
    expect(c.violations).toEqual([]);
  });
});

describe('SignerInvariantChecker agreement', () => {
  test('each node must decide each committed request as the FilePV rules do', () => {
    const c = checker();
    const a = prevote(5n, block(1), 100n);
    const later = prevote(5n, block(1), 104n);
    const nil = prevote(5n, NIL);
    const old = prevote(4n, block(1));
    c.onCommitted(1, [a, a, later, nil, old]);
    c.onDecided('n0', 1, ['signed', 'signed', 'signed-with-stored-timestamp', 'refused', 'refused']);
    expect(c.violations).toEqual([]);
    c.onDecided('n1', 1, ['signed', 'signed', 'signed-with-stored-timestamp', 'signed', 'refused']);
    expect(c.violations[0]).toMatch(/signer agreement: n1 decided request 3 of index 1 as signed where the FilePV rules say refused/);
  });
});
