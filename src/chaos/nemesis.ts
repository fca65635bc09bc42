// Carries out the nemesis schedule against a running cluster: kills, pauses, restarts, storage
// faults through the SignerCluster, network faults through the FaultNetwork. Every fault is
// recorded as a window (when, what, on whom) for the report and the timeline, and the
// HealthTracker is told which nodes and links are faulted so that liveness can be judged
// separately with and without a healthy majority.
//
// Rules it keeps:
// - never more than a minority of nodes under a node fault at once (a fault that would exceed it
//   is skipped and reported as such); network faults may leave no majority, which the health
//   tracker accounts for;
// - a node that was restarted counts as faulted until it has caught up with the cluster's commit
//   index (the README's advice: touch the next node only then), and the report notes how long
//   that took, or that it did not happen;
// - every fault is healed in a finally block, so an aborted run leaves no node paused and no link
//   held.

import fs from 'node:fs';
import path from 'node:path';
import { SeededRandom } from '../raft/rng';
import { FaultNetwork } from './fault_network';
import { HealthTracker } from './health_tracker';
import { Episode, FaultKind, FaultSpec, NodeTarget } from './nemesis_schedule';
import { SignerCluster } from './signer_launcher';

export interface FaultWindow {
  /** "f7": the seventh fault started. */
  id: string;
  kind: FaultKind | 'backup';
  label: string;
  /** The nodes it acted on (resolved from roles). */
  nodes: string[];
  startedAt: number;
  endedAt: number;
  /** What was planned (null for the backup copy a restore takes first). */
  spec: FaultSpec | null;
  /** What happened that a reader should know: catch-up times, a node that did not catch up. */
  notes: string[];
}

export interface LeaderKill {
  at: number;
  node: string;
  faultId: string;
  kind: FaultKind;
}

export interface SkippedFault {
  at: number;
  spec: FaultSpec;
  why: string;
}

export interface NemesisOptions {
  cluster: SignerCluster;
  /** null when the signer has no peer links to cut. */
  network: FaultNetwork | null;
  health: HealthTracker;
  episodes: readonly Episode[];
  /** Where copies of data directories go. */
  backupDir: string;
  seed: number;
  /** One line per action, for progress output. */
  onEvent?: (line: string) => void;
  /** How long a restarted node may take to catch up before the nemesis moves on (default 20 s). */
  catchUpTimeoutMs?: number;
  /**
   * Called at the moments a failover could lose decisions (just before and just after the leader
   * of a beyond-budget fault dies): the harness has lagging validator nodes re-ask recent heights
   * then, so that a new leader missing those decisions is asked for them before anything newer.
   */
  onFailover?: () => void;
}

interface Backup {
  dir: string;
  takenAt: number;
}

const MAX_BACKUPS_PER_NODE = 4;

export class Nemesis {
  readonly windows: FaultWindow[] = [];
  readonly leaderKills: LeaderKill[] = [];
  readonly skipped: SkippedFault[] = [];
  episodesRun = 0;

  private readonly cluster: SignerCluster;
  private readonly network: FaultNetwork | null;
  private readonly health: HealthTracker;
  private readonly random: SeededRandom;
  private readonly busy = new Set<string>();
  private readonly backups = new Map<string, Backup[]>();
  /** Nodes that could not be brought back: down for the rest of the run. */
  private readonly lost = new Set<string>();
  private readonly minority: number;
  private faultSeq = 0;
  private backupSeq = 0;
  private aborted = false;
  private readonly wakers = new Set<() => void>();

  constructor(private readonly options: NemesisOptions) {
    this.cluster = options.cluster;
    this.network = options.network;
    this.health = options.health;
    this.random = new SeededRandom((options.seed ^ 0x5bd1e995) >>> 0);
    this.minority = Math.floor((options.cluster.ids.length - 1) / 2);
  }

