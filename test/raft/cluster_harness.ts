// A hand-driven cluster for scenario tests: messages move only when the test says so, and a
// filter can drop any of them. Each node is the production ReplicaDriver (src/replica/driver.ts)
// over a host that does nothing by itself: its turns run only when the harness says so (one per
// node per processReadies, the lockstep the Raft paper's scenarios are written in), a write is
// durable at once in an in-memory "disk" that survives crash(), and sent messages wait in
// `pending`. Tests may still step the core directly (h.raft(id)) between turns.

import { silentLogger } from '../../src/log/logger';
import { Raft, RaftConfig, RaftPersistedState, bootstrapState } from '../../src/raft/raft';
import { SeededRandom } from '../../src/raft/rng';
import type { StateMachine } from '../../src/raft/state_machine';
import { EntryType, Message, MessageType, NodeId, Ready, Role } from '../../src/raft/types';
import { ReplicaDriver } from '../../src/replica/driver';
import type { Clock } from '../../src/replica/host';
import { MemoryRaftDisk, persistBatch } from '../../src/sim/memory_raft_disk';
import { RaftInvariantChecker } from '../../src/sim/raft_invariants';

export interface Disk extends MemoryRaftDisk {
  applied: number;
}

export interface HarnessNode {
  id: NodeId;
  /** The store's identity ('' unless the harness was made with incarnations). */
  incarnation: string;
  raft: Raft;
  driver: ReplicaDriver;
  disk: Disk;
  up: boolean;
  /** Normal entries this node applied, as strings, in order. */
  appliedData: string[];
  readies: Ready[];
  /** The driver's turns waiting for the next processReadies. */
  turns: (() => void)[];
}

export type MessageFilter = (m: Message) => boolean;

export class ClusterHarness {
  readonly nodes = new Map<NodeId, HarnessNode>();
  readonly checker = new RaftInvariantChecker(() => 0);
  /** Messages sent and not yet delivered. */
  pending: Message[] = [];
  private filters: MessageFilter[] = [];
  private seed = 1;
  readonly sent: Message[] = [];

  private stores = 0;

  constructor(
    ids: NodeId[],
    private readonly config: Partial<RaftConfig> = {},
    private readonly factory: (c: RaftConfig, p?: RaftPersistedState) => Raft = (c, p) => new Raft(c, p),
    /** Give every store an incarnation, named in the founding entry (as real nodes have). */
    private readonly withIncarnations = false,
  ) {
    const incarnations = Object.fromEntries(ids.map((id) => [id, this.newIncarnation(id)]));
    const boot = withIncarnations ? bootstrapState(ids, incarnations) : bootstrapState(ids);
    for (const id of ids) this.add(id, { ...boot, entries: boot.entries.slice() }, incarnations[id]);
  }

  /** A fresh store id for `id` ('' without incarnations). */
  newIncarnation(id: NodeId): string {
    return this.withIncarnations ? `${id}-store${++this.stores}` : '';
  }

  /**
   * The node's data directory is lost: it restarts on a new, empty store (a new incarnation), as a
   * node started with `join: true` does. Returns the new incarnation.
   */
  wipe(id: NodeId): string {
    const n = this.node(id);
    this.crash(id);
    n.disk = { hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [], applied: 0 };
    n.appliedData = [];
    n.incarnation = this.newIncarnation(id);
    this.restart(id);
    return n.incarnation;
  }

  /** Adds a node with the given durable state (a fresh empty node when omitted). */
  add(id: NodeId, state?: RaftPersistedState, incarnation = this.newIncarnation(id)): HarnessNode {
    const disk: Disk = {
      hardState: state ? { ...state.hardState } : { term: 0, vote: '', commit: 0 },
      snapshot: state?.snapshot ?? null,
      entries: state ? state.entries.slice() : [],
      applied: state?.applied ?? state?.snapshot?.metadata.index ?? 0,
    };
    const node = { id, incarnation, disk, up: true, appliedData: [], readies: [], turns: [] } as unknown as HarnessNode;
    this.nodes.set(id, node);
    this.boot(node);
    return node;
  }

  /** A process on the node's disk: the core and the production driver over the harness's host. */
  private boot(node: HarnessNode): void {
    const disk = node.disk;
    const raft = this.factory(
      {
        id: node.id,
        incarnation: node.incarnation,
        heartbeatTicks: 1,
        electionTicks: 10,
        random: new SeededRandom(this.seed++),
        ...this.config,
      },
      { hardState: { ...disk.hardState }, snapshot: disk.snapshot, entries: disk.entries.slice(), applied: disk.applied },
    );
    node.raft = raft;
    node.turns = [];
    const live = (): boolean => node.raft === raft && node.up;
    // The applied index a batch makes durable (a real state machine writes it in the batch).
    let appliedInBatch = disk.applied;
    const machine: StateMachine = {
      apply: (entries) => {
        for (const e of entries) if (e.type === EntryType.Normal && e.data.length > 0) node.appliedData.push(Buffer.from(e.data).toString());
        return [];
      },
      restore: (data) => {
        node.appliedData = JSON.parse(Buffer.from(data).toString() || '[]') as string[];
        return [];
      },
      snapshot: () => Buffer.from(JSON.stringify(node.appliedData)),
    };
    const clock: Clock = {
      now: () => 0,
      // Time moves only when a test ticks a core itself.
      after: () => ({ cancel: () => undefined }),
      every: () => ({ cancel: () => undefined }),
      soon: (fn) => node.turns.push(fn),
    };
    node.driver = new ReplicaDriver({
      id: node.id,
      raft,
      machine,
      clock,
      disk: {
        persist: (batch, done) => {
          if (live()) {
            persistBatch(disk, batch);
            disk.applied = appliedInBatch;
          }
          done(null);
        },
      },
      network: {
        send: (messages) => {
          if (!live()) return;
          for (const m of messages) {
            this.sent.push(m);
            if (this.filters.every((f) => f(m))) this.pending.push(m);
          }
        },
      },
      tickMs: 1,
      snapshotEntries: Number.POSITIVE_INFINITY,
      logger: silentLogger(),
      observer: {
        ready: (rd, r) => {
          node.readies.push(rd);
          if (rd.entries.length > 0) this.checker.onEntriesWritten(node.id, rd.entries, r.log.term(rd.entries[0].index - 1) ?? 0);
          for (const e of rd.committedEntries) this.checker.onApplied(node.id, e, r.term);
          if (rd.snapshot) appliedInBatch = rd.snapshot.metadata.index;
          if (rd.committedEntries.length > 0) appliedInBatch = rd.committedEntries[rd.committedEntries.length - 1].index;
        },
      },
    });
  }

