// A deterministic simulation of a Raft cluster: the real core, driven exactly as the node driver
// drives it (persist, apply, then send; nothing stepped between ready() and advance()), under a
// seeded virtual clock, a faulty network (delay, loss, duplication, reordering, symmetric and
// one-way partitions), crashes that lose whatever was not yet durable, pauses, restarts,
// membership changes and leadership transfers. Every invariant is checked after every event, and
// liveness is checked once the faults heal. The same seed replays the same run.

import { ProposalRefusedError } from '../raft/errors';
import { Raft, RaftConfig, RaftPersistedState, bootstrapState } from '../raft/raft';
import { SeededRandom } from '../raft/rng';
import { Entry, EntryType, Message, NodeId, Ready, Role } from '../raft/types';
import { EventQueue } from './event_queue';
import { MemoryRaftDisk, persistReady } from './memory_raft_disk';
import { RaftInvariantChecker } from './raft_invariants';

export interface SimulationOptions {
  seed: number;
  /** Founding voters: 3 or 5. */
  nodes: number;
  /** Virtual milliseconds of faults. */
  chaosMs?: number;
  /** Virtual milliseconds allowed, after every fault heals, for a new proposal to commit. */
  livenessMs?: number;
  /** Mix in learner additions, promotions and removals (default true). */
  membershipChanges?: boolean;
  /** Compact the log after this many applied entries (default 25). */
  compactEvery?: number;
  /** Build the core; tests plug in a deliberately broken one to show the checker catches it. */
  raftFactory?: (config: RaftConfig, persisted?: RaftPersistedState) => Raft;
  /** A deliberately unsafe driver that sends messages before persisting (tests only). */
  sendBeforePersist?: boolean;
}

export interface SimulationResult {
  seed: number;
  nodes: number;
  events: number;
  violations: string[];
  committed: number;
  leaderChanges: number;
  crashes: number;
}

const TICK_MS = 10;
const HEARTBEAT_TICKS = 3;
const ELECTION_TICKS = 15;

type Fault = 'crash' | 'pause' | 'partition' | 'isolate-leader' | 'one-way' | 'network' | 'transfer' | 'membership' | 'none';

/**
 * Each seed draws a profile: 'mixed' spreads faults evenly; 'crashy' mostly crashes nodes at bad
 * moments and cuts the leader off, the pattern behind the paper's figure 8 and lost-write bugs.
 */
type Profile = 'mixed' | 'crashy';
const FAULT_PROFILES: Record<Profile, [Fault, number][]> = {
  mixed: [['crash', 18], ['pause', 10], ['partition', 15], ['isolate-leader', 10], ['one-way', 8], ['network', 8], ['transfer', 8], ['membership', 13], ['none', 10]],
  crashy: [['crash', 45], ['pause', 5], ['partition', 10], ['isolate-leader', 25], ['one-way', 5], ['network', 5], ['transfer', 2], ['membership', 3]],
};
const FAULT_WEIGHT_TOTAL: Record<Profile, number> = {
  mixed: FAULT_PROFILES.mixed.reduce((a, [, w]) => a + w, 0),
  crashy: FAULT_PROFILES.crashy.reduce((a, [, w]) => a + w, 0),
};

type SimEvent =
  | { kind: 'tick'; node: NodeId; epoch: number }
  | { kind: 'deliver'; msg: Message }
  | { kind: 'persisted'; node: NodeId; epoch: number; ready: Ready }
  | { kind: 'propose' }
  | { kind: 'nemesis' }
  | { kind: 'restart'; node: NodeId }
  | { kind: 'resume'; node: NodeId }
  | { kind: 'heal-link'; key: string }
  | { kind: 'heal' }
  | { kind: 'decommission'; node: NodeId };

interface DurableState extends MemoryRaftDisk {
  machine: MachineState;
}

/** The simulated state machine: how many entries applied and a hash chain over them. */
interface MachineState {
  applied: number;
  digest: string;
}

class SimNode {
  up = false;
  paused = false;
  decommissioned = false;
  busy = false;
  epoch = 0;
  raft: Raft | null = null;
  inbox: Message[] = [];
  pendingTicks = 0;
  machine: MachineState = { applied: 0, digest: '' };
  constructor(
    readonly id: NodeId,
    public disk: DurableState,
  ) {}
}

export function runSimulation(options: SimulationOptions): SimulationResult {
  return new Simulation(options).run();
}

