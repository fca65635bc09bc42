// Members named with their store, in the simulation. Stores are lost as operators lose them: a
// voter's disk, a second disk of a node rejoined before, a home put back from a copy taken before
// its first start; the node comes back on a new store without being removed, and the operator
// does the learner procedure (remove, add-learner under the new store, promote once caught up)
// soon, late, in a wrong order, or never. The real core counts no vote, pre-vote or
// acknowledgement from a store the membership does not name; a core that does (CountsAnyStoreRaft,
// what the core did before incarnations) is caught: by the check on what was counted, and with that
// check off by its consequences, up to a double sign.

import { RaftConfig, RaftPersistedState } from '../../src/raft/raft';
import { MessageType, Role } from '../../src/raft/types';
import { AnswerObserver, CountedAnswer, CountsAnyStoreRaft, ObservedRaft } from '../../src/sim/observed_raft';
import { runSimulation, SimulationOptions } from '../../src/sim/raft_simulation';
import { ClusterHarness } from '../raft/cluster_harness';

const nodesFor = (seed: number): number => (seed % 2 ? 5 : 3);

/** The first seed in [1, seeds] whose first violation matches `pattern`, and that violation. */
function firstCaught(options: Omit<SimulationOptions, 'seed' | 'nodes'>, seeds: number, pattern: RegExp): { seed: number; violation: string } | null {
  for (let seed = 1; seed <= seeds; seed++) {
    const r = runSimulation({ seed, nodes: nodesFor(seed), ...options });
    if (r.violations.length > 0 && pattern.test(r.violations[0])) return { seed, violation: r.violations[0] };
  }
  return null;
}

/** The violations of the real core on seeds 1..seeds with `options`, one line per failing seed. */
function fixedCoreFailures(options: Omit<SimulationOptions, 'seed' | 'nodes'>, seeds: number): string[] {
  const failures: string[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const r = runSimulation({ seed, nodes: nodesFor(seed), ...options });
    if (r.violations.length > 0) failures.push(`seed ${seed}: ${r.violations[0]}`);
  }
  return failures;
}

describe('observing which answers a core counts', () => {
  /** c lags; a and b commit x1; b's disk is lost (new store); a crashes; c campaigns. */
  function lostDisk(C: typeof ObservedRaft): { h: ClusterHarness; counted: CountedAnswer[]; ignored: number } {
    const counted: CountedAnswer[] = [];
    let ignored = 0;
    const observer: AnswerObserver = { counted: (a) => counted.push(a), ignored: () => ignored++ };
    const h = new ClusterHarness(['a', 'b', 'c'], {}, (c: RaftConfig, p?: RaftPersistedState) => {
      const r = new C(c, p);
      r.observer = observer;
      return r;
    }, true);
    h.campaign('a');
    h.tickAll(2);
    h.isolate('c');
    h.propose('a', 'x1');
    h.wipe('b');
    h.crash('a');
    h.clearFilters();
    h.campaign('c');
    return { h, counted, ignored };
  }

  test("the real core: the new store's pre-vote reaches c and changes nothing; every answer counted came from the store named", () => {
    const { h, counted, ignored } = lostDisk(ObservedRaft);
    expect(h.raft('c').role).not.toBe(Role.Leader);
    expect(ignored).toBeGreaterThan(0);
    expect(counted.length).toBeGreaterThan(0); // a's election, and a's commit of x1 with b's old store
    for (const a of counted) expect(a.senderIncarnation).toBe(a.namedIncarnation);
  });

  test("a core that counts any store: c's tally took the new store's pre-vote and vote, and c leads without x1", () => {
    const { h, counted } = lostDisk(CountsAnyStoreRaft);
    expect(h.raft('c').role).toBe(Role.Leader);
    const foreign = counted.filter((a) => a.senderIncarnation !== a.namedIncarnation);
    expect(foreign.slice(0, 2).map((a) => [a.receiver, a.from, a.type, a.effect])).toEqual([
      ['c', 'b', MessageType.PreVoteResponse, 'tally'],
      ['c', 'b', MessageType.VoteResponse, 'tally'],
    ]);
    expect(foreign[0].namedIncarnation).not.toBe('');
    // Then, as leader, it counts the new store's acknowledgements.
    expect(foreign.slice(2).every((a) => a.type === MessageType.AppendResponse && a.effect === 'match')).toBe(true);
  });
});

