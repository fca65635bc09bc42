// CometBFT FilePV rules (privval/file.go CheckHRS, signVote, signProposal): every regression,
// the same-HRS cases for votes and proposals, conflicting data, damaged records, the
// defence-in-depth request check, and the vote-extension rule.

import { createHash } from 'node:crypto';

import { BlockId, GO_ZERO_TIME, Proposal, Timestamp, Vote, emptyBlockId, emptyVote } from '../../src/cometbft/messages';
import { proposalSignBytes, stepOf, voteSignBytes } from '../../src/cometbft/sign_bytes';
import {
  FilePvDecision,
  FilePvRequest,
  SlashingRecord,
  decideFilePv,
  voteExtensionRule,
} from '../../src/cometbft/filepv_rules';

const CHAIN = 'test-chain';
const sha256 = (s: string): Uint8Array => new Uint8Array(createHash('sha256').update(s).digest());
const T1: Timestamp = { seconds: 1_700_000_000n, nanos: 0 };
const T2: Timestamp = { seconds: 1_700_000_003n, nanos: 250_000_000 };
const SIG = new Uint8Array(64).fill(0xab);

function block(name: string): BlockId {
  return { hash: sha256(name), partSetHeader: { total: 1, hash: sha256(`${name}/parts`) } };
}

function vote(type: 1 | 2, height: bigint, round: number, blockId: BlockId, timestamp: Timestamp = T1): Vote {
  return { ...emptyVote(), type, height, round, blockId, timestamp };
}

function proposal(height: bigint, round: number, polRound: number, blockId: BlockId, timestamp: Timestamp = T1): Proposal {
  return { type: 32, height, round, polRound, blockId, timestamp, signature: new Uint8Array(0) };
}

function voteRequest(v: Vote, chainId = CHAIN): FilePvRequest {
  return { height: v.height, round: v.round, step: stepOf(v.type), signBytes: voteSignBytes(chainId, v) };
}

function proposalRequest(p: Proposal, chainId = CHAIN): FilePvRequest {
  return { height: p.height, round: p.round, step: 1, signBytes: proposalSignBytes(chainId, p) };
}

function recordOf(req: FilePvRequest, signature: Uint8Array = SIG): SlashingRecord {
  return { ...req, signBytes: req.signBytes.slice(), signature: signature.slice() };
}

function expectRefusal(decision: FilePvDecision, reason: string, message?: RegExp): void {
  expect(decision.kind).toBe('refuse');
  if (decision.kind !== 'refuse') return;
  expect(decision.reason).toBe(reason);
  if (message) expect(decision.message).toMatch(message);
}

describe('decideFilePv: nothing signed yet', () => {
  it('signs any valid request', () => {
    expect(decideFilePv(null, voteRequest(vote(1, 1n, 0, block('a'))))).toEqual({ kind: 'sign' });
    expect(decideFilePv(null, proposalRequest(proposal(1n, 0, -1, block('a'))))).toEqual({ kind: 'sign' });
  });
});

describe('decideFilePv: height, round, step ordering (CheckHRS)', () => {
  const last = recordOf(voteRequest(vote(1, 12n, 3, block('a')))); // prevote at 12/3, step 2

  it('signs a higher height, even with a lower round and step', () => {
    expect(decideFilePv(last, proposalRequest(proposal(13n, 0, -1, block('b'))))).toEqual({ kind: 'sign' });
  });

  it('signs a higher round at the same height, even with a lower step', () => {
    expect(decideFilePv(last, proposalRequest(proposal(12n, 4, -1, block('b'))))).toEqual({ kind: 'sign' });
  });

  it('signs a higher step at the same height and round', () => {
    expect(decideFilePv(last, voteRequest(vote(2, 12n, 3, block('a'))))).toEqual({ kind: 'sign' });
  });

  it('refuses a lower height: height regression', () => {
    const d = decideFilePv(last, voteRequest(vote(2, 10n, 9, block('a'))));
    expectRefusal(d, 'height-regression', /^height regression: got 10, last signed 12$/);
  });

  it('refuses a lower round at the same height: round regression', () => {
    const d = decideFilePv(last, voteRequest(vote(2, 12n, 2, block('a'))));
    expectRefusal(d, 'round-regression', /^round regression at height 12: got 2, last signed 3$/);
  });

  it('refuses a lower step at the same height and round: step regression', () => {
    const d = decideFilePv(last, proposalRequest(proposal(12n, 3, -1, block('a'))));
    expectRefusal(d, 'step-regression', /step regression at height 12 round 3: got proposal \(1\), last signed prevote \(2\)/);
    const afterPrecommit = recordOf(voteRequest(vote(2, 12n, 3, block('a'))));
    expectRefusal(decideFilePv(afterPrecommit, voteRequest(vote(1, 12n, 3, block('a')))), 'step-regression');
  });

  it('agrees with a lexicographic (height, round, step) comparison on a grid', () => {
    const steps = [1, 2, 3] as const;
    for (const lh of [4n, 5n]) {
      for (const lr of [0, 1]) {
        for (const ls of steps) {
          const lastReq = requestAt(lh, lr, ls, 'last');
          const rec = recordOf(lastReq);
          for (const h of [3n, 4n, 5n, 6n]) {
            for (const r of [0, 1, 2]) {
              for (const s of steps) {
                const d = decideFilePv(rec, requestAt(h, r, s, 'new'));
                const cmp = h !== lh ? (h > lh ? 1 : -1) : r !== lr ? Math.sign(r - lr) : Math.sign(s - ls);
                if (cmp > 0) expect(d).toEqual({ kind: 'sign' });
                else if (cmp < 0) {
                  const reason = h < lh ? 'height-regression' : r < lr ? 'round-regression' : 'step-regression';
                  expectRefusal(d, reason);
                } else expectRefusal(d, 'conflicting-data'); // same HRS, another block
              }
            }
          }
        }
      }
    }
  });
});