class Simulation {
  private readonly rng: SeededRandom;
  private readonly queue = new EventQueue<SimEvent>();
  private now = 0;
  private events = 0;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly checker: RaftInvariantChecker;
  private readonly blocked = new Set<string>();
  private lossRate = 0;
  private dupRate = 0;
  private maxDelayMs = 10;
  /** fsync latency varies by seed: a slow disk widens the window between ready() and durability. */
  private readonly maxDiskMs: number;
  private readonly profile: Profile;
  private readonly maxAppendEntries: number;
  private readonly maxInflightAppends: number;
  private proposalSeq = 0;
  private healed = false;
  private healAt = 0;
  private commitAfterHeal: number | null = null;
  private readonly proposedAfterHeal = new Set<string>();
  private nextNodeNumber: number;
  private leaderChanges = 0;
  private crashes = 0;
  private readonly lastLeaderTerm = new Map<NodeId, number>();
  private readonly chaosMs: number;
  private readonly livenessMs: number;
  private readonly compactEvery: number;
  private readonly factory: (config: RaftConfig, persisted?: RaftPersistedState) => Raft;

  constructor(private readonly opts: SimulationOptions) {
    this.rng = new SeededRandom(opts.seed);
    this.maxDiskMs = this.rng.pick([2, 5, 15]);
    this.profile = this.rng.pick<Profile>(['mixed', 'crashy']);
    // Small appends and windows split a leader's entries across messages, which widens the
    // interleavings (e.g. the figure 8 case needs an old-term entry replicated without the new one).
    this.maxAppendEntries = this.rng.pick([1, 2, 8, 64]);
    this.maxInflightAppends = this.rng.pick([1, 4, 16]);
    this.checker = new RaftInvariantChecker(() => this.now);
    this.chaosMs = opts.chaosMs ?? 5000;
    this.livenessMs = opts.livenessMs ?? 3000;
    this.compactEvery = opts.compactEvery ?? 25;
    this.factory = opts.raftFactory ?? ((c, p) => new Raft(c, p));
    this.nextNodeNumber = opts.nodes;
  }

  run(): SimulationResult {
    const founders = Array.from({ length: this.opts.nodes }, (_, i) => `n${i}`);
    const boot = bootstrapState(founders);
    for (const id of founders) {
      const node = new SimNode(id, {
        hardState: { ...boot.hardState },
        snapshot: null,
        entries: boot.entries.slice(),
        machine: { applied: 0, digest: '' },
      });
      this.nodes.set(id, node);
      this.start(node);
    }
    this.queue.push(50, { kind: 'propose' });
    this.queue.push(this.rng.between(100, 300), { kind: 'nemesis' });
    this.queue.push(this.chaosMs, { kind: 'heal' });
    const end = this.chaosMs + this.livenessMs;
    for (;;) {
      const ev = this.queue.pop();
      if (!ev || ev.at > end) break;
      this.now = ev.at;
      this.events++;
      this.handle(ev.value);
      if (this.checker.violations.length > 0) break;
    }
    if (this.checker.violations.length === 0) this.checkNothingCommittedLost();
    if (this.checker.violations.length === 0 && this.commitAfterHeal === null) {
      this.checker.violations.push(
        `liveness: no proposal committed within ${this.livenessMs}ms after every fault healed (t=${this.healAt}ms)`,
      );
    }
    return {
      seed: this.opts.seed,
      nodes: this.opts.nodes,
      events: this.events,
      violations: this.checker.violations,
      committed: this.checker.highestCommitted(),
      leaderChanges: this.leaderChanges,
      crashes: this.crashes,
    };
  }

  /**
   * Durability: every entry ever applied anywhere is still held, with its term, by a majority of
   * the final membership's durable stores (its log or a snapshot covering it).
   */
  private checkNothingCommittedLost(): void {
    const { voters } = this.members();
    if (voters.length === 0) return;
    const quorum = Math.floor(voters.length / 2) + 1;
    for (let i = 1; i <= this.checker.highestCommitted(); i++) {
      const term = this.checker.committedTerm(i);
      if (term === undefined) continue;
      const holders = voters.filter((id) => {
        const d = (this.nodes.get(id) as SimNode).disk;
        if (d.snapshot && d.snapshot.metadata.index >= i) return true;
        return d.entries.some((e) => e.index === i && e.term === term);
      });
      if (holders.length < quorum) {
        this.checker.violations.push(
          `durability: committed index ${i} (term ${term}) is held by ${holders.length} of the final voters ${voters.join(',')}, fewer than a majority`,
        );
        return;
      }
    }
  }

  // --- node lifecycle -------------------------------------------------------------------------

