// The simulator's operator faults beyond lost stores: data directories put back from an older
// copy of themselves (refused at start by the store high-water check, then rejoined on a new
// store), and state imports, valid and crafted, proposed while everything else fails.

import { runSimulation, SimulationOptions } from '../../src/sim/raft_simulation';

const nodesFor = (seed: number): 3 | 5 => (seed % 2 === 0 ? 3 : 5);

function runs(options: Omit<SimulationOptions, 'seed' | 'nodes'>, seeds: number): ReturnType<typeof runSimulation>[] {
  return Array.from({ length: seeds }, (_, i) => runSimulation({ seed: i + 1, nodes: nodesFor(i + 1), ...options }));
}

describe('data directories put back from an older copy', () => {
  test('are refused by the high-water check, rejoined on a new store, and the real core stays safe and live', () => {
    const results = runs({ restoreChance: 0.5 }, 30);
    const failures = results.filter((r) => r.violations.length > 0).map((r) => `seed ${r.seed}: ${r.violations[0]}`);
    expect(failures).toEqual([]);
    const restored = results.reduce((a, r) => a + r.restoredData, 0);
    const refused = results.reduce((a, r) => a + r.restoresRefused, 0);
    // The rest were copies no different from the store (an idle or paused node), which start.
    expect(restored).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(5);
  });

  test('without the check (the node starts on what it forgot), the simulation catches a broken Raft safety property', () => {
    let caught: string | null = null;
    for (let seed = 1; seed <= 60 && caught === null; seed++) {
      const r = runSimulation({ seed, nodes: nodesFor(seed), restoreChance: 0.5, highWaterCheck: false });
      if (r.violations.length > 0) caught = r.violations[0];
    }
    expect(caught).toMatch(/election safety|leader completeness|log matching|state machine safety|durability|signer safety/);
  });
});

describe('state imports', () => {
  test('valid ones raise watermarks or are ignored, crafted ones never reach the log, and every node applies them alike', () => {
    const results = runs({}, 30);
    const failures = results.filter((r) => r.violations.length > 0).map((r) => `seed ${r.seed}: ${r.violations[0]}`);
    expect(failures).toEqual([]);
    const sum = (k: keyof ReturnType<typeof runSimulation>['imports']): number => results.reduce((a, r) => a + r.imports[k], 0);
    expect(sum('proposed')).toBeGreaterThan(30);
    expect(sum('imported')).toBeGreaterThan(5);
    expect(sum('ignored')).toBeGreaterThan(0);
    expect(sum('refusedAtEntry')).toBeGreaterThan(0);
    expect(sum('refused')).toBe(0);
  });
});

describe('founders started with different member lists', () => {
  test('all refuse to found (the production comparison), the operator fixes the lists, and the cluster is safe and live', () => {
    const results = Array.from({ length: 10 }, (_, i) => runSimulation({ seed: i + 1, nodes: 5, foundingMismatch: true }));
    expect(results.filter((r) => r.violations.length > 0).map((r) => `seed ${r.seed}: ${r.violations[0]}`)).toEqual([]);
    for (const r of results) expect(r.foundingRefusals).toBe(5);
    expect(results.reduce((a, r) => a + r.signatures, 0)).toBeGreaterThan(100);
  });

  test('without the comparison, two clusters found on one key: their logs differ from index 1, and two signatures leave for one vote', () => {
    const broken = runSimulation({ seed: 1, nodes: 5, foundingMismatch: true, foundingCheck: false });
    expect(broken.violations[0]).toMatch(/state machine safety: n\d applied .* at index 1, where .* was applied before/);
    let released: string | null = null;
    for (let seed = 1; seed <= 10 && released === null; seed++) {
      const r = runSimulation({
        seed,
        nodes: 5,
        foundingMismatch: true,
        foundingCheck: false,
        raftChecks: false,
        signerChecks: { committed: false, durable: false, agreement: false },
      });
      if (r.violations.length > 0) released = r.violations[0];
    }
    expect(released).toMatch(/signer safety \((double sign|two signatures for one vote)/);
  });
});
