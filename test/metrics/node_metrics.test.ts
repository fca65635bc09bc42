// The node's metrics registry on its own: series names and values from fake sources, pushed
// observations, counters that mirror the transport's and dialers' cumulative counts, and two
// nodes' registries side by side in one process.

import { register as globalRegistry } from 'prom-client';
import { HealthReport } from '../../src/metrics/health';
import { metricRoleOf, NodeMetrics, NodeMetricsSources, signResultOf } from '../../src/metrics/node_metrics';
import { PrivvalDialerStatus } from '../../src/privval/privval_dialer';
import { ProgressState, RaftStatus, Role } from '../../src/raft/types';
import { PeerStatus } from '../../src/transport/raft_transport';

function raft(overrides: Partial<RaftStatus> = {}): RaftStatus {
  return {
    id: 'node0',
    incarnation: '',
    incarnationMatches: true,
    role: Role.Leader,
    term: 7,
    vote: 'node0',
    leader: 'node0',
    commitIndex: 42,
    appliedIndex: 42,
    lastIndex: 43,
    snapshotIndex: 10,
    confState: { voters: ['node0', 'node1', 'node2'], learners: ['node3'] },
    isLearner: false,
    progress: [
      { id: 'node1', isLearner: false, match: 42, next: 44, state: ProgressState.Replicate, recentActive: true },
      { id: 'node3', isLearner: true, match: 30, next: 31, state: ProgressState.Probe, recentActive: true },
    ],
    transferee: null,
    ...overrides,
  };
}

function peer(id: string, sent: number, dropped = 0, connected = true): PeerStatus {
  return {
    id,
    address: `127.0.0.1:1${id.slice(-1)}`,
    connected,
    lastError: null,
    lastErrorAt: null,
    consecutiveFailures: 0,
    queuedMessages: 0,
    queuedBytes: 0,
    sentMessages: sent,
    droppedMessages: dropped,
  };
}

function dialer(address: string, connected: boolean, reconnects: number): PrivvalDialerStatus {
  return { address, chainIds: ['c1'], connected, since: new Date(), reconnects, dialAttempts: reconnects + 1, remoteNodeId: null, lastError: null };
}

const healthy: HealthReport = { live: true, ready: false, liveChecks: [], readyChecks: [] };