/** A request at (h, r, step) for a block named `name`. */
function requestAt(h: bigint, r: number, step: 1 | 2 | 3, name: string): FilePvRequest {
  if (step === 1) return proposalRequest(proposal(h, r, -1, block(name)));
  return voteRequest(vote(step === 2 ? 1 : 2, h, r, block(name)));
}

describe('decideFilePv: same height, round and step (votes)', () => {
  const signed = vote(2, 20n, 1, block('a'), T1);
  const last = recordOf(voteRequest(signed));

  it('identical sign bytes: the stored signature', () => {
    const d = decideFilePv(last, voteRequest(signed));
    expect(d).toEqual({ kind: 'same', signature: SIG });
  });

  it('only the timestamp differs: the stored signature with the stored timestamp', () => {
    const d = decideFilePv(last, voteRequest({ ...signed, timestamp: T2 }));
    expect(d).toEqual({ kind: 'same-but-timestamp', signature: SIG, timestamp: T1 });
  });

  it('the stored timestamp may be Go zero time', () => {
    const zero = vote(1, 20n, 2, block('a'), GO_ZERO_TIME);
    const d = decideFilePv(recordOf(voteRequest(zero)), voteRequest({ ...zero, timestamp: T2 }));
    expect(d).toEqual({ kind: 'same-but-timestamp', signature: SIG, timestamp: GO_ZERO_TIME });
  });

  it('another block id: conflicting data', () => {
    const d = decideFilePv(last, voteRequest({ ...signed, blockId: block('b') }));
    expectRefusal(d, 'conflicting-data', /conflicting data at height 20 round 1 step precommit: .*block id/);
  });

  it('another block id and another timestamp: conflicting data', () => {
    expectRefusal(decideFilePv(last, voteRequest({ ...signed, blockId: block('b'), timestamp: T2 })), 'conflicting-data');
  });

  it('nil after a block, and a block after nil: conflicting data', () => {
    expectRefusal(decideFilePv(last, voteRequest({ ...signed, blockId: emptyBlockId() })), 'conflicting-data', /block id/);
    const nilVote = vote(2, 21n, 0, emptyBlockId());
    const nilRecord = recordOf(voteRequest(nilVote));
    expectRefusal(decideFilePv(nilRecord, voteRequest({ ...nilVote, blockId: block('a') })), 'conflicting-data');
    expect(decideFilePv(nilRecord, voteRequest({ ...nilVote, timestamp: T2 }))).toEqual({
      kind: 'same-but-timestamp',
      signature: SIG,
      timestamp: T1,
    });
  });

  it('another part set header only: conflicting data', () => {
    const b = block('a');
    const other = { ...b, partSetHeader: { ...b.partSetHeader, total: 2 } };
    expectRefusal(decideFilePv(last, voteRequest({ ...signed, blockId: other })), 'conflicting-data');
  });

  it('another chain id: conflicting data', () => {
    expectRefusal(decideFilePv(last, voteRequest(signed, 'other-chain')), 'conflicting-data', /chain id/);
  });

  it('does not change its inputs', () => {
    const before = JSON.stringify(last, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    const d = decideFilePv(last, voteRequest({ ...signed, timestamp: T2 }));
    if (d.kind === 'same-but-timestamp') d.signature.fill(0);
    expect(JSON.stringify(last, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).toBe(before);
  });
});

describe('decideFilePv: same height, round and step (proposals)', () => {
  const signed = proposal(30n, 0, -1, block('p'), T1);
  const last = recordOf(proposalRequest(signed));

  it('identical: the stored signature', () => {
    expect(decideFilePv(last, proposalRequest(signed))).toEqual({ kind: 'same', signature: SIG });
  });

  it('only the timestamp differs: the stored signature with the stored timestamp', () => {
    expect(decideFilePv(last, proposalRequest({ ...signed, timestamp: T2 }))).toEqual({
      kind: 'same-but-timestamp',
      signature: SIG,
      timestamp: T1,
    });
  });

  it('another pol round: conflicting data', () => {
    expectRefusal(decideFilePv(last, proposalRequest({ ...signed, polRound: 0 })), 'conflicting-data', /pol round/);
  });

  it('another block id: conflicting data', () => {
    expectRefusal(decideFilePv(last, proposalRequest({ ...signed, blockId: block('q'), timestamp: T2 })), 'conflicting-data');
  });
});

describe('decideFilePv: damaged records and inconsistent requests are refused, never signed', () => {
  const signed = vote(1, 40n, 0, block('a'));
  const req = voteRequest({ ...signed, timestamp: T2 });

  it('a record without sign bytes at the same HRS ("no SignBytes found")', () => {
    const rec = { ...recordOf(voteRequest(signed)), signBytes: new Uint8Array(0) };
    expectRefusal(decideFilePv(rec, req), 'conflicting-data', /no sign bytes/);
  });

  it('a record with sign bytes but no signature', () => {
    const rec = recordOf(voteRequest(signed), new Uint8Array(0));
    expectRefusal(decideFilePv(rec, voteRequest(signed)), 'conflicting-data', /no signature/);
  });

  it('a record whose sign bytes do not parse', () => {
    const rec = { ...recordOf(voteRequest(signed)), signBytes: new Uint8Array([1, 2, 3]) };
    expectRefusal(decideFilePv(rec, req), 'conflicting-data', /cannot be parsed/);
  });

  it('a record whose sign bytes are of another kind', () => {
    const p = proposalSignBytes(CHAIN, proposal(40n, 0, -1, block('a')));
    const rec = { ...recordOf(voteRequest(signed)), signBytes: p };
    expectRefusal(decideFilePv(rec, req), 'conflicting-data');
  });

  it('a request whose sign bytes say another height, round or type', () => {
    const other = voteSignBytes(CHAIN, vote(1, 41n, 0, block('a')));
    expectRefusal(decideFilePv(null, { ...req, signBytes: other }), 'invalid-request', /sign bytes say height 41/);
    const otherRound = voteSignBytes(CHAIN, vote(1, 40n, 1, block('a')));
    expectRefusal(decideFilePv(null, { ...req, signBytes: otherRound }), 'invalid-request');
    expectRefusal(decideFilePv(null, { ...req, step: 3 }), 'invalid-request', /type 1/);
  });

  it('a request whose sign bytes are not canonical', () => {
    expectRefusal(decideFilePv(null, { ...req, signBytes: new Uint8Array([0]) }), 'invalid-request');
    const asVote = voteRequest(signed);
    expectRefusal(decideFilePv(null, { ...asVote, step: 1 }), 'invalid-request');
  });
});

describe('voteExtensionRule', () => {
  const ext = new Uint8Array([1, 2, 3]);
  const none = new Uint8Array(0);
  const b = block('a');

  it('a precommit for a block: sign the extension, even an empty one', () => {
    expect(voteExtensionRule({ type: 2, blockId: b, extension: ext }, false)).toEqual({ kind: 'sign-extension' });
    expect(voteExtensionRule({ type: 2, blockId: b, extension: none }, false)).toEqual({ kind: 'sign-extension' });
  });

  it('a prevote or nil precommit without extension: no extension signature', () => {
    expect(voteExtensionRule({ type: 1, blockId: b, extension: none }, false)).toEqual({ kind: 'no-extension-signature' });
    expect(voteExtensionRule({ type: 2, blockId: emptyBlockId(), extension: none }, false)).toEqual({
      kind: 'no-extension-signature',
    });
  });

  it('a prevote or nil precommit with an extension: refused', () => {
    const prevote = voteExtensionRule({ type: 1, blockId: b, extension: ext }, false);
    expect(prevote).toEqual({ kind: 'refuse', message: expect.stringMatching(/prevote/) as unknown as string });
    const nilPrecommit = voteExtensionRule({ type: 2, blockId: emptyBlockId(), extension: ext }, false);
    expect(nilPrecommit).toEqual({ kind: 'refuse', message: expect.stringMatching(/nil precommit/) as unknown as string });
  });

  it('skip_extension_signing (v1): nothing signed and nothing checked', () => {
    expect(voteExtensionRule({ type: 2, blockId: b, extension: ext }, true)).toEqual({ kind: 'no-extension-signature' });
    expect(voteExtensionRule({ type: 1, blockId: b, extension: ext }, true)).toEqual({ kind: 'no-extension-signature' });
  });
});
