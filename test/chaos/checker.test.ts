// The chaos checker judged on recorded histories with planted violations: a double prevote and a
// conflicting proposal are caught, a timestamp-only difference is not a violation, a forged or
// wrongly keyed signature is caught; and the liveness figures split heights by whether a healthy
// majority existed, find the longest gap and time each leader kill to the next signature.

import { createHash } from 'node:crypto';
import { checkLiveness, checkRun, checkSafety } from '../../src/chaos/checker';
import { ValidatorKey } from '../../src/keys/validator_key';
import { BlockId, Proposal, SignedMsgType, Timestamp, Vote, emptyVote } from '../../src/cometbft/messages';
import { proposalSignBytes, voteSignBytes } from '../../src/cometbft/sign_bytes';
import { HeightResult, RequestResult } from '../../src/standin/height_driver';
import { SignHistory } from '../../src/standin/sign_history';

const CHAIN = 'checker-chain';
const key = ValidatorKey.generate();
const chains = [{ chainId: CHAIN, pubKey: key.publicKey }];

function block(tag: string): BlockId {
  const h = (s: string): Uint8Array => createHash('sha256').update(s).digest();
  return { hash: h(tag), partSetHeader: { total: 1, hash: h(`${tag}/parts`) } };
}
const NIL: BlockId = { hash: new Uint8Array(0), partSetHeader: { total: 0, hash: new Uint8Array(0) } };