  private start(node: SimNode): void {
    const d = node.disk;
    node.raft = this.factory(
      {
        id: node.id,
        heartbeatTicks: HEARTBEAT_TICKS,
        electionTicks: ELECTION_TICKS,
        random: new SeededRandom(this.rng.nextUint32()),
        maxAppendEntries: this.maxAppendEntries,
        maxInflightAppends: this.maxInflightAppends,
      },
      { hardState: { ...d.hardState }, snapshot: d.snapshot, entries: d.entries.slice(), applied: d.machine.applied },
    );
    node.machine = { ...d.machine };
    node.up = true;
    node.paused = false;
    node.busy = false;
    node.inbox = [];
    node.pendingTicks = 0;
    node.epoch++;
    this.queue.push(this.now + this.rng.between(1, TICK_MS), { kind: 'tick', node: node.id, epoch: node.epoch });
  }

  private crash(node: SimNode): void {
    // Whatever was handed out by ready() but not yet persisted is lost with the process.
    node.up = false;
    node.raft = null;
    node.busy = false;
    node.inbox = [];
    node.epoch++;
    this.crashes++;
  }

  // --- events ---------------------------------------------------------------------------------

  private handle(ev: SimEvent): void {
    switch (ev.kind) {
      case 'tick': {
        const node = this.nodes.get(ev.node) as SimNode;
        if (node.epoch !== ev.epoch || !node.up) return;
        this.queue.push(this.now + TICK_MS, ev);
        if (node.paused) return;
        if (node.busy) node.pendingTicks++;
        else {
          (node.raft as Raft).tick();
          this.afterInput(node);
        }
        return;
      }
      case 'deliver': {
        const node = this.nodes.get(ev.msg.to);
        if (!node || !node.up) return;
        if (node.paused || node.busy) node.inbox.push(ev.msg);
        else {
          (node.raft as Raft).step(ev.msg);
          this.afterInput(node);
        }
        return;
      }
      case 'persisted': {
        const node = this.nodes.get(ev.node) as SimNode;
        if (node.epoch !== ev.epoch || !node.up) return;
        this.completeReady(node, ev.ready);
        return;
      }
      case 'propose':
        this.queue.push(this.now + this.rng.between(10, 40), { kind: 'propose' });
        this.propose();
        return;
      case 'nemesis':
        if (this.healed) return;
        this.queue.push(this.now + this.rng.between(30, 300), { kind: 'nemesis' });
        this.nemesis();
        return;
      case 'restart': {
        const node = this.nodes.get(ev.node) as SimNode;
        if (!node.up && !node.decommissioned) this.start(node);
        return;
      }
      case 'resume': {
        const node = this.nodes.get(ev.node) as SimNode;
        if (node.up && node.paused) {
          node.paused = false;
          this.drain(node);
        }
        return;
      }
      case 'heal-link':
        this.blocked.delete(ev.key);
        return;
      case 'heal':
        this.heal();
        return;
      case 'decommission': {
        const node = this.nodes.get(ev.node) as SimNode;
        const { voters, learners } = this.members();
        if (voters.includes(node.id) || learners.includes(node.id)) return; // the removal did not commit
        if (node.up) this.crash(node);
        node.decommissioned = true;
        return;
      }
    }
  }

  /** After a tick or step: check election safety, then start persisting if there is work. */
  private afterInput(node: SimNode): void {
    const raft = node.raft as Raft;
    if (raft.role === Role.Leader && this.lastLeaderTerm.get(node.id) !== raft.term) {
      this.lastLeaderTerm.set(node.id, raft.term);
      this.leaderChanges++;
      this.checker.onLeader(node.id, raft.term, {
        snapshotIndex: raft.log.snapshot.metadata.index,
        lastIndex: raft.log.lastIndex(),
        term: (i) => raft.log.term(i),
      });
    }
    if (node.busy || !raft.hasReady()) return;
    const rd = raft.ready();
    node.busy = true;
    if (rd.entries.length > 0) {
      const prevTerm = raft.log.term(rd.entries[0].index - 1) ?? 0;
      this.checker.onEntriesWritten(node.id, rd.entries, prevTerm);
    }
    if (this.opts.sendBeforePersist) this.sendAll(rd.messages);
    const latency = rd.mustSync ? this.rng.between(1, this.maxDiskMs) : 0;
    this.queue.push(this.now + latency, { kind: 'persisted', node: node.id, epoch: node.epoch, ready: rd });
  }

