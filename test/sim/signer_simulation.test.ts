// The signer in the deterministic simulation: the real SignerStateMachine on every node, the sign
// path of sign_coordinator.ts, validator nodes that disagree and re-send, under crashes, pauses,
// partitions and lost writes. The correct path never releases two signatures for one vote, nor
// anything the log has not committed and the releasing node has not durably applied; each
// deliberately broken path is caught within a few seeds.

import { ProposalRefusedError } from '../../src/raft/errors';
import { Raft, RaftConfig, RaftPersistedState } from '../../src/raft/raft';
import { runSimulation, SimulationOptions, SimulationResult } from '../../src/sim/raft_simulation';

/** Commits everything but sign commands (which start with the format version's tag, 0x08): Raft stays live, signing does not. */
class NoSignEntriesRaft extends Raft {
  override propose(data: Uint8Array): { index: number; term: number } {
    if (data[0] === 0x08) throw new ProposalRefusedError('not-leader', 'this core refuses sign commands', null);
    return super.propose(data);
  }
}

function firstViolation(options: Omit<SimulationOptions, 'seed' | 'nodes'>, seeds: number): { seed: number; violation: string } | null {
  for (let seed = 1; seed <= seeds; seed++) {
    const r = runSimulation({ seed, nodes: seed % 2 ? 5 : 3, ...options });
    if (r.violations.length > 0) return { seed, violation: r.violations[0] };
  }
  return null;
}

describe('signer simulation', () => {
  test('200 seeds on 3 and 5 nodes under faults: no signer or Raft violation, and signing resumes after healing', () => {
    // `npm run sim -- --seeds N` runs many more.
    const seeds = 200;
    const failures: string[] = [];
    const sum = { requests: 0, signatures: 0, stored: 0, refusals: 0, conflicts: 0, regressions: 0, deadlines: 0, coalesced: 0, forwards: 0 };
    for (let seed = 1; seed <= seeds; seed++) {
      const nodes = seed % 2 ? 5 : 3;
      const r: SimulationResult = runSimulation({ seed, nodes });
      if (r.violations.length > 0) failures.push(`seed ${seed}: ${r.violations[0]} (replay: npm run sim -- --seed ${seed} --nodes ${nodes})`);
      sum.requests += r.signRequests;
      sum.signatures += r.signatures;
      sum.stored += r.storedTimestampSignatures;
      sum.refusals += r.refusals;
      sum.conflicts += r.refusalReasons['conflicting-data'] ?? 0;
      sum.regressions += (r.refusalReasons['height-regression'] ?? 0) + (r.refusalReasons['round-regression'] ?? 0) + (r.refusalReasons['step-regression'] ?? 0);
      sum.deadlines += r.refusalReasons.deadline ?? 0;
      sum.coalesced += r.coalesced;
      sum.forwards += r.forwards;
    }
    expect(failures).toEqual([]);
    // The runs exercised every rule: many signatures, conflicting requests refused, the same vote
    // with another timestamp answered with the stored one, regressions, identical requests
    // coalesced on the leader, requests forwarded, and deadlines under faults.
    expect(sum.signatures / seeds).toBeGreaterThan(50);
    expect(sum.conflicts / seeds).toBeGreaterThan(5);
    expect(sum.stored / seeds).toBeGreaterThan(10);
    expect(sum.regressions).toBeGreaterThan(0);
    expect(sum.coalesced).toBeGreaterThan(0);
    expect(sum.forwards / seeds).toBeGreaterThan(50);
    expect(sum.deadlines).toBeGreaterThan(0);
  });

  test('a seed replays exactly, signatures included', () => {
    const a = runSimulation({ seed: 11, nodes: 3 });
    expect(runSimulation({ seed: 11, nodes: 3 })).toEqual(a);
    expect(a.signatures).toBeGreaterThan(0);
  });

  test('it catches a leader that signs before the entry commits', () => {
    const found = firstViolation({ releaseBeforeCommit: true }, 10);
    expect(found?.violation).toMatch(/signer safety \(released outside the log\)/);
  });

  test('signing before commit really double-signs: the conflict check alone catches it', () => {
    const found = firstViolation({ releaseBeforeCommit: true, signerChecks: { committed: false, durable: false } }, 20);
    expect(found?.violation).toMatch(/signer safety \((double sign|two signatures for one vote)/);
    // And a conflicting vote, not only a second timestamp, within a few more seeds.
    let doubleSign: string | null = null;
    for (let seed = 1; seed <= 20 && doubleSign === null; seed++) {
      const r = runSimulation({ seed, nodes: seed % 2 ? 5 : 3, releaseBeforeCommit: true, signerChecks: { committed: false, durable: false } });
      if (r.violations[0]?.includes('(double sign)')) doubleSign = r.violations[0];
    }
    expect(doubleSign).toMatch(/double sign.*released (proposal|prevote|precommit) for (block \w+|nil).* and n\d released/);
  });

  test('it catches a node that releases the leader’s answer, or its in-memory record, before applying durably itself', () => {
    const found = firstViolation({ releaseWithoutApply: true }, 10);
    expect(found?.violation).toMatch(/signer safety \(released before applied\): n\d released .* decided at index \d+ while its disk held the state machine only up to index \d+/);
  });

  test('it reports signing that never resumes after the faults heal as a liveness violation', () => {
    const r = runSimulation({ seed: 7, nodes: 3, raftFactory: (c: RaftConfig, p?: RaftPersistedState) => new NoSignEntriesRaft(c, p) });
    expect(r.signatures).toBe(0);
    expect(r.violations).toEqual([expect.stringMatching(/^liveness: no sign request sent after every fault healed \(t=\d+ms\) was signed within \d+ms on sim-chain-0/)]);
  });
});
