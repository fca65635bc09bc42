// Availability over time (src/standin/availability.ts) as the simulator reports it; the pure
// computation's hand-computed cases are in test/standin/availability.test.ts.

import { Raft, RaftConfig, RaftPersistedState } from '../../src/raft/raft';
import { runSimulation } from '../../src/sim/raft_simulation';

/** Never campaigns: no leader, no signature. */
class InertRaft extends Raft {
  override tick(): void {}
}

describe('in the simulator', () => {
  test('without faults, the longest stall is the first election, with no fault named', () => {
    // chaosMs 1: every fault heals before the nemesis' first turn.
    const a = runSimulation({ seed: 4, nodes: 3, chaosMs: 1 }).availability;
    expect(a.slots).toBeGreaterThan(10);
    expect(a.ratio).toBeGreaterThan(0.8);
    expect(a.longestStallAt).toBe(0);
    expect(a.longestStallMs).toBeGreaterThan(0);
    expect(a.longestStallMs).toBeLessThan(600);
    expect(a.longestStallCause).toMatch(/^no fault active/);
  });

  test('a cluster that never elects: healthy slots, none served, the stall names faults', () => {
    const a = runSimulation({ seed: 7, nodes: 3, raftFactory: (c: RaftConfig, p?: RaftPersistedState) => new InertRaft(c, p) }).availability;
    expect(a.slots).toBeGreaterThan(0);
    expect(a.servedSlots).toBe(0);
    expect(a.ratio).toBe(0);
    expect(a.longestStallMs).toBeGreaterThan(1000);
    expect(a.longestStallCause).not.toBe('');
  });

  test('without signing nothing is owed', () => {
    expect(runSimulation({ seed: 2, nodes: 3, signing: false }).availability).toEqual({
      slots: 0,
      servedSlots: 0,
      ratio: 1,
      longestStallMs: 0,
      longestStallAt: 0,
      longestStallCause: '',
    });
  });
});