describe('simulation with lost and replaced stores', () => {
  test('stores are lost and rejoined, the rule is exercised, and the real core passes with no violation', () => {
    let lost = 0;
    let rejoined = 0;
    let ignored = 0;
    let foreignRefusals = 0;
    const failures: string[] = [];
    for (let seed = 1; seed <= 60; seed++) {
      const r = runSimulation({ seed, nodes: nodesFor(seed) });
      lost += r.storesLost;
      rejoined += r.rejoined;
      ignored += r.ignoredAnswers;
      foreignRefusals += r.foreignStoreRefusals;
      if (r.violations.length > 0) failures.push(`seed ${seed}: ${r.violations[0]}`);
    }
    expect(failures).toEqual([]);
    // Every seed loses a store or two; most are rejoined within the run (the rest: never,
    // or lost again, or still on their way); the leaders and candidates ignored thousands of
    // answers from unnamed stores (about 47 a seed on average with the production driver), and
    // such nodes refused sign requests rather than signing.
    expect(lost / 60).toBeGreaterThan(0.8);
    expect(rejoined / 60).toBeGreaterThan(0.5);
    expect(ignored / 60).toBeGreaterThan(30);
    expect(foreignRefusals).toBeGreaterThan(0);
  });

  test('without the store faults no store is lost and no answer ignored: those counters are not positive by construction', () => {
    const r = runSimulation({ seed: 3, nodes: 5, storeFaults: false });
    expect(r.violations).toEqual([]);
    expect(r.storesLost).toBe(0);
    expect(r.ignoredAnswers).toBe(0);
  });

  test('a core that counts any store is caught by the incarnation check on most seeds, and the real core passes the same seeds', () => {
    const found = firstCaught({ countAnyStore: true }, 300, /./);
    expect(found?.violation).toMatch(/incarnations: n\d \((leader|candidate|pre-candidate), term \d+\) counted an? (vote|pre-vote|append acknowledgement|heartbeat answer) .*from n\d's store n\d#\d+ where its configuration names n\d#\d+/);
    let caught = 0;
    for (let seed = 1; seed <= 20; seed++) {
      if (/incarnations: /.test(runSimulation({ seed, nodes: nodesFor(seed), countAnyStore: true }).violations[0] ?? '')) caught++;
    }
    expect(caught).toBeGreaterThanOrEqual(10);
    expect(fixedCoreFailures({}, 20)).toEqual([]);
  });

  test('with that check off, it is caught by Raft safety: a leader without a committed entry, or two leaders in a term', () => {
    const found = firstCaught({ countAnyStore: true, incarnationCheck: false }, 300, /./);
    expect(found?.violation).toMatch(/leader completeness|election safety|state machine safety|durability/);
    expect(fixedCoreFailures({ incarnationCheck: false }, found?.seed ?? 300)).toEqual([]);
  });

  test('with only the signer checks on, it is caught by what the signers do: nodes decide one index differently, or release what the log never decided', () => {
    const found = firstCaught({ countAnyStore: true, incarnationCheck: false, raftChecks: false }, 300, /./);
    expect(found?.violation).toMatch(/signer (agreement|safety \((released outside the log|double sign|two signatures for one vote))/);
    expect(fixedCoreFailures({}, found?.seed ?? 300)).toEqual([]);
  });

  test('and it really double-signs: with stores lost recklessly and only the conflict check on, two conflicting votes leave the cluster', () => {
    // Stores lost even in the middle of a membership change or of a majority: the real core may
    // then stop (no liveness is asked), but must stay safe.
    const signerOnly: Omit<SimulationOptions, 'seed' | 'nodes'> = {
      recklessStoreFaults: true,
      incarnationCheck: false,
      raftChecks: false,
      // Two answers that differ only by the timestamp also break check (a); off, so that the
      // search goes on to conflicting content.
      signerChecks: { committed: false, durable: false, agreement: false, timestampOnly: false },
    };
    // A few hundred seeds (seed 362 with the current driver and fault model).
    const found = firstCaught({ countAnyStore: true, ...signerOnly }, 500, /signer safety \(double sign\)/);
    expect(found?.violation).toMatch(/double sign\): at chain sim-chain-\d key \w+ \d+\/\d+\/\d n\d released (proposal|prevote|precommit) for (block \w+|nil) .* and n\d released (proposal|prevote|precommit) for (block \w+|nil)/);
    // The real core on the same seeds and faults, with every safety check on.
    expect(fixedCoreFailures({ recklessStoreFaults: true }, 150)).toEqual([]);
  });
});
