// One run of the demo: a fresh local cluster of real `raft-signer start` processes (a testnet in
// a temporary directory), one validator-node stand-in per node listening on the node's privval
// address, a height driver producing blocks through them, and a poller asking the cluster for
// its status. It carries out the demo's commands (kill the leader, kill or restart a node,
// restart the leader gracefully) one at a time, and keeps what the view shows: node states,
// counters, failovers and the last events.
//
// Everything it creates lives under one temporary directory that it removes on close; the node
// processes are its children and are killed on close, or synchronously by killNow() when the
// process is about to exit some other way, so nothing outlives the demo.

import { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClusterStatus } from '../node/cluster_status_query';
import { CLI_ENTRY, ProcessCluster } from '../harness/process_cluster';
import { HeightDriver, HeightResult } from '../standin/height_driver';
import { findConflicts } from '../standin/sign_history';
import { ValidatorStandin } from '../standin/validator_standin';
import { DemoCommand } from './demo_commands';
import { DemoStats, HeightNotes, ValidatorCounters } from './demo_stats';
import { sleep } from '../util/sleep';

export type DemoEventLevel = 'info' | 'good' | 'warn';

export interface DemoEvent {
  at: number;
  level: DemoEventLevel;
  text: string;
}

export interface DemoSessionOptions {
  nodes: number;
  chainId: string;
  blockTimeMs: number;
  /** Share of heights where one stand-in asks for something conflicting (0..1). */
  disagreementRate: number;
  seed: number;
  /** Where the demo's temporary directory is made; default os.tmpdir(). */
  tmpParent?: string;
  /** Called for every event as it happens (the line view prints them). */
  onEvent?: (event: DemoEvent) => void;
  /** Progress while the cluster comes up. */
  onProgress?: (line: string) => void;
}

export interface NodeView {
  id: string;
  /** The node's home: what `raft-signer status --home` takes. */
  home: string;
  running: boolean;
  pid: number | null;
  /** From the last status poll: leader, follower, candidate, learner, or unreachable. */
  role: string;
  term: number | null;
  commitIndex: number | null;
  appliedIndex: number | null;
}

export interface ValidatorView extends ValidatorCounters {
  /** Its raft-signer node is connected to it over privval. */
  connected: boolean;
  /** The raft-signer node that dials it. */
  signer: string;
}

export interface DemoSnapshot {
  now: number;
  /** When blocks started (null while the cluster comes up). */
  runningSince: number | null;
  root: string;
  chainId: string;
  blockTimeMs: number;
  nodes: NodeView[];
  leader: string | null;
  term: number | null;
  /** The cluster answered the last poll with a majority. */
  quorum: boolean;
  validators: ValidatorView[];
  heights: number;
  fullySignedHeights: number;
  lastHeight: bigint | null;
  protectionRefusals: number;
  p50Ms: number | null;
  p99Ms: number | null;
  latencySamples: number;
  failovers: number;
  lastFailover: string | null;
  /** Conflicting signatures the validator nodes received, as of the last check: must stay 0. */
  conflicts: number;
  events: DemoEvent[];
  /** A command is being carried out. */
  busy: boolean;
}

export interface DemoKill {
  at: number;
  node: string;
  wasLeader: boolean;
  signal: 'SIGKILL' | 'SIGTERM';
}

export interface DemoSummary {
  root: string;
  chainId: string;
  /** From the first block to the end. */
  ranMs: number;
  heights: number;
  fullySignedHeights: number;
  /** Heights started after the first kill and signed in full (proposal, prevote, precommit). */
  fullySignedAfterFirstKill: number;
  kills: DemoKill[];
  failovers: number;
  validators: { name: string; heightsSigned: number; signatures: number; protectionRefusals: number; unsigned: number; p50Ms: number | null; p99Ms: number | null }[];
  p50Ms: number | null;
  p99Ms: number | null;
  protectionRefusals: number;
  /** Every signature the validator nodes received, checked against sign bytes they computed. */
  signaturesVerified: number;
  verificationFailures: number;
  conflicts: number;
  protocolErrors: number;
  /** Every node process the demo started (all gone when the demo returns). */
  pids: number[];
}

