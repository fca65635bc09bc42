// The Prometheus metrics of one node, in a Registry of its own (never prom-client's global one), so
// that tests and tools can run several nodes in one process without their series colliding.
//
// Two kinds of series:
//  - pushed: counted where they happen, by hooks node_process.ts wires from outside the modules it
//    measures (sign outcomes from the coordinator, the driver's persist timed around the storage
//    call, privval request events from the dialers' observer, leader changes from the driver's
//    role listener). Each costs one counter or histogram update on the hot path, nothing more;
//  - pulled: read from the node at scrape time (Raft status, peer links, privval connections,
//    health), so they cost nothing between scrapes.
// Names follow Prometheus conventions: a `raftsigner_` prefix, base units (seconds), `_total` on
// counters. docs/operations.md lists them with what to alert on.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PrivvalDialerStatus } from '../privval/privval_dialer';
import type { PrivvalRequestEvent } from '../privval/privval_session';
import { RaftStatus, Role } from '../raft/types';
import type { SignOutcome } from '../cometbft/sign_types';
import type { PeerStatus } from '../transport/raft_transport';
import type { HealthReport } from './health';

/** What the pulled series read from the running node. */
export interface NodeMetricsSources {
  raft(): RaftStatus;
  /** The highest index whose effects are durable here (RaftNode.appliedDurably). */
  appliedDurably(): number;
  peers(): PeerStatus[];
  privval(): PrivvalDialerStatus[];
  health(): HealthReport;
}

export interface NodeMetricsOptions {
  nodeId: string;
  version?: string;
  /**
   * Also export Node.js process metrics (CPU, memory, event loop lag, GC). They install process-wide
   * monitors that cannot be removed again, so only a node that owns its process (`raft-signer
   * start`) should ask for them; tests running several nodes in one process leave them out.
   */
  processMetrics?: boolean;
}

/** The roles a node reports; a pre-candidate counts as a candidate, as in `status`. */
export const METRIC_ROLES = ['leader', 'follower', 'candidate', 'learner'] as const;
export type MetricRole = (typeof METRIC_ROLES)[number];

export function metricRoleOf(status: Pick<RaftStatus, 'role' | 'isLearner'>): MetricRole {
  if (status.isLearner) return 'learner';
  switch (status.role) {
    case Role.Leader:
      return 'leader';
    case Role.Follower:
      return 'follower';
    default:
      return 'candidate';
  }
}

/** The `result` label of a sign outcome. */
export type SignResult = 'signed' | 'signed-stored-timestamp' | 'refused';

export function signResultOf(outcome: SignOutcome): SignResult {
  if (outcome.kind === 'signed') return 'signed';
  if (outcome.kind === 'signed-with-stored-timestamp') return 'signed-stored-timestamp';
  return 'refused';
}

// Sign latency: a fast-path answer takes well under a millisecond, a committed one a few
// milliseconds on one site and tens across sites; the deadline is a few seconds.
const SIGN_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
// One fsynced LevelDB batch: a fraction of a millisecond on NVMe, tens of milliseconds on a busy disk.
const PERSIST_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const APPLY_BUCKETS = [0.00001, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1];

export class NodeMetrics {
  readonly registry = new Registry();
  private sources: NodeMetricsSources | null = null;
  /** The last leader seen and its term: a re-election of the same node in a new term counts too. */
  private lastLeader: { id: string; term: number } | null = null;

  private readonly leaderChanges: Counter<string>;
  private readonly persistSeconds: Histogram<'fsync'>;
  private readonly persistedEntries: Counter<string>;
  private readonly applySeconds: Histogram<string>;
  private readonly signRequests: Counter<'chain' | 'result'>;
  private readonly signRefusals: Counter<'chain' | 'reason'>;
  private readonly signSeconds: Histogram<'chain' | 'result'>;
  private readonly privvalRequests: Counter<'chain' | 'kind' | 'outcome'>;
  private readonly privvalSeconds: Histogram<'kind'>;

