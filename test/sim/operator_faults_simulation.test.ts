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
    expect(restored).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(restored / 2);
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