/** Events kept for the view; the line view prints each as it comes, so it needs none kept. */
const EVENTS_KEPT = 50;
const POLL_INTERVAL_MS = 500;
/** Short: a node that is down answers "connection refused" at once, a stuck one must not stall the view. */
const POLL_DEADLINE_MS = 400;
/** Re-checking every signature for conflicts costs time linear in the history: not every frame. */
const CONFLICT_CHECK_INTERVAL_MS = 5000;
const STARTUP_TIMEOUT_MS = 30_000;

export class DemoSession {
  readonly root: string;
  private cluster: ProcessCluster | null = null;
  private readonly standins: ValidatorStandin[] = [];
  private driver: HeightDriver | null = null;
  private stats: DemoStats | null = null;
  private readonly events: DemoEvent[] = [];
  private readonly nodes = new Map<string, NodeView>();
  private readonly children = new Map<string, ChildProcess>();
  /** Nodes whose next exit the demo caused (anything else is reported as unexpected). */
  private readonly expectedExits = new Set<string>();
  private readonly pids: number[] = [];
  private readonly kills: DemoKill[] = [];
  private readonly results: HeightResult[] = [];
  private leader: string | null = null;
  private term: number | null = null;
  private quorum = false;
  private leaderlessSince: number | null = null;
  private failovers = 0;
  private lastFailover: string | null = null;
  private conflicts = 0;
  private lastConflictCheck = 0;
  /** A kill or stop whose first following signature is still awaited. */
  private awaitingResume: { at: number; what: string; failed: number } | null = null;
  private runningSince: number | null = null;
  private actions: Promise<void> = Promise.resolve();
  private pendingActions = 0;
  private polling: Promise<void> | null = null;
  private closed = false;
  private closing: Promise<void> | null = null;

  constructor(private readonly options: DemoSessionOptions) {
    // Made at once and synchronously, so that whatever fails later, there is one directory to remove.
    this.root = fs.mkdtempSync(path.join(options.tmpParent ?? os.tmpdir(), 'raft-signer-demo-'));
  }

  get nodeIds(): string[] {
    return [...this.nodes.keys()];
  }

  /** The shell command that shows the cluster's status, as an operator would run it. */
  statusCommand(): string {
    const first = this.nodes.values().next().value;
    return `node ${path.relative(process.cwd(), CLI_ENTRY) || CLI_ENTRY} status --home ${first?.home ?? '<node home>'}`;
  }

  /** Writes the testnet, starts the nodes and stand-ins, waits for a leader, starts the blocks. */
  async setup(): Promise<void> {
    const progress = this.options.onProgress ?? ((): void => undefined);
    progress(`writing a ${this.options.nodes}-node testnet in ${this.root}`);
    const cluster = await ProcessCluster.create({ nodes: this.options.nodes, chainId: this.options.chainId, root: this.root });
    this.cluster = cluster;
    this.throwIfClosed();
    for (const n of cluster.testnet.nodes) {
      this.nodes.set(n.id, { id: n.id, home: n.home, running: false, pid: null, role: 'down', term: null, commitIndex: null, appliedIndex: null });
    }
    for (const [i, n] of cluster.testnet.nodes.entries()) {
      // The stand-in listens where the node's config says its validator node is (priv_validator_laddr).
      this.standins.push(await ValidatorStandin.listen({ address: n.validatorAddr, name: standinName(i) }));
      this.throwIfClosed();
    }
    this.stats = new DemoStats(this.standins.map((s) => s.history.source));
    progress(`starting ${cluster.ids.join(', ')} (raft-signer start --home …)`);
    for (const id of cluster.ids) this.startNode(id);
    progress('waiting for a leader and for every node to dial its validator node');
    await Promise.all(this.standins.map((s) => s.waitConnected(STARTUP_TIMEOUT_MS)));
    const leader = await cluster.waitForLeader(cluster.ids, STARTUP_TIMEOUT_MS);
    this.throwIfClosed();
    // Known at once, so that `k` works before the first status poll.
    this.leader = leader;
    this.polling = this.pollLoop();
    this.driver = new HeightDriver({
      chainId: this.options.chainId,
      standins: this.standins,
      blockTimeMs: this.options.blockTimeMs,
      disagreementRate: this.options.disagreementRate,
      seed: this.options.seed,
      // CometBFT's own read deadline on the privval connection.
      requestTimeoutMs: 5000,
      onHeight: (r) => this.onHeight(r),
    });
    this.runningSince = Date.now();
    this.driver.start();
    this.event('good', `cluster up: ${cluster.ids.join(', ')}; ${leader} leads; blocks every ${this.options.blockTimeMs} ms`);
  }