  constructor(options: NodeMetricsOptions) {
    const registers = [this.registry];
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });

    new Gauge({
      name: 'raftsigner_node_info',
      help: 'Always 1; labels name the node and the raft-signer version.',
      labelNames: ['node', 'version'],
      registers,
    }).set({ node: options.nodeId, version: options.version ?? 'unknown' }, 1);

    // Raft, pulled.
    this.pulledGauge('raftsigner_raft_role', 'The role of this node: 1 for the current one (leader, follower, candidate, learner), 0 for the others.', ['role'], (g, s) => {
      const role = metricRoleOf(s.raft());
      for (const r of METRIC_ROLES) g.set({ role: r }, r === role ? 1 : 0);
    });
    this.pulledGauge('raftsigner_raft_leader_known', 'Whether this node knows a leader (1) or not (0).', [], (g, s) => g.set(s.raft().leader === null ? 0 : 1));
    this.pulledGauge('raftsigner_raft_term', 'The current Raft term.', [], (g, s) => g.set(s.raft().term));
    this.pulledGauge('raftsigner_raft_commit_index', 'The highest log index this node knows to be committed.', [], (g, s) => g.set(s.raft().commitIndex));
    this.pulledGauge(
      'raftsigner_raft_applied_index',
      'The highest log index applied here with its effects (slashing records) on disk.',
      [],
      (g, s) => g.set(s.appliedDurably()),
    );
    this.pulledGauge('raftsigner_raft_last_index', 'The last index of the log on this node.', [], (g, s) => g.set(s.raft().lastIndex));
    this.pulledGauge('raftsigner_raft_snapshot_index', 'The index of the latest snapshot (the log is compacted up to it).', [], (g, s) =>
      g.set(s.raft().snapshotIndex),
    );
    this.pulledGauge('raftsigner_raft_members', 'Members of the cluster as this node knows them, by kind (voter, learner).', ['kind'], (g, s) => {
      const cs = s.raft().confState;
      g.set({ kind: 'voter' }, cs.voters.length);
      g.set({ kind: 'learner' }, cs.learners.length);
    });
    this.pulledGauge(
      'raftsigner_raft_follower_match_index',
      'Leader only: the highest index each follower is known to hold (a learner catching up shows here).',
      ['peer'],
      (g, s) => {
        g.reset();
        for (const p of s.raft().progress) g.set({ peer: p.id }, p.match);
      },
    );
    this.pulledGauge('raftsigner_raft_peer_connected', 'Whether the Raft stream to each peer is open (1) or not (0).', ['peer'], (g, s) => {
      g.reset();
      for (const p of s.peers()) g.set({ peer: p.id }, p.connected ? 1 : 0);
    });
    this.mirroredCounter('raftsigner_raft_peer_messages_sent_total', 'Raft messages handed to the stream of each peer.', ['peer'], (s) =>
      s.peers().map((p) => ({ labels: { peer: p.id }, value: p.sentMessages })),
    );
    this.mirroredCounter(
      'raftsigner_raft_peer_messages_dropped_total',
      'Raft messages dropped before reaching the stream of each peer (queue full, peer down); Raft resends.',
      ['peer'],
      (s) => s.peers().map((p) => ({ labels: { peer: p.id }, value: p.droppedMessages })),
    );

    // Raft, pushed.
    this.leaderChanges = new Counter({
      name: 'raftsigner_raft_leader_changes_total',
      help: 'Times this node saw a new leader (elections and transfers); frequent changes mean an unstable cluster.',
      registers,
    });
    this.persistSeconds = new Histogram({
      name: 'raftsigner_raft_persist_seconds',
      help: 'Time to write one batch of the driver (log entries, hard state, slashing records) to disk; fsync="true" when synced.',
      labelNames: ['fsync'],
      buckets: PERSIST_BUCKETS,
      registers,
    });
    this.persistedEntries = new Counter({
      name: 'raftsigner_raft_persisted_entries_total',
      help: 'Log entries appended to this node\'s disk.',
      registers,
    });
    this.applySeconds = new Histogram({
      name: 'raftsigner_raft_apply_seconds',
      help: 'Time to apply one batch of committed entries to the signer state machine.',
      buckets: APPLY_BUCKETS,
      registers,
    });

    // Signing, pushed.
    this.signRequests = new Counter({
      name: 'raftsigner_sign_requests_total',
      help: 'Sign requests (votes and proposals) answered by this node, by chain and result (signed, signed-stored-timestamp, refused).',
      labelNames: ['chain', 'result'],
      registers,
    });
    this.signRefusals = new Counter({
      name: 'raftsigner_sign_refusals_total',
      help:
        'Sign requests refused, by chain and reason: height-/round-/step-regression and conflicting-data (double-sign ' +
        'protection), deadline (no quorum in time), no-leader, node-stopped, not-a-voter, ...',
      labelNames: ['chain', 'reason'],
      registers,
    });
    this.signSeconds = new Histogram({
      name: 'raftsigner_sign_duration_seconds',
      help: 'Time from a sign request reaching the sign path to its answer, by chain and result.',
      labelNames: ['chain', 'result'],
      buckets: SIGN_BUCKETS,
      registers,
    });

    // Privval.
    this.pulledGauge('raftsigner_privval_connected', 'Whether the connection to each validator node is up (1) or not (0).', ['address'], (g, s) => {
      g.reset();
      for (const d of s.privval()) g.set({ address: d.address }, d.connected ? 1 : 0);
    });
    this.mirroredCounter('raftsigner_privval_reconnects_total', 'Connections to each validator node opened after the first one.', ['address'], (s) =>
      s.privval().map((d) => ({ labels: { address: d.address }, value: d.reconnects })),
    );
    this.mirroredCounter(
      'raftsigner_privval_dial_attempts_total',
      'Attempts to connect to each validator node, successful or not.',
      ['address'],
      (s) => s.privval().map((d) => ({ labels: { address: d.address }, value: d.dialAttempts })),
    );
    this.privvalRequests = new Counter({
      name: 'raftsigner_privval_requests_total',
      help: 'Requests from validator nodes, by chain, kind (pubKey, ping, signVote, signProposal, signBytes) and outcome.',
      labelNames: ['chain', 'kind', 'outcome'],
      registers,
    });
    this.privvalSeconds = new Histogram({
      name: 'raftsigner_privval_request_duration_seconds',
      help: 'Time from a privval request arriving to its response written, by kind.',
      labelNames: ['kind'],
      buckets: SIGN_BUCKETS,
      registers,
    });

    // Health, pulled: the same checks as /healthz and /readyz.
    this.pulledGauge('raftsigner_healthy', 'Whether the node runs and its store is fine (1), as /healthz.', [], (g, s) => g.set(s.health().live ? 1 : 0));
    this.pulledGauge('raftsigner_ready', 'Whether the node can sign now (1): in a quorum, caught up, privval connected, as /readyz.', [], (g, s) =>
      g.set(s.health().ready ? 1 : 0),
    );
  }

  /**
   * Connects the pulled series to the running node. Until then a labelled one is absent and an
   * unlabelled one reads 0, so bind before anything is served (node_process.ts does).
   */
  bind(sources: NodeMetricsSources): void {
    this.sources = sources;
    const status = sources.raft();
    this.lastLeader = status.leader === null ? null : { id: status.leader, term: status.term };
  }

  /** The exposition text, for GET /metrics. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  observeSign(chainId: string, outcome: SignOutcome, seconds: number): void {
    const result = signResultOf(outcome);
    this.signRequests.inc({ chain: chainId, result });
    this.signSeconds.observe({ chain: chainId, result }, seconds);
    if (outcome.kind === 'refused') this.signRefusals.inc({ chain: chainId, reason: outcome.reason });
  }

  observePersist(seconds: number, fsync: boolean, entries: number): void {
    this.persistSeconds.observe({ fsync: fsync ? 'true' : 'false' }, seconds);
    if (entries > 0) this.persistedEntries.inc(entries);
  }

  observeApply(seconds: number): void {
    this.applySeconds.observe(seconds);
  }

  /**
   * From the driver's role listener: counts each new (leader, term), not the leaderless gaps
   * between them, so one election counts once however long it took.
   */
  observeLeader(leader: string | null, term: number): void {
    if (leader === null) return;
    if (this.lastLeader === null || this.lastLeader.id !== leader || this.lastLeader.term !== term) this.leaderChanges.inc();
    this.lastLeader = { id: leader, term };
  }

  observePrivvalRequest(event: PrivvalRequestEvent): void {
    this.privvalRequests.inc({ chain: event.chainId, kind: event.kind, outcome: event.outcome });
    this.privvalSeconds.observe({ kind: event.kind }, event.latencyMs / 1000);
  }

  private pulledGauge<L extends string>(
    name: string,
    help: string,
    labelNames: L[],
    fill: (gauge: Gauge<L>, sources: NodeMetricsSources) => void,
  ): void {
    const metrics = this;
    new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect(this: Gauge<L>): void {
        if (metrics.sources) fill(this, metrics.sources);
      },
    });
  }

  /**
   * A counter that follows a cumulative count kept elsewhere (the transport's and the dialers'
   * own counters): each scrape adds what the count grew by. A count that went down was restarted
   * (a peer link re-created on an address change), so all of it is new.
   */
  private mirroredCounter<L extends string>(
    name: string,
    help: string,
    labelNames: L[],
    read: (sources: NodeMetricsSources) => { labels: Record<L, string>; value: number }[],
  ): void {
    const metrics = this;
    const last = new Map<string, number>();
    new Counter<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect(this: Counter<L>): void {
        if (!metrics.sources) return;
        for (const { labels, value } of read(metrics.sources)) {
          const key = JSON.stringify(labels);
          const previous = last.get(key) ?? 0;
          const delta = value >= previous ? value - previous : value;
          last.set(key, value);
          // inc with 0 still makes the series appear, so a peer with no traffic yet shows 0.
          this.inc(labels as Partial<Record<L, string | number>>, delta);
        }
      },
    });
  }
}