  /** Runs episodes in order until one would not end before `until` (ms since the epoch). */
  async run(until: number): Promise<void> {
    for (const episode of this.options.episodes) {
      if (this.aborted || Date.now() + episode.gapMs + episode.estimatedMs > until) break;
      await this.wait(episode.gapMs);
      if (this.aborted) break;
      await Promise.all(episode.faults.map((f) => this.execute(f)));
      this.episodesRun++;
    }
  }

  /** Stops at once: waits end early, faults heal without waiting for catch-up. */
  abort(): void {
    this.aborted = true;
    for (const wake of this.wakers) wake();
    this.wakers.clear();
  }

  /** Everything back to normal: links healed, every node running and not paused. */
  async healAll(): Promise<void> {
    this.network?.heal();
    for (const id of this.cluster.ids) {
      if (this.cluster.capabilities.has('pause') && this.cluster.isRunning(id)) await this.cluster.resume(id);
      if (!this.cluster.isRunning(id) && !this.lost.has(id)) await this.cluster.start(id);
    }
  }

  // --- one fault ------------------------------------------------------------------------------

  private async execute(spec: FaultSpec): Promise<void> {
    try {
      switch (spec.kind) {
        case 'kill-leader':
          return await this.killFault(spec, { role: 'leader' }, spec.downMs, 'kill');
        case 'kill':
          return await this.killFault(spec, spec.target, spec.downMs, 'kill');
        case 'wipe':
          return await this.killFault(spec, spec.target, spec.downMs, 'wipe');
        case 'pause':
          return await this.pauseFault(spec);
        case 'restore':
          return await this.restoreFault(spec);
        case 'rolling-restart':
          return await this.rollingRestart(spec);
        case 'isolate-leader':
        case 'split':
        case 'one-way':
        case 'partition-all':
          return await this.partitionFault(spec);
        case 'flap':
          return await this.flapFault(spec);
        case 'latency':
          return await this.latencyFault(spec);
        case 'wipe-lagging':
        case 'restore-lagging':
          return await this.wipeLagging(spec);
      }
    } catch (err) {
      // A fault that could not be carried out is a harness problem, not a finding: say so.
      this.event(`fault ${spec.kind} failed: ${(err as Error).message}`);
      this.skipped.push({ at: Date.now(), spec, why: `failed: ${(err as Error).message}` });
    }
  }

  /** SIGKILL (and for a wipe, delete the data directory), wait, restart, wait for catch-up. */
  private async killFault(spec: FaultSpec, target: NodeTarget, downMs: number, what: 'kill' | 'wipe'): Promise<void> {
    const id = await this.claim(spec, target);
    if (id === null) return;
    const w = this.open(spec, [id], '');
    try {
      const leader = await this.leader(0);
      await this.cluster.kill(id);
      if (leader === id) this.leaderKills.push({ at: Date.now(), node: id, faultId: w.id, kind: spec.kind });
      if (what === 'wipe') fs.rmSync(this.cluster.dataDir(id), { recursive: true, force: true });
      w.label = `${what === 'wipe' ? 'wipe data of' : 'SIGKILL'} ${leader === id ? 'leader ' : ''}${id}, ${secs(downMs)} down`;
      this.event(`${w.id} ${w.label}`);
      await this.wait(downMs);
      if (what === 'wipe' && this.cluster.rejoinWithEmptyStore !== undefined && !this.aborted) await this.rejoin(id, w);
      else await this.restart(id, w);
    } finally {
      this.release(id, w);
    }
  }

  private async pauseFault(spec: Extract<FaultSpec, { kind: 'pause' }>): Promise<void> {
    const id = await this.claim(spec, spec.target);
    if (id === null) return;
    const w = this.open(spec, [id], '');
    try {
      const leader = await this.leader(0);
      await this.cluster.pause(id);
      w.label = `SIGSTOP ${leader === id ? 'leader ' : ''}${id} ${secs(spec.pauseMs)}`;
      this.event(`${w.id} ${w.label}`);
      // A frozen process writes nothing: its data directory is a consistent crash image to keep.
      if (this.cluster.capabilities.has('storage')) this.takeBackup(id);
      await this.wait(spec.pauseMs);
    } finally {
      await this.cluster.resume(id);
      await this.caughtUp(id, w);
      this.release(id, w);
    }
  }