/** The value of one series in the exposition text, or undefined when it is absent. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('NodeMetrics', () => {
  let status: RaftStatus;
  let peers: PeerStatus[];
  let dialers: PrivvalDialerStatus[];
  let metrics: NodeMetrics;

  beforeEach(() => {
    status = raft();
    peers = [peer('node1', 10), peer('node2', 5, 2, false)];
    dialers = [dialer('unix:///tmp/v.sock', true, 0)];
    metrics = new NodeMetrics({ nodeId: 'node0', version: '9.9.9' });
    const sources: NodeMetricsSources = {
      raft: () => status,
      appliedDurably: () => 41,
      peers: () => peers,
      privval: () => dialers,
      health: () => healthy,
    };
    metrics.bind(sources);
  });

  test('Raft state, peers, privval and health are read at scrape time', async () => {
    const text = await metrics.metrics();
    expect(value(text, 'raftsigner_node_info{node="node0",version="9.9.9"}')).toBe(1);
    expect(value(text, 'raftsigner_raft_role{role="leader"}')).toBe(1);
    expect(value(text, 'raftsigner_raft_role{role="follower"}')).toBe(0);
    expect(value(text, 'raftsigner_raft_leader_known')).toBe(1);
    expect(value(text, 'raftsigner_raft_term')).toBe(7);
    expect(value(text, 'raftsigner_raft_commit_index')).toBe(42);
    expect(value(text, 'raftsigner_raft_applied_index')).toBe(41);
    expect(value(text, 'raftsigner_raft_last_index')).toBe(43);
    expect(value(text, 'raftsigner_raft_snapshot_index')).toBe(10);
    expect(value(text, 'raftsigner_raft_members{kind="voter"}')).toBe(3);
    expect(value(text, 'raftsigner_raft_members{kind="learner"}')).toBe(1);
    expect(value(text, 'raftsigner_raft_follower_match_index{peer="node3"}')).toBe(30);
    expect(value(text, 'raftsigner_raft_peer_connected{peer="node2"}')).toBe(0);
    expect(value(text, 'raftsigner_raft_peer_messages_sent_total{peer="node1"}')).toBe(10);
    expect(value(text, 'raftsigner_raft_peer_messages_dropped_total{peer="node2"}')).toBe(2);
    expect(value(text, 'raftsigner_privval_connected{address="unix:///tmp/v.sock"}')).toBe(1);
    expect(value(text, 'raftsigner_privval_reconnects_total{address="unix:///tmp/v.sock"}')).toBe(0);
    expect(value(text, 'raftsigner_healthy')).toBe(1);
    expect(value(text, 'raftsigner_ready')).toBe(0);
    // Process metrics only when asked for.
    expect(text).not.toMatch(/process_cpu_seconds_total/);
  });

  test('series follow the node: role changes, a follower has no follower rows, counters only grow', async () => {
    await metrics.metrics();
    status = raft({ role: Role.Follower, leader: 'node1', progress: [] });
    peers = [peer('node1', 25), peer('node2', 3, 2)]; // node2's link was re-created: its count restarted
    dialers = [dialer('unix:///tmp/v.sock', false, 2)];
    const text = await metrics.metrics();
    expect(value(text, 'raftsigner_raft_role{role="follower"}')).toBe(1);
    expect(value(text, 'raftsigner_raft_role{role="leader"}')).toBe(0);
    expect(text).not.toMatch(/raftsigner_raft_follower_match_index\{/);
    expect(value(text, 'raftsigner_raft_peer_messages_sent_total{peer="node1"}')).toBe(25);
    expect(value(text, 'raftsigner_raft_peer_messages_sent_total{peer="node2"}')).toBe(8);
    expect(value(text, 'raftsigner_privval_connected{address="unix:///tmp/v.sock"}')).toBe(0);
    expect(value(text, 'raftsigner_privval_reconnects_total{address="unix:///tmp/v.sock"}')).toBe(2);
    status = raft({ isLearner: true, role: Role.Follower });
    expect(value(await metrics.metrics(), 'raftsigner_raft_role{role="learner"}')).toBe(1);
  });

  test('sign outcomes count by chain and result, refusals by reason, with latency', async () => {
    metrics.observeSign('c1', { kind: 'signed', signature: new Uint8Array(64) }, 0.004);
    metrics.observeSign('c1', { kind: 'signed-with-stored-timestamp', signature: new Uint8Array(64), timestamp: { seconds: 1n, nanos: 0 } }, 0.0002);
    metrics.observeSign('c1', { kind: 'refused', reason: 'height-regression', message: 'below' }, 0.0001);
    metrics.observeSign('c2', { kind: 'refused', reason: 'deadline', message: 'no quorum' }, 3);
    metrics.observeSign('c2', { kind: 'refused', reason: 'not-a-voter', message: 'a learner' }, 0.00001);
    const text = await metrics.metrics();
    expect(value(text, 'raftsigner_sign_requests_total{chain="c1",result="signed"}')).toBe(1);
    expect(value(text, 'raftsigner_sign_requests_total{chain="c1",result="signed-stored-timestamp"}')).toBe(1);
    expect(value(text, 'raftsigner_sign_requests_total{chain="c1",result="refused"}')).toBe(1);
    expect(value(text, 'raftsigner_sign_requests_total{chain="c2",result="refused"}')).toBe(2);
    expect(value(text, 'raftsigner_sign_refusals_total{chain="c1",reason="height-regression"}')).toBe(1);
    expect(value(text, 'raftsigner_sign_refusals_total{chain="c2",reason="deadline"}')).toBe(1);
    expect(value(text, 'raftsigner_sign_refusals_total{chain="c2",reason="not-a-voter"}')).toBe(1);
    expect(value(text, 'raftsigner_sign_duration_seconds_count{chain="c1",result="signed"}')).toBe(1);
    expect(value(text, 'raftsigner_sign_duration_seconds_bucket{le="0.005",chain="c1",result="signed"}')).toBe(1);
    expect(value(text, 'raftsigner_sign_duration_seconds_bucket{le="2.5",chain="c2",result="refused"}')).toBe(1);
  });

  test('persist, apply, privval requests and leader changes', async () => {
    metrics.observePersist(0.002, true, 3);
    metrics.observePersist(0.0001, false, 0);
    metrics.observeApply(0.00005);
    metrics.observePrivvalRequest({ kind: 'signVote', chainId: 'c1', outcome: 'signed', latencyMs: 3 });
    metrics.observePrivvalRequest({ kind: 'ping', chainId: '', outcome: 'answered', latencyMs: 0.1 });
    // bind() saw node0 leading in term 7: the same again is no change; a new term or leader is.
    metrics.observeLeader('node0', 7);
    metrics.observeLeader(null, 8);
    metrics.observeLeader('node1', 8);
    metrics.observeLeader('node1', 9);
    const text = await metrics.metrics();
    expect(value(text, 'raftsigner_raft_persist_seconds_count{fsync="true"}')).toBe(1);
    expect(value(text, 'raftsigner_raft_persist_seconds_count{fsync="false"}')).toBe(1);
    expect(value(text, 'raftsigner_raft_persisted_entries_total')).toBe(3);
    expect(value(text, 'raftsigner_raft_apply_seconds_count')).toBe(1);
    expect(value(text, 'raftsigner_privval_requests_total{chain="c1",kind="signVote",outcome="signed"}')).toBe(1);
    expect(value(text, 'raftsigner_privval_request_duration_seconds_count{kind="ping"}')).toBe(1);
    expect(value(text, 'raftsigner_raft_leader_changes_total')).toBe(2);
  });

  test('each node has its own registry: two in one process do not collide, and the global one stays empty', async () => {
    const other = new NodeMetrics({ nodeId: 'node1' });
    other.observeSign('c1', { kind: 'signed', signature: new Uint8Array(64) }, 0.001);
    metrics.observeSign('c1', { kind: 'signed', signature: new Uint8Array(64) }, 0.001);
    metrics.observeSign('c1', { kind: 'signed', signature: new Uint8Array(64) }, 0.001);
    expect(value(await other.metrics(), 'raftsigner_sign_requests_total{chain="c1",result="signed"}')).toBe(1);
    expect(value(await metrics.metrics(), 'raftsigner_sign_requests_total{chain="c1",result="signed"}')).toBe(2);
    expect(globalRegistry.getMetricsAsArray().filter((m) => m.name.startsWith('raftsigner_'))).toEqual([]);
  });

  test('labels', () => {
    expect(metricRoleOf({ role: Role.PreCandidate, isLearner: false })).toBe('candidate');
    expect(metricRoleOf({ role: Role.Follower, isLearner: true })).toBe('learner');
    expect(signResultOf({ kind: 'refused', reason: 'deadline', message: '' })).toBe('refused');
  });
});