  private completeReady(node: SimNode, rd: Ready): void {
    const raft = node.raft as Raft;
    const d = node.disk;
    // 1. Persist, as one atomic write.
    persistReady(d, rd);
    // 2. Apply (the state machine's durable image is written in the same batch).
    if (rd.snapshot) node.machine = decodeMachine(rd.snapshot.data);
    for (const e of rd.committedEntries) {
      this.checker.onApplied(node.id, e, raft.term);
      node.machine = applyToMachine(node.machine, e);
      if (this.healed && e.type === EntryType.Normal && this.proposedAfterHeal.has(dataKey(e.data))) {
        this.commitAfterHeal ??= this.now;
      }
    }
    d.machine = { ...node.machine };
    // 3. Send, now that what the messages promise is durable.
    if (!this.opts.sendBeforePersist) this.sendAll(rd.messages);
    raft.advance();
    node.busy = false;
    if (node.machine.applied - raft.log.snapshot.metadata.index >= this.compactEvery) {
      raft.compact(node.machine.applied, encodeMachine(node.machine));
    }
    this.drain(node);
  }

  /** Steps what queued up while the node was busy or paused. */
  private drain(node: SimNode): void {
    if (!node.up || node.paused || node.busy) return;
    const raft = node.raft as Raft;
    while (node.pendingTicks > 0) {
      node.pendingTicks--;
      raft.tick();
    }
    const inbox = node.inbox;
    node.inbox = [];
    for (const m of inbox) raft.step(m);
    this.afterInput(node);
  }

  // --- network --------------------------------------------------------------------------------

  private sendAll(messages: Message[]): void {
    for (const m of messages) {
      if (this.blocked.has(`${m.from}>${m.to}`)) continue;
      if (this.rng.chance(this.lossRate)) continue;
      this.queue.push(this.now + this.rng.between(1, this.maxDelayMs), { kind: 'deliver', msg: m });
      if (this.rng.chance(this.dupRate)) {
        this.queue.push(this.now + this.rng.between(1, this.maxDelayMs * 3), { kind: 'deliver', msg: m });
      }
    }
  }

  private block(from: NodeId, to: NodeId, forMs: number): void {
    const key = `${from}>${to}`;
    this.blocked.add(key);
    this.queue.push(this.now + forMs, { kind: 'heal-link', key });
  }

  // --- client and faults ----------------------------------------------------------------------