function ts(ms: number): Timestamp {
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

function vote(type: number, height: bigint, round: number, blockId: BlockId, timestampMs: number, signer: ValidatorKey = key): Vote {
  const v: Vote = { ...emptyVote(), type, height, round, blockId, timestamp: ts(timestampMs) };
  return { ...v, signature: signer.sign(voteSignBytes(CHAIN, v)) };
}

function proposal(height: bigint, round: number, blockId: BlockId, polRound = -1): Proposal {
  const p: Proposal = { type: SignedMsgType.Proposal, height, round, polRound, blockId, timestamp: ts(1_700_000_000_000), signature: new Uint8Array(0) };
  return { ...p, signature: key.sign(proposalSignBytes(CHAIN, p)) };
}

/** Two validator nodes' histories with an honest run of heights 1..3 in them. */
function honestHistories(): [SignHistory, SignHistory] {
  const a = new SignHistory('val0');
  const b = new SignHistory('val1');
  for (let h = 1n; h <= 3n; h++) {
    a.recordProposal(CHAIN, key.publicKey, proposal(h, 0, block(`b${h}`)));
    for (const [s, offset] of [[a, 0], [b, 7]] as const) {
      s.recordVote(CHAIN, key.publicKey, vote(SignedMsgType.Prevote, h, 0, block(`b${h}`), 1_700_000_000_000 + offset));
      s.recordVote(CHAIN, key.publicKey, vote(SignedMsgType.Precommit, h, 0, block(`b${h}`), 1_700_000_000_100 + offset));
    }
  }
  return [a, b];
}

describe('chaos checker: safety', () => {
  test('an honest history, with timestamp-only differences between nodes, has no violation', () => {
    const [a, b] = honestHistories();
    const verdict = checkSafety({ chains, histories: [a, b] });
    expect(verdict.conflicts).toEqual([]);
    expect(verdict.badSignatures).toEqual([]);
    expect(verdict.ok).toBe(true);
    expect(verdict.signaturesChecked).toBe(15);
  });

  test('a timestamp-only repeat of one precommit is fine', () => {
    const [a, b] = honestHistories();
    b.recordVote(CHAIN, key.publicKey, vote(SignedMsgType.Precommit, 3n, 0, block('b3'), 1_700_000_009_999));
    expect(checkSafety({ chains, histories: [a, b] }).ok).toBe(true);
  });

  test('a double prevote (block against nil at one height and round) is caught by both judges', () => {
    const [a, b] = honestHistories();
    b.recordVote(CHAIN, key.publicKey, vote(SignedMsgType.Prevote, 2n, 0, NIL, 1_700_000_000_050));
    const verdict = checkSafety({ chains, histories: [a, b] });
    expect(verdict.ok).toBe(false);
    expect(verdict.conflicts).toHaveLength(1);
    const c = verdict.conflicts[0];
    expect(c).toMatchObject({ chainId: CHAIN, height: '2', round: 0, step: 'prevote', differences: ['block id'] });
    expect(c?.foundBy.sort()).toEqual(['fields', 'sign-bytes']);
    expect([c?.first.block, c?.second.block]).toContain('nil');
  });

  test('votes at different rounds of one height are not a conflict', () => {
    const [a, b] = honestHistories();
    b.recordVote(CHAIN, key.publicKey, vote(SignedMsgType.Prevote, 2n, 1, NIL, 1_700_000_000_050));
    expect(checkSafety({ chains, histories: [a, b] }).ok).toBe(true);
  });

  test('a conflicting proposal (another block, or another POL round) is caught', () => {
    const [a, b] = honestHistories();
    b.recordProposal(CHAIN, key.publicKey, proposal(1n, 0, block('another')));
    const verdict = checkSafety({ chains, histories: [a, b] });
    expect(verdict.conflicts).toHaveLength(1);
    expect(verdict.conflicts[0]).toMatchObject({ height: '1', step: 'proposal', differences: ['block id'] });

    const [c, d] = honestHistories();
    d.recordProposal(CHAIN, key.publicKey, proposal(3n, 0, block('b3'), 0));
    const pol = checkSafety({ chains, histories: [c, d] });
    expect(pol.conflicts).toHaveLength(1);
    expect(pol.conflicts[0]?.differences).toContain('pol round');
  });

  test('a signature by another key, or over other bytes, is a violation', () => {
    const [a, b] = honestHistories();
    const other = ValidatorKey.generate();
    b.recordVote(CHAIN, key.publicKey, vote(SignedMsgType.Prevote, 4n, 0, block('b4'), 1_700_000_000_000, other));
    const forged = vote(SignedMsgType.Precommit, 4n, 0, block('b4'), 1_700_000_000_000);
    b.recordVote(CHAIN, key.publicKey, { ...forged, blockId: block('not what was signed') });
    const verdict = checkSafety({ chains, histories: [a, b] });
    expect(verdict.ok).toBe(false);
    expect(verdict.conflicts).toEqual([]);
    expect(verdict.badSignatures.map((p) => p.step)).toEqual(['prevote', 'precommit']);
    expect(verdict.badSignatures[0]?.problem).toMatch(/does not verify/);
  });

  test('a record claiming another key than the chain has is a violation', () => {
    const [a] = honestHistories();
    const other = ValidatorKey.generate();
    const h = new SignHistory('val2');
    h.recordVote(CHAIN, other.publicKey, vote(SignedMsgType.Prevote, 5n, 0, block('b5'), 1_700_000_000_000, other));
    const verdict = checkSafety({ chains, histories: [a, h] });
    expect(verdict.badSignatures).toHaveLength(1);
    expect(verdict.badSignatures[0]?.problem).toMatch(/key/);
  });
});

function height(h: number, startedAt: number, finishedAt: number, outcomes: Partial<Record<RequestResult['step'], RequestResult['outcome']>>): HeightResult {
  const requests: RequestResult[] = (['proposal', 'prevote', 'precommit'] as const).map((step) => ({
    standin: 'val0',
    step,
    choice: 'block',
    outcome: outcomes[step] ?? 'signed',
    startedAt,
    latencyMs: 1,
  }));
  return {
    chainId: CHAIN,
    height: BigInt(h),
    startedAt,
    finishedAt,
    requests,
    fullySigned: requests.every((r) => r.outcome === 'signed'),
  };
}

describe('chaos checker: liveness', () => {
  test('splits heights by healthy majority, finds the longest gap and times leader kills', () => {
    const t0 = 1_000_000;
    const heights = [
      height(1, t0, t0 + 100, {}),
      height(2, t0 + 1000, t0 + 1100, { proposal: 'error' }),
      height(3, t0 + 2000, t0 + 2100, { prevote: 'refused', precommit: 'error' }),
      height(4, t0 + 3000, t0 + 3100, {}),
      height(5, t0 + 9000, t0 + 9100, {}),
    ];
    // Signatures received at these times (recordVote stamps "now": restamp them).
    const scratch = new SignHistory('val0');
    const timed = new SignHistory('val0');
    for (const at of [t0 + 100, t0 + 1100, t0 + 3100, t0 + 9100]) {
      timed.add({ ...scratch.recordVote(CHAIN, key.publicKey, vote(SignedMsgType.Prevote, BigInt(at), 0, NIL, at)), recordedAt: at });
    }

    const liveness = checkLiveness({
      histories: [timed],
      heights,
      unhealthy: [{ from: t0 + 1900, to: t0 + 2500 }],
      // Height 2's proposer (val0, served by node0) was cut off: its missed proposal is excused.
      cutOff: [{ node: 'node0', from: t0 + 900, to: t0 + 1200 }],
      standinNodes: { val0: 'node0' },
      leaderKills: [{ at: t0 + 1050, node: 'node1' }, { at: t0 + 9500, node: 'node2' }],
      startedAt: t0,
      endedAt: t0 + 10_000,
    });
    expect(liveness.all).toMatchObject({ attempted: 5, fullySigned: 3, voted: 4, served: 4 });
    expect(liveness.withMajority).toMatchObject({ attempted: 4, fullySigned: 3, voted: 4, served: 4, fullySignedPct: 75, servedPct: 100 });
    expect(liveness.withoutMajority).toMatchObject({ attempted: 1, fullySigned: 0, voted: 0, served: 0 });
    expect(liveness.longestGap).toMatchObject({ ms: 6000, from: t0 + 3100, to: t0 + 9100 });
    expect(liveness.leaderKills.map((k) => k.nextSignatureMs)).toEqual([50, null]);
    expect(liveness.failedHeights.map((h) => [h.height, h.withMajority, h.proposerCutOff])).toEqual([
      ['2', true, true],
      ['3', false, false],
    ]);
    expect(liveness.failedHeights[1]?.reasons).toHaveLength(2);
  });

  test('checkRun puts both verdicts together', () => {
    const [a, b] = honestHistories();
    const verdict = checkRun({ chains, histories: [a, b], heights: [], unhealthy: [], leaderKills: [], startedAt: 0, endedAt: 1 });
    expect(verdict.safety.ok).toBe(true);
    expect(verdict.liveness.all.attempted).toBe(0);
    expect(verdict.liveness.all.fullySignedPct).toBeNull();
  });
});
