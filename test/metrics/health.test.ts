// Liveness and readiness as a pure function of what a node knows: each check flips on its own
// cause, and says why in words.

import { defaultHealthThresholds, evaluateHealth, HealthInputs } from '../../src/metrics/health';
import { PrivvalDialerStatus } from '../../src/privval/privval_dialer';
import { RaftStatus, Role } from '../../src/raft/types';

const NOW = 1_700_000_000_000;
const T = defaultHealthThresholds(500); // contact window 1000 ms

function raft(overrides: Partial<RaftStatus> = {}): RaftStatus {
  return {
    id: 'node0',
    incarnation: '',
    incarnationMatches: true,
    role: Role.Follower,
    term: 3,
    vote: '',
    leader: 'node1',
    commitIndex: 50,
    appliedIndex: 50,
    lastIndex: 50,
    snapshotIndex: 0,
    confState: { voters: ['node0', 'node1', 'node2'], learners: [] },
    isLearner: false,
    progress: [],
    transferee: null,
    ...overrides,
  };
}

function dialer(connected: boolean): PrivvalDialerStatus {
  return {
    address: 'unix:///tmp/val0.sock',
    chainIds: ['c'],
    connected,
    since: new Date(NOW),
    reconnects: 0,
    dialAttempts: 1,
    remoteNodeId: null,
    lastError: connected ? null : 'connect ENOENT',
  };
}

function inputs(overrides: Partial<HealthInputs> = {}, heard: Record<string, number> = { node1: NOW - 100, node2: NOW - 100 }): HealthInputs {
  return {
    raft: raft(),
    appliedDurably: 50,
    failure: null,
    stopped: false,
    lastHeard: (peer) => heard[peer] ?? null,
    privval: [dialer(true)],
    now: NOW,
    ...overrides,
  };
}

const failing = (report: ReturnType<typeof evaluateHealth>): string[] => report.readyChecks.filter((c) => !c.ok).map((c) => c.name);

describe('evaluateHealth', () => {
  test('a follower in touch with its leader, caught up and connected is live and ready', () => {
    const r = evaluateHealth(inputs(), T);
    expect(r).toMatchObject({ live: true, ready: true });
    expect(r.readyChecks.find((c) => c.name === 'quorum')?.detail).toBe('following leader node1 in term 3');
  });

  test('a failed store makes the node neither live nor ready, and says what to do', () => {
    const r = evaluateHealth(inputs({ failure: new Error('writing a batch: EIO'), stopped: true }), T);
    expect(r.live).toBe(false);
    expect(r.ready).toBe(false);
    expect(r.liveChecks[0].detail).toMatch(/stopped after an error: writing a batch: EIO; .*restart it/);
  });

  test('a stopping node is not live', () => {
    expect(evaluateHealth(inputs({ stopped: true }), T).liveChecks[0]).toMatchObject({ ok: false, detail: 'stopping' });
  });

  test('no leader, or a leader not heard from within the window, is not ready but still live', () => {
    const none = evaluateHealth(inputs({ raft: raft({ leader: null }) }), T);
    expect(none).toMatchObject({ live: true, ready: false });
    expect(failing(none)).toEqual(['quorum']);
    const silent = evaluateHealth(inputs({}, { node1: NOW - 1500, node2: NOW }), T);
    expect(failing(silent)).toEqual(['quorum']);
    expect(silent.readyChecks.find((c) => c.name === 'quorum')?.detail).toBe('leader node1 not heard from for over 1000 ms');
  });

  test('a leader counts the voters it heard from recently, itself included', () => {
    const leader = raft({ role: Role.Leader, leader: 'node0' });
    expect(evaluateHealth(inputs({ raft: leader }, { node1: NOW - 10 }), T).ready).toBe(true);
    const alone = evaluateHealth(inputs({ raft: leader }, { node1: NOW - 5000 }), T);
    expect(failing(alone)).toEqual(['quorum']);
    expect(alone.readyChecks.find((c) => c.name === 'quorum')?.detail).toMatch(/in contact with only 1 of 3 voters \(a quorum is 2\)/);
    // A learner's messages do not make a quorum.
    const withLearner = raft({ role: Role.Leader, leader: 'node0', confState: { voters: ['node0', 'node1', 'node2'], learners: ['node3'] } });
    expect(evaluateHealth(inputs({ raft: withLearner }, { node3: NOW }), T).ready).toBe(false);
  });

  test('applied far behind commit is "catching up"', () => {
    const r = evaluateHealth(inputs({ raft: raft({ commitIndex: 500 }), appliedDurably: 50 }), T);
    expect(failing(r)).toEqual(['caught-up']);
    expect(r.readyChecks.find((c) => c.name === 'caught-up')?.detail).toBe('applied 50 of 500 committed (450 behind, more than 100)');
    expect(evaluateHealth(inputs({ raft: raft({ commitIndex: 120 }), appliedDurably: 50 }), T).ready).toBe(true);
  });

  test('a validator node not connected makes the node not ready; none configured is fine', () => {
    const r = evaluateHealth(inputs({ privval: [dialer(true), { ...dialer(false), address: 'tcp://10.0.0.1:26659' }] }), T);
    expect(failing(r)).toEqual(['privval']);
    expect(r.readyChecks.find((c) => c.name === 'privval')?.detail).toBe('not connected to tcp://10.0.0.1:26659 (connect ENOENT)');
    expect(evaluateHealth(inputs({ privval: [] }), T).ready).toBe(true);
  });

  test('a learner and a node not (yet) in the membership are live but not ready: they sign nothing', () => {
    const learner = evaluateHealth(
      inputs({ raft: raft({ id: 'node3', isLearner: true, confState: { voters: ['node0', 'node1', 'node2'], learners: ['node3'] } }) }),
      T,
    );
    expect(learner).toMatchObject({ live: true, ready: false });
    expect(learner.readyChecks.find((c) => c.name === 'voter')?.detail).toMatch(/a learner \(passive standby\).*cluster promote --id node3/);
    const joining = evaluateHealth(inputs({ raft: raft({ id: 'node3', confState: { voters: [], learners: [] } }) }), T);
    expect(failing(joining)).toEqual(['voter']);
  });
});
