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
import { readStoreHighWater } from '../node/store_high_water';
import { Episode, FaultKind, FaultSpec, MisorderedRejoin, NodeTarget } from './nemesis_schedule';
import { ClusterOperator, OperatorResult, SignerCluster, SignerNodeView, SpareProcess } from './signer_launcher';
import { sleep } from '../util/sleep';

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

/** A copy of a node's whole home, and the term its own record had reached when it was taken. */
interface HomeImage extends Backup {
  term: number;
}

/** The note of an outcome the product's documentation does not lead to expect: the report counts these. */
export const UNEXPECTED = 'UNEXPECTED:';

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
  private readonly homeImages = new Map<string, HomeImage[]>();
  /** Whether the schedule rolls homes back (then pauses and rolling restarts image whole homes too). */
  private readonly wantsHomeImages: boolean;
  /** Nodes that could not be brought back: down for the rest of the run. */
  private readonly lost = new Set<string>();
  private readonly minority: number;
  private faultSeq = 0;
  private backupSeq = 0;
  /** Aborted by abort(): ends every wait at once. */
  private readonly aborting = new AbortController();

  constructor(private readonly options: NemesisOptions) {
    this.cluster = options.cluster;
    this.network = options.network;
    this.health = options.health;
    this.random = new SeededRandom((options.seed ^ 0x5bd1e995) >>> 0);
    this.minority = Math.floor((options.cluster.ids.length - 1) / 2);
    this.wantsHomeImages = options.episodes.some((e) => e.faults.some((f) => f.kind === 'rollback-home'));
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
    this.aborting.abort();
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
        case 'rejoin-misordered':
          return await this.misorderedRejoin(spec);
        case 'rollback-home':
          return await this.rollbackHome(spec);
        case 'wipe-rejoined':
          return await this.wipeRejoined(spec);
        case 'foreign-cert':
          return await this.foreignCert(spec);
        case 'duplicate-identity':
          return await this.duplicateIdentity(spec);
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
      if (this.wantsHomeImages) this.takeHomeImage(id);
      await this.wait(spec.pauseMs);
    } finally {
      await this.cluster.resume(id);
      await this.caughtUp(id, w);
      this.release(id, w);
    }
  }

  /**
   * Claims the fault's node and the copy to put back (a data backup or a home image, the oldest or
   * the newest as the spec says). With no copy yet, `take` makes one and the cluster moves on past
   * it for the spec's age before the node is claimed again. Null when the fault cannot go on.
   */
  private async claimWithCopy<T>(
    spec: FaultSpec & { target: NodeTarget; ageMs: number; oldest: boolean },
    copies: Map<string, T[]>,
    take: (node: string) => Promise<void>,
  ): Promise<{ id: string; copy: T } | null> {
    let id = await this.claim(spec, spec.target);
    if (id === null) return null;
    if ((copies.get(id) ?? []).length === 0) {
      await take(id);
      await this.wait(spec.ageMs);
      if (this.aborted) return null;
      id = await this.claim(spec, { role: 'node', index: this.cluster.ids.indexOf(id) });
      if (id === null) return null;
    }
    const list = copies.get(id) ?? [];
    const copy = spec.oldest ? list[0] : list[list.length - 1];
    if (copy === undefined) {
      this.release(id, null);
      return null;
    }
    return { id, copy };
  }

  /** Put back an older copy of a node's data directory: the node lost what it acknowledged since. */
  private async restoreFault(spec: Extract<FaultSpec, { kind: 'restore' }>): Promise<void> {
    const claimed = await this.claimWithCopy(spec, this.backups, async (node) => {
      // No copy yet: take one now (frozen for the copy).
      const b = this.open(null, [node], `copy data of ${node} (SIGSTOP)`, 'backup');
      try {
        await this.cluster.pause(node);
        this.takeBackup(node);
      } finally {
        await this.cluster.resume(node);
        this.release(node, b);
      }
    });
    if (claimed === null) return;
    const { id, copy: backup } = claimed;
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
          if (this.wantsHomeImages) this.takeHomeImage(id);
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

  // --- operator faults --------------------------------------------------------------------------

  /**
   * A lost disk, and the documented rejoin done in a wrong order (MISORDERED_REJOINS). Whatever the
   * order, the new store must count for nothing until it is added and promoted, and the node must
   * end up a voter again.
   */
  private async misorderedRejoin(spec: Extract<FaultSpec, { kind: 'rejoin-misordered' }>): Promise<void> {
    const id = await this.claim(spec, spec.target);
    if (id === null) return;
    const w = this.open(spec, [id], '');
    try {
      const leader = await this.leader(0);
      await this.cluster.kill(id);
      if (leader === id) this.leaderKills.push({ at: Date.now(), node: id, faultId: w.id, kind: spec.kind });
      fs.rmSync(this.cluster.dataDir(id), { recursive: true, force: true });
      w.label = `wipe data of ${leader === id ? 'leader ' : ''}${id}, rejoin with ${spec.order}`;
      this.event(`${w.id} ${w.label}`);
      await this.wait(spec.downMs);
      if (this.aborted) return;
      const started = Date.now();
      await this.misordered(id, spec.order, w);
      this.homeImages.delete(id);
      w.notes.push(`${id} rejoined as a learner and was promoted in ${secs(Date.now() - started)}`);
    } catch (err) {
      await this.loseNode(id, w, `${id} could not rejoin: ${(err as Error).message}; left down`);
    } finally {
      this.release(id, w);
    }
  }

  private async misordered(id: string, order: MisorderedRejoin, w: FaultWindow): Promise<void> {
    const op = this.operatorOf();
    switch (order) {
      case 'start-before-remove':
        op.setJoin(id, true);
        if (!(await this.startUnnamed(id, w))) throw new Error('it did not start');
        await must('remove', op.remove(id));
        await must('add-learner', op.addLearner(id));
        await this.caughtUp(id, w);
        await must('promote', op.promote(id));
        return;
      case 'add-learner-before-start': {
        await must('remove', op.remove(id));
        op.setJoin(id, true);
        const started = Date.now();
        const adding = op.addLearner(id, 30_000);
        await this.wait(1500);
        await this.cluster.start(id);
        await must('add-learner', adding);
        w.notes.push(`add-learner, run ${secs(1500)} before ${id} was started, was answered in ${secs(Date.now() - started)}`);
        await this.caughtUp(id, w);
        await must('promote', op.promote(id));
        return;
      }
      case 'promote-early': {
        await must('remove', op.remove(id));
        op.setJoin(id, true);
        await this.cluster.start(id);
        await must('add-learner', op.addLearner(id));
        const asked = Date.now();
        await must('promote', op.promote(id, 30_000));
        w.notes.push(`promote, asked right after add-learner, was answered in ${secs(Date.now() - asked)}`);
        await this.caughtUp(id, w);
        return;
      }
      case 'add-learner-before-remove': {
        op.setJoin(id, true);
        if (!(await this.startUnnamed(id, w))) throw new Error('it did not start');
        const r = await op.addLearner(id, 5000);
        if (r.code === 0) w.notes.push(`${UNEXPECTED} add-learner of ${id}, still a voter with its old store, was accepted: ${excerpt(r.output)}`);
        else w.notes.push(`add-learner before remove refused: ${excerpt(r.output)}`);
        await must('remove', op.remove(id));
        await must('add-learner', op.addLearner(id));
        await this.caughtUp(id, w);
        await must('promote', op.promote(id));
        return;
      }
      case 'start-without-join': {
        await must('remove', op.remove(id));
        op.setJoin(id, false);
        const s = await this.startWatched(id, 10_000);
        if (s.exited) w.notes.push(`started without join: true, refused in ${secs(s.ms)}: ${refusalLine(s.text)}`);
        else {
          w.notes.push(`${UNEXPECTED} ${id} started with an empty data directory and without join: true, and ran`);
          await this.cluster.kill(id);
        }
        op.setJoin(id, true);
        await this.cluster.start(id);
        await must('add-learner', op.addLearner(id));
        await this.caughtUp(id, w);
        await must('promote', op.promote(id));
        return;
      }
    }
  }

  /**
   * The whole home (or only data/) put back from an image. The whole home is refused by a live
   * peer that saw the node speak in a later term ("behind its own past"); data/ alone by the node's
   * own record at start. Then the node rejoins as a learner with an empty data/. If no term went by
   * since the image, one is moved on first with a leadership transfer: a home from the very term
   * the cluster is in cannot be told from the node as it was (README, "Guarantees").
   */
  private async rollbackHome(spec: Extract<FaultSpec, { kind: 'rollback-home' }>): Promise<void> {
    const op = this.operatorOf();
    const claimed = await this.claimWithCopy(spec, this.homeImages, async (node) => {
      const b = this.open(null, [node], `image the home of ${node} (${spec.image === 'frozen' ? 'SIGSTOP' : 'SIGTERM'})`, 'backup');
      this.event(`${b.id} ${b.label}`);
      try {
        if (spec.image === 'frozen') {
          await this.cluster.pause(node);
          try {
            this.takeHomeImage(node);
          } finally {
            await this.cluster.resume(node);
          }
        } else {
          await this.cluster.terminate(node);
          this.takeHomeImage(node);
          await this.restart(node, b);
        }
      } finally {
        this.release(node, b);
      }
    });
    if (claimed === null) return;
    const { id, copy: image } = claimed;
    const w = this.open(spec, [id], '');
    try {
      let term = (await this.viewOf(id))?.term ?? null;
      if (spec.scope === 'home' && term !== null && term <= image.term) {
        // A transfer is refused while no other voter answered recently (just after a fault): try
        // again for a few seconds before calling the rollback undetectable.
        const deadline = Date.now() + 5000;
        let moved = false;
        let lastFailure = '';
        while (!this.aborted && Date.now() < deadline && (term ?? 0) <= image.term) {
          if (!moved) {
            const r = await op.transferLeader();
            moved = r.code === 0;
            if (!moved) lastFailure = excerpt(r.output);
          }
          await this.wait(200);
          term = (await this.viewOf(id))?.term ?? term;
        }
        w.notes.push(moved ? `no term since the image (term ${image.term}): a leadership transfer moved one on` : `leadership transfer failed: ${lastFailure}`);
      }
      const detectable = spec.scope === 'data' || (term !== null && term > image.term);
      // The peers write what they saw every 0.5 s.
      if (spec.scope === 'home') await this.wait(1200);
      if (this.aborted) return;
      const leader = await this.leader(0);
      await this.cluster.kill(id);
      if (leader === id) this.leaderKills.push({ at: Date.now(), node: id, faultId: w.id, kind: spec.kind });
      const home = op.home(id);
      const dataDir = this.cluster.dataDir(id);
      if (spec.scope === 'home') {
        fs.rmSync(home, { recursive: true, force: true });
        fs.cpSync(image.dir, home, { recursive: true });
      } else {
        fs.rmSync(dataDir, { recursive: true, force: true });
        fs.cpSync(path.join(image.dir, path.relative(home, dataDir)), dataDir, { recursive: true });
      }
      w.label =
        `roll back ${spec.scope === 'home' ? 'the whole home' : 'data/'} of ${leader === id ? 'leader ' : ''}${id} to an image from ` +
        `${secs(Date.now() - image.takenAt)} ago (its term ${image.term}, now ${term ?? '?'})`;
      this.event(`${w.id} ${w.label}`);
      await this.wait(spec.downMs);
      if (this.aborted) return;
      const s = await this.startWatched(id, 10_000);
      const expected = spec.scope === 'home' ? /behind its own past/ : /older than this node's own record|another store than the one this node last ran with/;
      if (s.exited) {
        if (expected.test(s.text)) {
          const by = /([\w.-]+) refused this node/.exec(s.text)?.[1];
          w.notes.push(spec.scope === 'home' ? `${id} refused by ${by ?? 'a peer'} ("behind its own past") ${secs(s.ms)} after its start` : `${id} refused at start by its own record (${secs(s.ms)})`);
        } else w.notes.push(`${UNEXPECTED} ${id} stopped, but not with the expected refusal: ${refusalLine(s.text)}`);
        // The procedure: keep the store aside (here: drop it), empty data/, rejoin as a learner.
        fs.rmSync(this.cluster.dataDir(id), { recursive: true, force: true });
        await this.rejoin(id, w);
      } else {
        w.notes.push(
          detectable
            ? `${UNEXPECTED} ${id} was not refused: it runs with a ${spec.scope === 'home' ? 'home' : 'data/'} from term ${image.term} while it had reached term ${term}`
            : `${id} was not refused: no term went by since the image, so no peer could tell (as documented)`,
        );
        await this.caughtUp(id, w);
      }
    } finally {
      this.release(id, w);
    }
  }

  /**
   * A second disk loss of a node rejoined before: its config.yaml still says join: true, so when
   * it is restarted (systemd) it starts on a new store without refusing. That store must count for
   * nothing: with the leader SIGKILLed meanwhile (killLeaderMs), the remaining voter must not be
   * elected with its vote. Then remove, add-learner, promote, with the node already running.
   */
  private async wipeRejoined(spec: Extract<FaultSpec, { kind: 'wipe-rejoined' }>): Promise<void> {
    const op = this.operatorOf();
    const rejoined = this.cluster.ids.filter((x) => !this.busy.has(x) && !this.lost.has(x) && op.joinFlag(x));
    const target: NodeTarget = rejoined.length > 0 ? { role: 'node', index: this.cluster.ids.indexOf(this.random.pick(rejoined)) } : spec.target;
    const id = await this.claim(spec, target);
    if (id === null) return;
    const w = this.open(spec, [id], '');
    try {
      if (!op.joinFlag(id)) {
        // Never rejoined yet: its first disk loss, rejoined the documented way.
        const leader = await this.leader(0);
        await this.cluster.kill(id);
        if (leader === id) this.leaderKills.push({ at: Date.now(), node: id, faultId: w.id, kind: spec.kind });
        fs.rmSync(this.cluster.dataDir(id), { recursive: true, force: true });
        this.event(`${w.id} first disk loss of ${leader === id ? 'leader ' : ''}${id}: wipe, rejoin`);
        await this.rejoin(id, w);
        if (this.lost.has(id) || this.aborted) return;
      }
      const leader = await this.leader(0);
      await this.cluster.kill(id);
      if (leader === id) this.leaderKills.push({ at: Date.now(), node: id, faultId: w.id, kind: spec.kind });
      fs.rmSync(this.cluster.dataDir(id), { recursive: true, force: true });
      w.label = `second disk loss of ${leader === id ? 'leader ' : ''}${id} (join: true left from its rejoin), restarted at once${spec.killLeaderMs > 0 ? `, leader SIGKILLed ${secs(spec.killLeaderMs)} meanwhile` : ''}`;
      this.event(`${w.id} ${w.label}`);
      await this.wait(spec.downMs);
      if (this.aborted) return;
      if (!(await this.startUnnamed(id, w))) throw new Error('it did not start');
      if (spec.killLeaderMs > 0) await this.killLeaderWhileUnnamed(id, spec.killLeaderMs, w);
      if (this.aborted) return;
      const started = Date.now();
      await must('remove', op.remove(id));
      await must('add-learner', op.addLearner(id));
      await this.caughtUp(id, w);
      await must('promote', op.promote(id));
      this.homeImages.delete(id);
      w.notes.push(`${id} removed, re-added as a learner and promoted in ${secs(Date.now() - started)}`);
    } catch (err) {
      await this.loseNode(id, w, `${id} could not rejoin: ${(err as Error).message}; left down`);
    } finally {
      this.release(id, w);
    }
  }

  /** SIGKILLs the leader for `ms` while `unnamed` runs on a store the membership does not name: no leader may appear. */
  private async killLeaderWhileUnnamed(unnamed: string, ms: number, w: FaultWindow): Promise<void> {
    const a = await this.leader(3000);
    if (a === null || a === unnamed) {
      w.notes.push(`no leader other than ${unnamed} to SIGKILL`);
      return;
    }
    const tag = `${w.id}/${a}`;
    this.health.faultNode(a, tag);
    try {
      await this.cluster.kill(a);
      const leaders = new Set<string>();
      const end = Date.now() + ms;
      while (!this.aborted && Date.now() < end) {
        for (const v of await this.cluster.status(400)) if (v.role === 'leader') leaders.add(`${v.id} (term ${v.term})`);
        await this.wait(150);
      }
      w.notes.push(
        leaders.size > 0
          ? `${UNEXPECTED} with leader ${a} down and ${unnamed} on an unnamed store, ${[...leaders].join(', ')} led: the new store was counted`
          : `leader ${a} SIGKILLed for ${secs(ms)}: no leader meanwhile (${unnamed}'s new store did not count)`,
      );
      await this.cluster.start(a);
      await this.caughtUp(a, w);
    } finally {
      if (!this.cluster.isRunning(a) && !this.aborted) await this.cluster.start(a);
      this.health.clearNode(a, tag);
    }
  }

  /** A node started with another node's tls/: in a spare home, or in its own (stopped meanwhile). */
  private async foreignCert(spec: Extract<FaultSpec, { kind: 'foreign-cert' }>): Promise<void> {
    const op = this.operatorOf();
    const ids = this.cluster.ids;
    if (!spec.inPlace) {
      const id = await this.resolve(spec.target, new Set());
      if (id === null) return this.skip(spec, 'no node');
      const others = ids.filter((x) => x !== id);
      const from = others[spec.from % others.length] as string;
      const w = this.open(spec, [], `start a spare home of ${id} holding ${from}'s tls/`);
      w.nodes = [id];
      this.event(`${w.id} ${w.label}`);
      const dir = path.join(this.options.backupDir, `spare-${id}-${++this.backupSeq}`);
      try {
        op.spareHome(id, dir);
        copyTls(op, op.home(from), dir);
        const spare = op.startSpare(`spare-${id}`, dir);
        const t = Date.now();
        await Promise.race([spare.exited, this.wait(10_000)]);
        const exited = !spare.running();
        this.noteCertRefusal(w, id, from, exited, Date.now() - t, spare.output());
        if (!exited) await spare.kill();
        if (fs.existsSync(path.join(dir, 'data'))) w.notes.push(`${UNEXPECTED} the start created a data directory before it refused`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
        this.close(w);
      }
      return;
    }
    const id = await this.claim(spec, spec.target);
    if (id === null) return;
    const others = ids.filter((x) => x !== id);
    const from = others[spec.from % others.length] as string;
    const w = this.open(spec, [id], '');
    const aside = path.join(this.options.backupDir, `tls-${id}-${++this.backupSeq}`);
    try {
      const leader = await this.leader(0);
      await this.cluster.kill(id);
      if (leader === id) this.leaderKills.push({ at: Date.now(), node: id, faultId: w.id, kind: spec.kind });
      fs.mkdirSync(aside, { recursive: true });
      copyTls(op, op.home(id), aside);
      copyTls(op, op.home(from), op.home(id));
      w.label = `SIGKILL ${leader === id ? 'leader ' : ''}${id}, start it with ${from}'s tls/ in its home`;
      this.event(`${w.id} ${w.label}`);
      const s = await this.startWatched(id, 10_000);
      this.noteCertRefusal(w, id, from, s.exited, s.ms, s.text);
      if (!s.exited) await this.cluster.kill(id);
    } finally {
      // Its own certificate back, and the node with it.
      if (fs.existsSync(aside)) copyTls(op, aside, op.home(id));
      fs.rmSync(aside, { recursive: true, force: true });
      await this.restart(id, w);
      this.release(id, w);
    }
  }

  private noteCertRefusal(w: FaultWindow, id: string, from: string, exited: boolean, ms: number, text: string): void {
    if (exited && new RegExp(`is node ${from}'s, but config\\.yaml says this node is ${id}`).test(text)) {
      w.notes.push(`start refused in ${secs(ms)}: the certificate is ${from}'s, not ${id}'s`);
    } else if (exited) w.notes.push(`${UNEXPECTED} the start stopped, but not with the certificate refusal: ${refusalLine(text)}`);
    else w.notes.push(`${UNEXPECTED} a home of ${id} started with ${from}'s certificate and ran for ${secs(ms)}`);
  }

  /**
   * A second process with a node's certificate and key (its home image, no data/, join: true, on
   * another port) runs for a while: peers refuse its Raft streams while the real node's are live
   * ("duplicate identity"), and the leader and its term must not change.
   */
  private async duplicateIdentity(spec: Extract<FaultSpec, { kind: 'duplicate-identity' }>): Promise<void> {
    const op = this.operatorOf();
    if (this.busy.size > 0) return this.skip(spec, 'another node fault is in progress');
    const leader = await this.leader(3000);
    if (leader === null) return this.skip(spec, 'no leader to watch');
    const id = await this.resolve(spec.target, new Set());
    if (id === null) return this.skip(spec, 'no node');
    const term = (await this.viewOf(leader))?.term ?? null;
    const others = this.cluster.ids.filter((x) => x !== id);
    const offsets = new Map(others.map((o) => [o, op.logSize(o)]));
    const w = this.open(spec, [id], `a second process with ${leader === id ? 'leader ' : ''}${id}'s certificate and key on another port`);
    this.event(`${w.id} ${w.label} ${secs(spec.durationMs)}`);
    const dir = path.join(this.options.backupDir, `twin-${id}-${++this.backupSeq}`);
    let twin: SpareProcess | null = null;
    try {
      op.spareHome(id, dir);
      twin = op.startSpare(`twin-${id}`, dir);
      const leaders = new Set<string>();
      const end = Date.now() + spec.durationMs;
      while (!this.aborted && Date.now() < end) {
        for (const v of await this.cluster.status(400)) if (v.role === 'leader') leaders.add(`${v.id}@${v.term}`);
        await this.wait(200);
      }
      const ran = twin.running();
      await twin.kill();
      const refusers = others.filter((o) => op.logSince(o, offsets.get(o) ?? 0).includes(`duplicate identity ${id} from`));
      w.notes.push(
        `the second ${id} ${ran ? 'ran until killed' : `stopped: ${refusalLine(twin.output())}`}; ` +
          (refusers.length > 0 ? `refused as a duplicate identity by ${refusers.join(', ')}` : 'no peer logged a duplicate identity'),
      );
      const kept = `${leader}@${term}`;
      if ([...leaders].every((l) => l === kept)) w.notes.push(`leader ${leader} kept term ${term}`);
      else w.notes.push(`${UNEXPECTED} the cluster did not keep its leader: ${kept} before, then ${[...leaders].join(', ')}`);
    } finally {
      await twin?.kill();
      fs.rmSync(dir, { recursive: true, force: true });
      this.close(w);
    }
  }

  /**
   * Starts a node whose store is new (join: true) and waits until it answers: it must run, and the
   * membership must not name its store. False when it did not start.
   */
  private async startUnnamed(id: string, w: FaultWindow): Promise<boolean> {
    const s = await this.startWatched(id, 10_000, async () => (await this.viewOf(id))?.role != null);
    if (s.exited) {
      w.notes.push(`${UNEXPECTED} ${id} refused to start on a new store with join: true: ${refusalLine(s.text)}`);
      return false;
    }
    const v = await this.viewOf(id);
    // A status without a store id says nothing about whether the membership names the store.
    if (v?.storeId == null || v.storeId === '') w.notes.push(`${id} started on a new store without refusing (its status carries no store id)`);
    else if (v.storeNamed === true) w.notes.push(`${UNEXPECTED} ${id} runs on a new store that the membership names`);
    else w.notes.push(`${id} started on a new store (${v.storeId.slice(0, 8)}) without refusing; the membership does not name it`);
    return true;
  }

  /**
   * Starts a node and watches it for up to `windowMs`: whether it exits (refuses) first, how long
   * that took, and what it wrote since. `until` ends the watch early once it is true.
   */
  private async startWatched(id: string, windowMs: number, until?: () => Promise<boolean>): Promise<{ exited: boolean; ms: number; text: string }> {
    const op = this.operatorOf();
    const offset = op.logSize(id);
    const started = Date.now();
    await this.cluster.start(id);
    while (!this.aborted && Date.now() - started < windowMs) {
      if (!this.cluster.isRunning(id)) break;
      if (until !== undefined && (await until().catch(() => false))) break;
      await this.wait(100);
    }
    // The process may have written its last line as it exited.
    const exited = !this.cluster.isRunning(id);
    return { exited, ms: Date.now() - started, text: op.logSince(id, offset) };
  }

  private async viewOf(id: string): Promise<SignerNodeView | null> {
    return (await this.cluster.status(800)).find((v) => v.id === id) ?? null;
  }

  private operatorOf(): ClusterOperator {
    const op = this.cluster.operator;
    if (op === undefined) throw new Error('the signer has no operator steps');
    return op;
  }

  /** A node that could not be brought back: down, and faulted, for the rest of the run. */
  private async loseNode(id: string, w: FaultWindow, note: string): Promise<void> {
    w.notes.push(note);
    this.lost.add(id);
    this.health.faultNode(id, `lost/${id}`);
    if (this.cluster.isRunning(id)) await this.cluster.kill(id);
  }

  /** Copies a stopped or frozen node's whole home (for rollback-home); keeps the oldest and the newest few. */
  private takeHomeImage(id: string): void {
    const op = this.cluster.operator;
    if (op === undefined) return;
    const dir = path.join(this.options.backupDir, `home-${id}-${++this.backupSeq}`);
    fs.cpSync(op.home(id), dir, { recursive: true });
    let term = 0;
    try {
      term = readStoreHighWater(dir)?.term ?? 0;
    } catch {
      // An unreadable record: the image is still an image.
    }
    const list = this.homeImages.get(id) ?? [];
    list.push({ dir, takenAt: Date.now(), term });
    while (list.length > MAX_BACKUPS_PER_NODE) {
      const [dropped] = list.splice(1, 1);
      if (dropped !== undefined) fs.rmSync(dropped.dir, { recursive: true, force: true });
    }
    this.homeImages.set(id, list);
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
      this.homeImages.delete(id);
      w.notes.push(`${id} rejoined as a learner and was promoted in ${secs(Date.now() - started)}`);
    } catch (err) {
      await this.loseNode(id, w, `${id} could not rejoin: ${(err as Error).message}; left down`);
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

  private get aborted(): boolean {
    return this.aborting.signal.aborted;
  }

  private wait(ms: number): Promise<void> {
    return sleep(ms, { signal: this.aborting.signal });
  }

  private event(line: string): void {
    this.options.onEvent?.(line);
  }
}

/** Faults that take a node out (they count against the healthy majority through open/close). */
const nodeFaultKinds: ReadonlySet<FaultKind> = new Set(['kill-leader', 'kill', 'wipe', 'pause', 'restore', 'rejoin-misordered', 'rollback-home', 'wipe-rejoined', 'foreign-cert']);

function durationOf(spec: Extract<FaultSpec, { durationMs: number }>): number {
  return spec.durationMs;
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Runs an operator step and throws, with its first line, if it failed. */
async function must(what: string, step: Promise<OperatorResult>): Promise<OperatorResult> {
  const r = await step;
  if (r.code !== 0) throw new Error(`raft-signer cluster ${what} failed (exit ${r.code}): ${excerpt(r.output)}`);
  return r;
}

/** The first line of a command's output, shortened for a note. */
function excerpt(text: string, max = 200): string {
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/** The line a refused start ends with ("error: ..."), shortened for a note. */
function refusalLine(text: string, max = 200): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const line = [...lines].reverse().find((l) => /^error\b/i.test(l)) ?? lines[lines.length - 1] ?? '(nothing written)';
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/** Copies the node certificate and key of one home (or a directory holding them) into another. */
function copyTls(op: ClusterOperator, fromHome: string, toHome: string): void {
  const from = op.tlsFiles(fromHome);
  const to = op.tlsFiles(toHome);
  fs.mkdirSync(path.dirname(to.cert), { recursive: true });
  fs.copyFileSync(from.cert, to.cert);
  fs.copyFileSync(from.key, to.key);
  fs.chmodSync(to.key, 0o600);
}