  /** Put back an older copy of a node's data directory: the node lost what it acknowledged since. */
  private async restoreFault(spec: Extract<FaultSpec, { kind: 'restore' }>): Promise<void> {
    let id = await this.claim(spec, spec.target);
    if (id === null) return;
    if ((this.backups.get(id) ?? []).length === 0) {
      // No copy yet: take one now (frozen for the copy), then let the cluster move on past it.
      const b = this.open(null, [id], `copy data of ${id} (SIGSTOP)`, 'backup');
      try {
        await this.cluster.pause(id);
        this.takeBackup(id);
      } finally {
        await this.cluster.resume(id);
        this.release(id, b);
      }
      await this.wait(spec.ageMs);
      if (this.aborted) return;
      id = await this.claim(spec, { role: 'node', index: this.cluster.ids.indexOf(id) });
      if (id === null) return;
    }
    const list = this.backups.get(id) ?? [];
    const backup = spec.oldest ? list[0] : list[list.length - 1];
    if (backup === undefined) {
      this.release(id, null);
      return;
    }
    const w = this.open(spec, [id], '');
    try {
      const leader = await this.leader(0);
      await this.cluster.kill(id);
      if (leader === id) this.leaderKills.push({ at: Date.now(), node: id, faultId: w.id, kind: spec.kind });
      const dataDir = this.cluster.dataDir(id);
      fs.rmSync(dataDir, { recursive: true, force: true });
      fs.cpSync(backup.dir, dataDir, { recursive: true });
      w.label = `restore ${leader === id ? 'leader ' : ''}${id} data from ${secs(Date.now() - backup.takenAt)} ago`;
      this.event(`${w.id} ${w.label}`);
      await this.wait(spec.downMs);
      await this.restartOrRejoin(id, w);
    } finally {
      this.release(id, w);
    }
  }

  /** SIGTERM and restart every node in turn, waiting for each to catch up (an upgrade). */
  private async rollingRestart(spec: Extract<FaultSpec, { kind: 'rolling-restart' }>): Promise<void> {
    if (this.busy.size > 0) {
      this.skip(spec, 'another node fault is in progress');
      return;
    }
    const order = spec.order.map((i) => this.cluster.ids[i] as string);
    const w = this.open(spec, order, `rolling restart ${order.join(', ')}`);
    this.event(`${w.id} ${w.label}`);
    try {
      for (const id of order) {
        if (this.aborted) break;
        this.busy.add(id);
        this.health.faultNode(id, `${w.id}/${id}`);
        try {
          await this.cluster.terminate(id);
          if (this.cluster.capabilities.has('storage')) this.takeBackup(id);
          await this.restart(id, w);
        } finally {
          this.busy.delete(id);
          this.health.clearNode(id, `${w.id}/${id}`);
        }
        await this.wait(spec.settleMs);
      }
    } finally {
      this.close(w);
    }
  }

