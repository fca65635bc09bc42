// The deterministic simulation over many seeds, and proof that it catches broken cores and
// drivers: a checker that never fires proves nothing.

import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { Raft, RaftConfig, RaftPersistedState } from '../../src/raft/raft';
import { Message } from '../../src/raft/types';
import { runSimulation, SimulationOptions } from '../../src/sim/raft_simulation';
import { ObservedRaft } from '../../src/sim/observed_raft';
import type { Ready } from '../../src/raft/types';
import { figure8Cluster, holdUpNewTermEntry } from '../raft/cluster_harness';

function firstViolation(options: Omit<SimulationOptions, 'seed' | 'nodes'>, seeds: number): { seed: number; violation: string } | null {
  for (let seed = 1; seed <= seeds; seed++) {
    const r = runSimulation({ seed, nodes: seed % 2 ? 5 : 3, ...options });
    if (r.violations.length > 0) return { seed, violation: r.violations[0] };
  }
  return null;
}

/** Grants every vote its log check allows, forgetting it already voted this term. */
class DoubleVotingRaft extends Raft {
  protected override canGrantVote(m: Message): boolean {
    return this.raftLog.isUpToDate(m.index, m.logTerm);
  }
}

/** Commits whatever a majority holds, whatever its term (the figure 8 bug). */
class CountingCommitRaft extends Raft {
  protected override maybeCommit(): boolean {
    const candidate = this.quorumMatchIndex();
    if (candidate <= this.raftLog.commit) return false;
    this.raftLog.commitTo(candidate);
    this.onCommitAdvanced();
    return true;
  }
}

/** Never campaigns: the cluster can never elect a leader. */
class InertRaft extends Raft {
  override tick(): void {}
}

const factory = (C: typeof Raft) => (c: RaftConfig, p?: RaftPersistedState) => new C(c, p);

describe('deterministic simulation', () => {
  test.each([3, 5])('300 seeds on %i nodes under faults: no violation, and liveness after healing', (nodes) => {
    // The Raft core alone (its state machine applies, no validator node asks to sign), to keep
    // this fast; signer_simulation.test.ts runs the same faults with signing.
    const failures: string[] = [];
    let events = 0;
    let committed = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const r = runSimulation({ seed, nodes, signing: false });
      events += r.events;
      committed += r.committed;
      if (r.violations.length > 0) failures.push(`seed ${seed}: ${r.violations[0]} (replay: runSimulation({ seed: ${seed}, nodes: ${nodes}, signing: false }); the CLI always signs)`);
    }
    expect(failures).toEqual([]);
    // The runs really did something: thousands of events and commits per seed.
    expect(events / 300).toBeGreaterThan(3000);
    expect(committed / 300).toBeGreaterThan(50);
  });

  test('a seed replays exactly', () => {
    const a = runSimulation({ seed: 42, nodes: 5 });
    const b = runSimulation({ seed: 42, nodes: 5 });
    expect(b).toEqual(a);
    expect(runSimulation({ seed: 43, nodes: 5 }).events).not.toBe(a.events);
  });

  test('it catches a core that grants two votes in one term', () => {
    const found = firstViolation({ raftFactory: factory(DoubleVotingRaft) }, 50);
    expect(found?.violation).toMatch(/election safety: two leaders in term/);
  });

  test('it catches a driver that sends before persisting (a crash forgets an acknowledged entry)', () => {
    const found = firstViolation({ sendBeforePersist: true }, 200);
    expect(found?.violation).toMatch(/leader completeness|state machine safety|log matching|election safety|durability: committed index/);
  });

  test('it reports a cluster that never recovers as a liveness violation', () => {
    const r = runSimulation({ seed: 7, nodes: 3, raftFactory: factory(InertRaft) });
    expect(r.violations).toEqual([expect.stringMatching(/^liveness: no proposal committed/)]);
  });

  test('its checker catches an old-term entry committed by counting replicas (figure 8)', () => {
    const run = (C: typeof Raft): string[] => {
      const h = figure8Cluster(factory(C));
      holdUpNewTermEntry(h);
      h.campaign('s1');
      // s1 dies before its own-term entry spreads beyond s2; s2 is cut off, and s5, whose index 2
      // is from a later term than s1's, wins with s3 and s4 once their election timeouts pass.
      h.crash('s1');
      h.clearFilters();
      h.isolate('s1');
      h.isolate('s2');
      for (let i = 0; i < 80 && h.raft('s5').role !== 'leader'; i++) h.tickAll(1);
      expect(h.raft('s5').role).toBe('leader');
      h.tickAll(3);
      return h.checker.violations;
    };
    expect(run(Raft)).toEqual([]);
    const broken = run(CountingCommitRaft);
    expect(broken[0]).toMatch(/leader completeness: s5 leads term \d+ but has term 3 at committed index 2 \(committed term 2\)/);
  });
});

describe('what the core logs as an error', () => {
  test('is a violation: a node whose Ready fails stops, and the run says why', () => {
    let thrown = false;
    /** Throws once, on its first Ready of term 2 or later: the driver fail-stops that node. */
    class FailingRaft extends ObservedRaft {
      override ready(): Ready {
        if (!thrown && this.term >= 2) {
          thrown = true;
          throw new Error('an entry this version cannot apply');
        }
        return super.ready();
      }
    }
    const r = runSimulation({ seed: 3, nodes: 3, raftFactory: (c, p) => new FailingRaft(c, p) });
    expect(thrown).toBe(true);
    expect(r.violations[0]).toMatch(/internal error on n\d at t=\d+: node stopped after an error; the rest of the cluster goes on without it \{"error":"an entry this version cannot apply"\}/);
  });
});

describe('npm run sim', () => {
  const cli = path.join(__dirname, '../../dist/sim/cli.js');

  test('prints the summary line and the availability line, and exits 0 when every seed passes', () => {
    const out = execFileSync(process.execPath, [cli, '--seeds', '6', '--workers', '2'], { encoding: 'utf8' });
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^seeds=6 events=\d+ violations=0 time=[\d.]+s signatures=[1-9]\d* refusals=\d+$/);
    expect(lines[1]).toMatch(/^availability=(0\.\d+|1(\.0+)?) longest-stall=\d+ms \(seed \d+, [35] nodes, from t=\d+ms: .+\)$/);
  });

  test('prints the seed and the replay command of a broken sign path, and exits 1', () => {
    const r = spawnSync(process.execPath, [cli, '--seeds', '2', '--workers', '1', '--broken', 'release-before-commit'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^seeds=2 events=\d+ violations=2 /);
    expect(r.stdout).toMatch(/seed 1 \(5 nodes\): t=\d+ms: signer safety/);
    expect(r.stdout).toMatch(/replay: npm run sim -- --seed 1 --nodes 5 --broken release-before-commit/);
  });

  test('catches the core that counts answers from any store (--broken count-any-store), with the replay command', () => {
    const r = spawnSync(process.execPath, [cli, '--seeds', '2', '--workers', '1', '--broken', 'count-any-store'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^seeds=2 events=\d+ violations=2 /);
    expect(r.stdout).toMatch(/seed 1 \(5 nodes\): t=\d+ms: incarnations: n\d \(\S+, term \d+\) counted/);
    expect(r.stdout).toMatch(/replay: npm run sim -- --seed 1 --nodes 5 --broken count-any-store/);
  });

  test('refuses a node count it does not support', () => {
    const r = spawnSync(process.execPath, [cli, '--seeds', '1', '--nodes', '4'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--nodes must be 3 or 5/);
  });
});