  node(id: NodeId): HarnessNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  raft(id: NodeId): Raft {
    return this.node(id).raft;
  }

  addFilter(f: MessageFilter): void {
    this.filters.push(f);
  }

  clearFilters(): void {
    this.filters = [];
  }

  /** Drops every message to or from `id`. */
  isolate(id: NodeId): void {
    this.addFilter((m) => m.from !== id && m.to !== id);
  }

  crash(id: NodeId): void {
    const n = this.node(id);
    n.up = false;
    this.pending = this.pending.filter((m) => m.to !== id && m.from !== id);
  }

  restart(id: NodeId): void {
    const n = this.node(id);
    n.up = true;
    this.boot(n);
  }

  /** Runs one driver turn (step what queued, one ready, persist, send, advance) on every live node. */
  processReadies(): void {
    for (const n of this.nodes.values()) {
      if (!n.up) continue;
      // A turn for what a test did to the core directly (campaign, tick, step) since the last one.
      if (n.turns.length === 0 && n.raft.hasReady()) n.driver.call(() => undefined, () => undefined);
      for (const turn of n.turns.splice(0)) turn();
      if (n.raft.role === Role.Leader) {
        const r = n.raft;
        this.checker.onLeader(n.id, r.term, { snapshotIndex: r.log.snapshot.metadata.index, lastIndex: r.log.lastIndex(), term: (i) => r.log.term(i) });
      }
    }
  }

  /** Delivers messages (and the messages they cause) until the network is quiet. */
  stabilize(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      this.processReadies();
      if (this.pending.length === 0) return;
      const batch = this.pending;
      this.pending = [];
      for (const m of batch) {
        const to = this.nodes.get(m.to);
        if (to?.up) to.raft.step(m);
      }
    }
    throw new Error('the cluster did not settle');
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) {
      this.node(id).raft.tick();
      this.processReadies();
    }
  }

  /** Ticks every live node `times` times, delivering messages after each tick. */
  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const n of this.nodes.values()) if (n.up) n.raft.tick();
      this.stabilize();
    }
  }

  campaign(id: NodeId): void {
    this.raft(id).campaign();
    this.stabilize();
  }

  propose(id: NodeId, data: string): { index: number; term: number } {
    const r = this.raft(id).propose(Buffer.from(data));
    this.stabilize();
    return r;
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.up && n.raft.role === Role.Leader).map((n) => n.id);
  }

  logTerms(id: NodeId): number[] {
    const log = this.raft(id).log;
    const out: number[] = [];
    for (let i = log.firstIndex(); i <= log.lastIndex(); i++) out.push(log.term(i) as number);
    return out;
  }
}

/** Durable state with the given entry terms after the bootstrap entry (index 1, term 1). */
export function stateWithLog(voters: NodeId[], terms: number[], term: number, commit = 1): RaftPersistedState {
  const boot = bootstrapState(voters);
  const entries = boot.entries.slice();
  terms.forEach((t, i) => entries.push({ term: t, index: i + 2, type: EntryType.Normal, data: Buffer.from(`e${i + 2}t${t}`) }));
  return { hardState: { term, vote: '', commit }, snapshot: null, entries };
}

/**
 * The logs of the paper's figure 8, after step (b): s1 led term 2 and put index 2 on s2 only; s5 led
 * term 3 and wrote its own index 2. Appends carry one entry each, so old and new entries travel apart.
 */
export function figure8Cluster(factory?: (c: RaftConfig, p?: RaftPersistedState) => Raft): ClusterHarness {
  const five = ['s1', 's2', 's3', 's4', 's5'];
  const h = new ClusterHarness([], { maxAppendEntries: 1 }, factory);
  h.add('s1', stateWithLog(five, [2], 3));
  h.add('s2', stateWithLog(five, [2], 3));
  h.add('s3', stateWithLog(five, [], 3));
  h.add('s4', stateWithLog(five, [], 3));
  h.add('s5', stateWithLog(five, [3], 3));
  return h;
}

/**
 * Figure 8 set-up: s4 and s5 are cut off, and s1's first term-4 entry (index 3) reaches s2 (which
 * needs nothing else) but never s3, which gets only the old index 2 after its first rejection.
 */
export function holdUpNewTermEntry(h: ClusterHarness): void {
  h.isolate('s5');
  h.isolate('s4');
  let firstProbeOfS3 = true;
  h.addFilter((m) => {
    if (m.type !== MessageType.Append || m.to !== 's3' || !m.entries.some((e) => e.index === 3)) return true;
    const pass = firstProbeOfS3; // s3 lacks index 2, so it rejects this probe
    firstProbeOfS3 = false;
    return pass;
  });
}