  private async partitionFault(spec: Extract<FaultSpec, { kind: 'isolate-leader' | 'split' | 'one-way' | 'partition-all' }>): Promise<void> {
    const network = this.network;
    if (network === null) return this.skip(spec, 'the signer has no peer links');
    const ids = this.cluster.ids;
    const w = this.open(spec, [], '');
    const blocked: [string, string][] = [];
    const cross = (groups: string[][]): void => {
      for (const a of ids) for (const b of ids) if (a !== b && groups.findIndex((g) => g.includes(a)) !== groups.findIndex((g) => g.includes(b))) blocked.push([a, b]);
    };
    try {
      if (spec.kind === 'isolate-leader') {
        const leader = (await this.leader(3000)) ?? this.random.pick(ids);
        cross([[leader], ids.filter((x) => x !== leader)]);
        w.nodes = [leader];
        w.label = `isolate leader ${leader}`;
      } else if (spec.kind === 'split') {
        const minority = spec.minority.map((i) => ids[i] as string);
        cross([minority, ids.filter((x) => !minority.includes(x))]);
        w.nodes = minority;
        w.label = `split {${minority.join(',')}} | {${ids.filter((x) => !minority.includes(x)).join(',')}}`;
      } else if (spec.kind === 'partition-all') {
        cross(ids.map((x) => [x]));
        w.nodes = [...ids];
        w.label = 'partition every node';
      } else if (spec.direction === 'pair') {
        const from = ids[spec.from] as string;
        const to = ids[spec.to] as string;
        blocked.push([from, to]);
        w.nodes = [from, to];
        w.label = `one-way loss ${from}→${to}`;
      } else {
        const leader = (await this.leader(3000)) ?? this.random.pick(ids);
        for (const o of ids) if (o !== leader) blocked.push(spec.direction === 'leader-out' ? [leader, o] : [o, leader]);
        w.nodes = [leader];
        w.label = spec.direction === 'leader-out' ? `one-way loss ${leader}(leader)→all` : `one-way loss all→${leader}(leader)`;
      }
      for (const [a, b] of blocked) {
        network.setBlocked(a, b, true);
        this.health.faultLink(a, b, w.id);
      }
      this.event(`${w.id} ${w.label} ${secs(durationOf(spec))}`);
      await this.wait(durationOf(spec));
    } finally {
      const cutOnHeal = 'cutOnHeal' in spec ? spec.cutOnHeal : this.random.chance(0.5);
      for (const [a, b] of blocked) network.setBlocked(a, b, false);
      if (cutOnHeal) for (const [a, b] of blocked) network.cut(a, b);
      if (cutOnHeal) w.notes.push('connections reset on heal');
      this.health.clearLinks(w.id);
      this.close(w);
    }
  }

  private async flapFault(spec: Extract<FaultSpec, { kind: 'flap' }>): Promise<void> {
    const network = this.network;
    if (network === null) return this.skip(spec, 'the signer has no peer links');
    const id = await this.resolve(spec.node, new Set());
    if (id === null) return this.skip(spec, 'no node to flap');
    const others = this.cluster.ids.filter((x) => x !== id);
    const w = this.open(spec, [id], `flap links of ${id} every ~${spec.periodMs} ms`);
    this.event(`${w.id} ${w.label} ${secs(spec.durationMs)}`);
    // The links count as bad for the whole window: a link that is up half the time is not healthy.
    for (const o of others) {
      this.health.faultLink(id, o, w.id);
      this.health.faultLink(o, id, w.id);
    }
    const setDown = (down: boolean): void => {
      for (const o of others) {
        network.setBlocked(id, o, down);
        network.setBlocked(o, id, down);
      }
    };
    const end = Date.now() + spec.durationMs;
    try {
      while (!this.aborted && Date.now() < end) {
        setDown(true);
        if (this.random.chance(0.5)) network.cutNode(id);
        await this.wait(Math.min(end - Date.now(), spec.periodMs * (0.5 + this.random.nextFloat())));
        setDown(false);
        await this.wait(Math.min(end - Date.now(), spec.periodMs * (0.5 + this.random.nextFloat())));
      }
    } finally {
      setDown(false);
      this.health.clearLinks(w.id);
      this.close(w);
    }
  }