  /** Queues a command; commands run one at a time, in order. Quit is the caller's business. */
  run(command: DemoCommand): Promise<void> {
    if (command.kind === 'quit' || this.closed) return Promise.resolve();
    this.pendingActions++;
    const next = this.actions.then(() => this.carryOut(command)).finally(() => this.pendingActions--);
    // A failed command is an event, not the end of the demo; the chain must go on.
    this.actions = next.catch((e: unknown) => this.event('warn', `command failed: ${(e as Error).message}`));
    return this.actions;
  }

  snapshot(): DemoSnapshot {
    const stats = this.stats;
    const validators: ValidatorView[] = (stats?.perValidator ?? []).map((v, i) => ({
      ...v,
      connected: this.standins[i]?.connected ?? false,
      signer: this.nodeIds[i] ?? '?',
    }));
    if (Date.now() - this.lastConflictCheck > CONFLICT_CHECK_INTERVAL_MS) this.checkConflicts();
    return {
      now: Date.now(),
      runningSince: this.runningSince,
      root: this.root,
      chainId: this.options.chainId,
      blockTimeMs: this.options.blockTimeMs,
      nodes: [...this.nodes.values()].map((n) => ({ ...n })),
      leader: this.leader,
      term: this.term,
      quorum: this.quorum,
      validators,
      heights: stats?.heights ?? 0,
      fullySignedHeights: stats?.fullySignedHeights ?? 0,
      lastHeight: stats?.lastHeight ?? null,
      protectionRefusals: stats?.protectionRefusals ?? 0,
      p50Ms: stats?.overallLatency.percentile(50) ?? null,
      p99Ms: stats?.overallLatency.percentile(99) ?? null,
      latencySamples: stats?.overallLatency.size ?? 0,
      failovers: this.failovers,
      lastFailover: this.lastFailover,
      conflicts: this.conflicts,
      events: [...this.events],
      busy: this.pendingActions > 0,
    };
  }