  private liveNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.up);
  }

  private leaders(): SimNode[] {
    return this.liveNodes().filter((n) => !n.busy && !n.paused && n.raft?.role === Role.Leader);
  }

  private propose(): void {
    const leaders = this.leaders();
    if (leaders.length === 0) return;
    const node = this.rng.pick(leaders);
    const key = `p${this.proposalSeq++}`;
    try {
      (node.raft as Raft).propose(Buffer.from(key));
      if (this.healed) this.proposedAfterHeal.add(key);
      this.afterInput(node);
    } catch (e) {
      if (!(e instanceof ProposalRefusedError)) throw e;
    }
  }

  private members(): { voters: NodeId[]; learners: NodeId[] } {
    // The membership as the most advanced live node knows it.
    let best: Raft | null = null;
    for (const n of this.liveNodes()) {
      const r = n.raft as Raft;
      if (!best || r.log.commit > best.log.commit) best = r;
    }
    return best ? best.confState : { voters: [], learners: [] };
  }

  private nemesis(): void {
    const ids = [...this.nodes.values()].filter((n) => !n.decommissioned).map((n) => n.id);
    const fault = this.pickFault();
    if (fault === 'crash') {
      // Crash a node (often the leader) and restart it later.
      // Often at the worst moment: while its fsync is in flight (a power cut mid-write).
      const leaders = this.leaders();
      const live = this.liveNodes();
      const writing = live.filter((n) => n.busy);
      const victim =
        writing.length > 0 && this.rng.chance(0.5)
          ? this.rng.pick(writing)
          : leaders.length > 0 && this.rng.chance(0.5)
            ? this.rng.pick(leaders)
            : live.length
              ? this.rng.pick(live)
              : null;
      if (victim) {
        this.crash(victim);
        this.queue.push(this.now + this.rng.between(20, 800), { kind: 'restart', node: victim.id });
      }
    } else if (fault === 'pause') {
      const live = this.liveNodes().filter((n) => !n.paused);
      if (live.length) {
        const victim = this.rng.pick(live);
        victim.paused = true;
        this.queue.push(this.now + this.rng.between(50, 1000), { kind: 'resume', node: victim.id });
      }
    } else if (fault === 'partition') {
      // A symmetric partition into two random sides.
      const side = new Set(ids.filter(() => this.rng.chance(0.5)));
      const forMs = this.rng.between(100, 1200);
      for (const a of ids) for (const b of ids) if (a !== b && side.has(a) !== side.has(b)) this.block(a, b, forMs);
    } else if (fault === 'isolate-leader') {
      // Isolate the leader.
      const leaders = this.leaders();
      if (leaders.length) {
        const l = this.rng.pick(leaders).id;
        const forMs = this.rng.between(100, 1200);
        for (const b of ids) if (b !== l) {
          this.block(l, b, forMs);
          this.block(b, l, forMs);
        }
      }
    } else if (fault === 'one-way') {
      // A one-way link failure.
      const a = this.rng.pick(ids);
      const b = this.rng.pick(ids);
      if (a !== b) this.block(a, b, this.rng.between(100, 1500));
    } else if (fault === 'network') {
      this.lossRate = this.rng.pick([0, 0, 0.05, 0.2, 0.4]);
      this.dupRate = this.rng.pick([0, 0, 0.05, 0.2]);
      this.maxDelayMs = this.rng.pick([5, 10, 20, 60, 150]);
    } else if (fault === 'transfer') {
      const leaders = this.leaders();
      const { voters } = this.members();
      if (leaders.length && voters.length) {
        const leader = this.rng.pick(leaders);
        try {
          (leader.raft as Raft).transferLeadership(this.rng.pick(voters));
          this.afterInput(leader);
        } catch (e) {
          if (!(e instanceof ProposalRefusedError)) throw e;
        }
      }
    } else if (fault === 'membership' && this.opts.membershipChanges !== false) {
      this.changeMembership();
    }
  }

  private pickFault(): Fault {
    let roll = this.rng.nextInt(FAULT_WEIGHT_TOTAL[this.profile]);
    for (const [fault, weight] of FAULT_PROFILES[this.profile]) {
      if (roll < weight) return fault;
      roll -= weight;
    }
    return 'none';
  }

  /** Voters move between N and N+1: add a fresh learner, promote it, remove some voter. */
  private changeMembership(): void {
    const leaders = this.leaders();
    if (leaders.length === 0) return;
    const leader = this.rng.pick(leaders);
    const raft = leader.raft as Raft;
    const { voters, learners } = raft.confState;
    try {
      if (learners.length > 0) {
        raft.proposeConfChange({ type: 'promote', node: learners[0] });
      } else if (voters.length > this.opts.nodes) {
        const victim = this.rng.pick(voters);
        raft.proposeConfChange({ type: 'remove', node: victim });
        // The operator decommissions the node once the removal has had time to commit; a fresh id
        // is used for every new member, never a wiped old one (a wiped voter forgets its votes).
        this.queue.push(this.now + 1500, { kind: 'decommission', node: victim });
      } else {
        const id = `n${this.nextNodeNumber++}`;
        const node = new SimNode(id, {
          hardState: { term: 0, vote: '', commit: 0 },
          snapshot: null,
          entries: [],
          machine: { applied: 0, digest: '' },
        });
        this.nodes.set(id, node);
        this.start(node);
        raft.proposeConfChange({ type: 'addLearner', node: id });
      }
      this.afterInput(leader);
    } catch (e) {
      if (!(e instanceof ProposalRefusedError)) throw e;
    }
  }

  private heal(): void {
    this.healed = true;
    this.healAt = this.now;
    this.blocked.clear();
    this.lossRate = 0;
    this.dupRate = 0;
    this.maxDelayMs = 10;
    for (const n of this.nodes.values()) {
      if (n.decommissioned) continue;
      if (!n.up) this.start(n);
      else if (n.paused) {
        n.paused = false;
        this.drain(n);
      }
    }
  }
}

function dataKey(data: Uint8Array): string {
  return Buffer.from(data).toString('latin1');
}

function applyToMachine(m: MachineState, e: Entry): MachineState {
  // A cheap order-sensitive digest: equal digests mean equal applied sequences (in practice).
  let h = 2166136261;
  const s = `${m.digest}|${e.index}:${e.term}:${dataKey(e.data)}`;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return { applied: e.index, digest: h.toString(16) };
}

function encodeMachine(m: MachineState): Uint8Array {
  return Buffer.from(JSON.stringify(m));
}

function decodeMachine(data: Uint8Array): MachineState {
  return JSON.parse(Buffer.from(data).toString()) as MachineState;
}