  private async latencyFault(spec: Extract<FaultSpec, { kind: 'latency' }>): Promise<void> {
    const network = this.network;
    if (network === null) return this.skip(spec, 'the signer has no peer links');
    const ids = this.cluster.ids;
    const node = spec.node >= 0 ? (ids[spec.node] as string) : null;
    const w = this.open(spec, node === null ? [] : [node], `latency ${spec.delayMs}±${spec.jitterMs} ms ${node === null ? 'on every link' : `on ${node}'s links`}`);
    this.event(`${w.id} ${w.label} ${secs(spec.durationMs)}`);
    try {
      for (const a of ids) for (const b of ids) if (a !== b && (node === null || a === node || b === node)) network.setLatency(a, b, spec.delayMs, spec.jitterMs);
      await this.wait(spec.durationMs);
    } finally {
      network.clearLatency();
      this.close(w);
    }
  }

  /**
   * Three failures at once, beyond what three nodes promise to survive: follower C lags (cut off),
   * follower B loses what it acknowledged meanwhile while the leader A cannot reach it (its disk
   * is wiped, or an older copy of its data is put back), then A crashes and the links heal (bytes
   * held meanwhile are dropped, as on connections that timed out). A correct cluster may stay
   * without a leader until A is back; it must not let C, which lacks A's last decisions, lead on
   * the vote of a node that forgot them.
   */
  private async wipeLagging(spec: Extract<FaultSpec, { kind: 'wipe-lagging' | 'restore-lagging' }>): Promise<void> {
    const network = this.network;
    if (network === null) return this.skip(spec, 'the signer has no peer links');
    if (this.busy.size > 0) return this.skip(spec, 'another node fault is in progress');
    const a = await this.leader(3000);
    if (a === null) return this.skip(spec, 'no leader to start from');
    const followers = this.cluster.ids.filter((x) => x !== a);
    const b = followers[spec.wipe % followers.length] as string;
    const c = followers.find((x) => x !== b) as string;
    const all = [a, b, c];
    for (const id of all) this.busy.add(id);
    const restore = spec.kind === 'restore-lagging';
    const w = this.open(spec, all, `${c} lags, ${restore ? 'restore an old copy of' : 'wipe'} ${b} unseen by leader ${a}, SIGKILL ${a}`);
    this.event(`${w.id} ${w.label}`);
    const block = (x: string, y: string): void => {
      network.setBlocked(x, y, true);
      network.setBlocked(y, x, true);
      this.health.faultLink(x, y, w.id);
      this.health.faultLink(y, x, w.id);
    };
    try {
      // The copy is taken before C falls behind: B restored from it knows no more than C does.
      let copy: Backup | undefined;
      if (restore) {
        await this.cluster.pause(b);
        try {
          copy = this.takeBackup(b);
        } finally {
          await this.cluster.resume(b);
        }
      }
      for (const o of [a, b]) block(c, o);
      await this.wait(spec.lagMs);
      if (this.aborted) return;
      this.health.faultNode(b, w.id);
      await this.cluster.kill(b);
      fs.rmSync(this.cluster.dataDir(b), { recursive: true, force: true });
      if (copy !== undefined) fs.cpSync(copy.dir, this.cluster.dataDir(b), { recursive: true });
      block(a, b);
      await this.cluster.start(b);
      await this.wait(1500);
      if (this.aborted) return;
      this.health.faultNode(a, w.id);
      this.options.onFailover?.();
      await this.cluster.kill(a);
      this.leaderKills.push({ at: Date.now(), node: a, faultId: w.id, kind: spec.kind });
      network.heal({ cutHeld: true });
      this.options.onFailover?.();
      this.health.clearLinks(w.id);
      await this.wait(spec.downMs);
    } finally {
      network.heal({ cutHeld: true });
      this.health.clearLinks(w.id);
      if (!this.aborted) {
        if (!this.cluster.isRunning(a)) await this.cluster.start(a);
        await this.caughtUp(a, w);
        // A wiped or restored node that refused to start (as it must) rejoins the documented way.
        const refused = !this.cluster.isRunning(b);
        if (refused && this.cluster.rejoinWithEmptyStore !== undefined) {
          w.notes.push(`${b} refused to start with its ${restore ? 'restored' : 'wiped'} store`);
          if (restore) fs.rmSync(this.cluster.dataDir(b), { recursive: true, force: true });
          await this.rejoin(b, w);
        } else {
          if (refused) await this.cluster.start(b);
          await this.caughtUp(b, w);
        }
      }
      for (const id of all) {
        this.health.clearNode(id, w.id);
        this.busy.delete(id);
      }
      this.close(w);
    }
  }

  // --- helpers --------------------------------------------------------------------------------

  /**
   * A node with a wiped store rejoins as the product requires (remove, learner, promote). If that
   * fails, the node stays down and counts as faulted for the rest of the run (it is kept busy, so
   * no further node fault is drawn on top of it), and the window says why.
   */
  private async rejoin(id: string, w: FaultWindow): Promise<void> {
    const rejoin = this.cluster.rejoinWithEmptyStore?.bind(this.cluster);
    if (rejoin === undefined) return;
    const started = Date.now();
    try {
      await rejoin(id, () => this.caughtUp(id, w));
      w.notes.push(`${id} rejoined as a learner and was promoted in ${secs(Date.now() - started)}`);
    } catch (err) {
      w.notes.push(`${id} could not rejoin: ${(err as Error).message}; left down`);
      this.lost.add(id);
      this.health.faultNode(id, `lost/${id}`);
      if (this.cluster.isRunning(id)) await this.cluster.kill(id);
    }
  }

  /**
   * Starts a node whose data directory was put back from an older copy. The product refuses such
   * a store at start (store_high_water.ts); then it rejoins the documented way, with its data
   * directory emptied. A copy too recent to tell apart starts normally and catches up.
   */
  private async restartOrRejoin(id: string, w: FaultWindow): Promise<void> {
    if (this.aborted) return;
    await this.cluster.start(id);
    if (this.cluster.rejoinWithEmptyStore !== undefined && (await this.refusedToStart(id))) {
      w.notes.push(`${id} refused to start with its restored store`);
      fs.rmSync(this.cluster.dataDir(id), { recursive: true, force: true });
      await this.rejoin(id, w);
      return;
    }
    await this.caughtUp(id, w);
  }

  /** Whether a node just started exits (refuses) before it answers a status request. */
  private async refusedToStart(id: string): Promise<boolean> {
    const deadline = Date.now() + 15_000;
    while (!this.aborted && Date.now() < deadline) {
      if (!this.cluster.isRunning(id)) return true;
      const me = (await this.cluster.status(500)).find((v) => v.id === id);
      if (me?.role != null) return false;
      await this.wait(100);
    }
    return !this.cluster.isRunning(id);
  }

  /** Starts a node again (unless aborted) and waits for it to catch up. */
  private async restart(id: string, w: FaultWindow): Promise<void> {
    if (this.aborted) return;
    await this.cluster.start(id);
    await this.caughtUp(id, w);
  }

  /**
   * Waits until the node has applied what the others had committed when it came back (the commit
   * index moves on meanwhile; chasing it exactly would never end under load).
   */
  private async caughtUp(id: string, w: FaultWindow): Promise<void> {
    const started = Date.now();
    const timeoutMs = this.options.catchUpTimeoutMs ?? 20_000;
    let target: number | null = null;
    while (!this.aborted && Date.now() - started < timeoutMs) {
      const views = await this.cluster.status(800);
      const me = views.find((v) => v.id === id);
      const commits = views.filter((v) => v.id !== id && v.commitIndex !== null).map((v) => v.commitIndex as number);
      if (target === null && commits.length > 0) target = Math.max(...commits);
      if (me?.appliedIndex != null && target !== null && me.appliedIndex >= target) {
        w.notes.push(`${id} caught up in ${secs(Date.now() - started)}`);
        return;
      }
      await this.wait(200);
    }
    if (!this.aborted) w.notes.push(`${id} had not caught up after ${secs(timeoutMs)}`);
  }

  /** The current leader (highest term claiming it), waiting up to `waitMs` for one to appear. */
  private async leader(waitMs: number): Promise<string | null> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const views = await this.cluster.status(800);
      let best: { id: string; term: number } | null = null;
      for (const v of views) if (v.role === 'leader' && (best === null || (v.term ?? 0) > best.term)) best = { id: v.id, term: v.term ?? 0 };
      if (best !== null) return best.id;
      if (this.aborted || Date.now() >= deadline) return null;
      await this.wait(100);
    }
  }

  private async resolve(target: NodeTarget, exclude: ReadonlySet<string>): Promise<string | null> {
    const ids = this.cluster.ids;
    const free = ids.filter((id) => !exclude.has(id));
    if (free.length === 0) return null;
    if (target.role === 'node') {
      const id = ids[target.index % ids.length] as string;
      return exclude.has(id) ? (free[target.index % free.length] as string) : id;
    }
    const leader = await this.leader(target.role === 'leader' ? 3000 : 0);
    if (target.role === 'leader') return leader !== null && !exclude.has(leader) ? leader : this.random.pick(free);
    const followers = free.filter((id) => id !== leader);
    return followers.length === 0 ? null : (followers[target.pick % followers.length] as string);
  }

  /** Picks a node for a node fault within the minority budget, and marks it busy and faulted. */
  private async claim(spec: FaultSpec, target: NodeTarget): Promise<string | null> {
    if (this.busy.size >= this.minority) {
      this.skip(spec, `${this.busy.size} node(s) already faulted: more would leave no healthy majority`);
      return null;
    }
    const id = await this.resolve(target, this.busy);
    if (id === null || this.busy.has(id) || this.busy.size >= this.minority) {
      this.skip(spec, 'no node free to fault');
      return null;
    }
    this.busy.add(id);
    return id;
  }

  private release(id: string, w: FaultWindow | null): void {
    if (!this.lost.has(id)) this.busy.delete(id);
    if (w !== null) this.close(w);
  }

  private open(spec: FaultSpec | null, nodes: string[], label: string, kind?: FaultKind | 'backup'): FaultWindow {
    const w: FaultWindow = {
      id: `f${++this.faultSeq}`,
      kind: kind ?? (spec as FaultSpec).kind,
      label,
      nodes,
      startedAt: Date.now(),
      endedAt: Date.now(),
      spec,
      notes: [],
    };
    this.windows.push(w);
    // Node faults count against the healthy majority from the first moment to the last.
    if (spec !== null && nodeFaultKinds.has(spec.kind)) for (const id of nodes) this.health.faultNode(id, w.id);
    return w;
  }

  private close(w: FaultWindow): void {
    w.endedAt = Date.now();
    for (const id of w.nodes) this.health.clearNode(id, w.id);
    this.event(`${w.id} healed${w.notes.length > 0 ? ` (${w.notes.join('; ')})` : ''}`);
  }

  private skip(spec: FaultSpec, why: string): void {
    this.skipped.push({ at: Date.now(), spec, why });
    this.event(`skipped ${spec.kind}: ${why}`);
  }

  /** Copies a stopped or frozen node's data directory; keeps the oldest and the newest few. */
  private takeBackup(id: string): Backup | undefined {
    const src = this.cluster.dataDir(id);
    if (!fs.existsSync(src)) return undefined;
    const dir = path.join(this.options.backupDir, `${id}-${++this.backupSeq}`);
    fs.cpSync(src, dir, { recursive: true });
    const list = this.backups.get(id) ?? [];
    list.push({ dir, takenAt: Date.now() });
    while (list.length > MAX_BACKUPS_PER_NODE) {
      // Drop the second oldest: the oldest is the most severe restore, the newest the most likely.
      const [dropped] = list.splice(1, 1);
      if (dropped !== undefined) fs.rmSync(dropped.dir, { recursive: true, force: true });
    }
    this.backups.set(id, list);
    return list[list.length - 1];
  }

  private wait(ms: number): Promise<void> {
    if (this.aborted || ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  private event(line: string): void {
    this.options.onEvent?.(line);
  }
}

/** Faults that take a node out (they count against the healthy majority through open/close). */
const nodeFaultKinds: ReadonlySet<FaultKind> = new Set(['kill-leader', 'kill', 'wipe', 'pause', 'restore']);

function durationOf(spec: Extract<FaultSpec, { durationMs: number }>): number {
  return spec.durationMs;
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