  /**
   * Stops the blocks, the poller and the stand-ins, kills every node and removes the directory.
   * Idempotent. The summary stays readable afterwards.
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  /**
   * Last resort when the process is exiting before close() finished: SIGKILL every node (the
   * signal is sent synchronously) and remove the directory. Safe to call at any time, any number
   * of times.
   */
  killNow(): void {
    this.closed = true;
    for (const child of this.children.values()) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  /** What happened, for the end of the demo; checks every signature once more. */
  summary(): DemoSummary {
    this.checkConflicts();
    const verifications = this.standins.map((s) => s.history.verify());
    const firstKill = this.kills[0]?.at;
    const stats = this.stats;
    return {
      root: this.root,
      chainId: this.options.chainId,
      ranMs: this.runningSince === null ? 0 : Date.now() - this.runningSince,
      heights: stats?.heights ?? 0,
      fullySignedHeights: stats?.fullySignedHeights ?? 0,
      fullySignedAfterFirstKill:
        firstKill === undefined ? 0 : this.results.filter((r) => r.startedAt > firstKill && r.fullySigned).length,
      kills: [...this.kills],
      failovers: this.failovers,
      validators: (stats?.perValidator ?? []).map((v) => ({
        name: v.name,
        heightsSigned: v.heightsSigned,
        signatures: v.signatures,
        protectionRefusals: v.protectionRefusals,
        unsigned: v.unsigned,
        p50Ms: v.latency.percentile(50),
        p99Ms: v.latency.percentile(99),
      })),
      p50Ms: stats?.overallLatency.percentile(50) ?? null,
      p99Ms: stats?.overallLatency.percentile(99) ?? null,
      protectionRefusals: stats?.protectionRefusals ?? 0,
      signaturesVerified: verifications.reduce((sum, v) => sum + v.checked, 0),
      verificationFailures: verifications.reduce((sum, v) => sum + v.failures.length, 0),
      conflicts: this.conflicts,
      protocolErrors: this.standins.reduce((sum, s) => sum + s.protocolErrors.length, 0),
      pids: [...this.pids],
    };
  }

  // -------------------------------------------------------------------------------------------

  private async shutDown(): Promise<void> {
    this.closed = true;
    // Stand-ins first: their pending requests fail at once, so the driver's height in progress
    // ends now instead of after a 5 s request timeout.
    await Promise.all(this.standins.map((s) => s.close()));
    await this.driver?.stop();
    await this.polling;
    await this.actions;
    for (const id of this.nodes.keys()) this.expectedExits.add(id);
    // destroy() kills every node and removes the cluster's root, which is this.root.
    await this.cluster?.destroy();
    fs.rmSync(this.root, { recursive: true, force: true });
  }

  /** Setup awaits a lot; when close() ran meanwhile, it must not go on starting things. */
  private throwIfClosed(): void {
    if (this.closed) throw new Error('the demo was stopped while it was starting');
  }

  private async carryOut(command: DemoCommand): Promise<void> {
    const cluster = this.cluster;
    if (cluster === null || this.closed) return;
    switch (command.kind) {
      case 'kill-leader': {
        const leader = this.leader;
        if (leader === null || !cluster.isRunning(leader)) {
          this.event('warn', 'no live leader known right now: nothing killed (wait for the next election)');
          return;
        }
        await this.kill(leader, true);
        return;
      }
      case 'toggle-node': {
        const id = cluster.ids[command.index];
        if (cluster.isRunning(id)) await this.kill(id, id === this.leader);
        else {
          this.startNode(id);
          this.event('info', `started ${id} (pid ${this.nodes.get(id)?.pid ?? '?'}): it catches up from the log before it signs`);
        }
        return;
      }
      case 'restart-leader': {
        const leader = this.leader;
        if (leader === null || !cluster.isRunning(leader)) {
          this.event('warn', 'no live leader known right now: nothing restarted');
          return;
        }
        this.event('info', `stopping ${leader} with SIGTERM: it hands leadership over first`);
        const at = Date.now();
        this.kills.push({ at, node: leader, wasLeader: true, signal: 'SIGTERM' });
        this.awaitingResume = { at, what: `stopping ${leader}`, failed: 0 };
        this.expectedExits.add(leader);
        const code = await cluster.stop(leader);
        this.event(code === 0 ? 'good' : 'warn', `${leader} exited with code ${code} after ${Date.now() - at} ms; starting it again`);
        this.startNode(leader);
        return;
      }
      case 'quit':
        return;
    }
  }

  private async kill(id: string, wasLeader: boolean): Promise<void> {
    const cluster = this.cluster;
    if (cluster === null) return;
    const at = Date.now();
    this.kills.push({ at, node: id, wasLeader, signal: 'SIGKILL' });
    this.expectedExits.add(id);
    if (wasLeader) this.awaitingResume = { at, what: `killing ${id}`, failed: 0 };
    await cluster.kill(id);
    this.markDown(id);
    this.event('warn', `killed ${id} (SIGKILL)${wasLeader ? ', the leader' : ''}; press ${this.keyOf(id)} to start it again`);
  }

  private startNode(id: string): void {
    const cluster = this.cluster;
    if (cluster === null) return;
    const child = cluster.start(id);
    this.children.set(id, child);
    this.expectedExits.delete(id);
    if (child.pid !== undefined) this.pids.push(child.pid);
    const view = this.nodes.get(id);
    if (view) Object.assign(view, { running: true, pid: child.pid ?? null, role: 'starting' });
    child.once('exit', (code, signal) => {
      this.markDown(id);
      if (this.expectedExits.has(id) || this.closed) return;
      // Not the demo's doing: someone ran `kill`, or the node stopped on an error of its own.
      this.event('warn', `${id} exited by itself (${signal ?? `code ${code}`}); its log: ${path.join(this.root, `${id}.log`)}`);
    });
  }

  private markDown(id: string): void {
    const view = this.nodes.get(id);
    if (view && !this.cluster?.isRunning(id)) Object.assign(view, { running: false, pid: null, role: 'down', term: null, commitIndex: null, appliedIndex: null });
  }

  private keyOf(id: string): string {
    return String(this.nodeIds.indexOf(id) + 1);
  }

  private async pollLoop(): Promise<void> {
    while (!this.closed) {
      const started = Date.now();
      let status: ClusterStatus | null = null;
      try {
        status = (await this.cluster?.status(this.nodeIds[0], POLL_DEADLINE_MS)) ?? null;
      } catch {
        // Reading the config or certificates failed: the directory is being removed. Next round.
      }
      if (this.closed) return;
      if (status) this.onStatus(status);
      await sleep(Math.max(0, POLL_INTERVAL_MS - (Date.now() - started)));
    }
  }

  private onStatus(status: ClusterStatus): void {
    for (const row of status.nodes) {
      const view = this.nodes.get(row.id);
      if (!view) continue;
      const running = this.cluster?.isRunning(row.id) ?? false;
      Object.assign(view, {
        running,
        role: running ? row.role : 'down',
        term: row.term,
        commitIndex: row.commitIndex,
        appliedIndex: row.appliedIndex,
      });
    }
    this.quorum = status.reachable >= status.majority;
    const leader = status.leader;
    const term = leader === null ? null : (status.nodes.find((n) => n.id === leader)?.term ?? null);
    if (leader === null) {
      this.leaderlessSince ??= Date.now();
      return;
    }
    if (leader !== this.leader) {
      const gap = this.leaderlessSince === null ? '' : ` after about ${formatSeconds(Date.now() - this.leaderlessSince)} without one`;
      if (this.leader !== null) {
        this.failovers++;
        this.lastFailover = `${this.leader} → ${leader} (term ${term ?? '?'})`;
        this.event('good', `new leader: ${leader} (term ${term ?? '?'}), was ${this.leader}${gap}`);
      }
      this.leader = leader;
    }
    this.term = term;
    this.leaderlessSince = null;
  }

  private onHeight(result: HeightResult): void {
    if (this.closed || this.stats === null) return;
    this.results.push(result);
    const notes: HeightNotes = this.stats.record(result);
    if (notes.protectionRefusals.length > 0) {
      const asked = notes.protectionRefusals.map((r) => `${r.standin} ${r.step}`).join(', ');
      this.event('info', `height ${result.height}: refused a conflicting ${asked}: double-sign protection at work`);
    }
    if (notes.failures.length > 0) {
      const first = notes.failures[0];
      const more = notes.failures.length > 1 ? ` (+${notes.failures.length - 1} more)` : '';
      this.event('warn', `height ${result.height}: ${first.standin} ${first.step} not signed: ${first.message ?? first.outcome}${more}`);
    }
    const resume = this.awaitingResume;
    if (resume !== null) {
      // Measured per request rather than from the event: the time from the event to the next
      // height's start is the block time, not a cost of the failure.
      const after = result.requests.filter((r) => r.startedAt >= resume.at).sort((a, b) => a.startedAt - b.startedAt);
      const firstSigned = after.find((r) => r.outcome === 'signed');
      const failedBefore = notes.failures.filter((r) => r.startedAt >= resume.at && (!firstSigned || r.startedAt < firstSigned.startedAt));
      resume.failed += failedBefore.length;
      if (firstSigned !== undefined) {
        this.awaitingResume = null;
        const failed = resume.failed === 0 ? 'none failed before it' : `${resume.failed} failed before it`;
        this.event('good', `signing went on: the first request after ${resume.what} was signed in ${formatSeconds(firstSigned.latencyMs)} (${failed})`);
      }
    }
  }

  private checkConflicts(): void {
    this.lastConflictCheck = Date.now();
    this.conflicts = findConflicts(this.standins.map((s) => s.history)).length;
  }

  private event(level: DemoEventLevel, text: string): void {
    const event: DemoEvent = { at: Date.now(), level, text };
    this.events.push(event);
    if (this.events.length > EVENTS_KEPT) this.events.shift();
    this.options.onEvent?.(event);
  }
}

/** The stand-in of node i: "val0" is the validator node that node0 signs for. */
export function standinName(index: number): string {
  return `val${index}`;
}

export function formatSeconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
