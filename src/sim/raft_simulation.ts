// A deterministic simulation of a raft-signer cluster: the real Raft core, driven exactly as the
// node driver drives it (apply, persist the log and the state machine's writes as one batch, then
// send; nothing stepped between ready() and advance()), with the real signer state machine
// (SignerStateMachine, FilePV rules, KeyRing) on every node, and validator nodes asking for
// signatures through the sign path (sim_sign_path.ts, after signer/sign_coordinator.ts). All of
// it under a seeded virtual clock, a faulty network (delay, loss, duplication, reordering,
// symmetric and one-way partitions), crashes that lose whatever was not yet durable, pauses,
// restarts, membership changes, leadership transfers, and stores lost or replaced with the
// operator's learner procedure done right, wrong or never (loseStore, repairStep). Every store has
// an incarnation, and every core is an ObservedRaft, so the checker sees which answers it counted.
// The Raft invariants and the signer's (signer_invariants.ts) are checked after every event, and
// liveness (commits and signatures) once the faults heal. The same seed replays the same run.

import crypto from 'node:crypto';
import { ValidatorKey } from '../keys/validator_key';
import { Logger, silentLogger } from '../log/logger';
import { ProtoReader } from '../privval/protobuf';
import { ProposalRefusedError } from '../raft/errors';
import { Raft, RaftConfig, RaftPersistedState, bootstrapState } from '../raft/raft';
import { SeededRandom } from '../raft/rng';
import { ConfChange } from '../raft/confchange';
import { ConfState, Entry, EntryType, Incarnation, incarnationOf, Message, NodeId, ProgressState, Ready, Role } from '../raft/types';
import { KeyRing } from '../signer/key_ring';
import { decodeSignerCommand, decodeStoredRecord, encodeSignerSnapshot, StoredRecord } from '../signer/signer_codec';
import { SignerStateMachine } from '../signer/signer_state_machine';
import { SignRefusalReason, SignRequest } from '../signer/sign_types';
import type { StateMachineOp } from '../storage/raft_storage';
import { EventQueue } from './event_queue';
import { MemoryRaftDisk, persistReady, StateMachineWrite } from './memory_raft_disk';
import { CountedAnswer, CountsAnyStoreRaft, ObservedRaft } from './observed_raft';
import { RaftInvariantChecker } from './raft_invariants';
import { SignerCheckOptions, SignerInvariantChecker } from './signer_invariants';
import { SignNodeView, SignPathHost, SimSignPath } from './sim_sign_path';
import { FleetHost, ValidatorFleet } from './validator_fleet';

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
  /**
   * Build the core; tests plug in a deliberately broken one to show the checker catches it. The
   * incarnation check (which answers were counted) sees only cores built from ObservedRaft, as
   * the default is.
   */
  raftFactory?: (config: RaftConfig, persisted?: RaftPersistedState) => Raft;
  /**
   * A deliberately broken core that counts votes, pre-votes and acknowledgements from any store,
   * not only the one the membership names (CountsAnyStoreRaft; tests and `--broken count-any-store`).
   */
  countAnyStore?: boolean;
  /** Check that only answers from the store the membership names are counted (default true). */
  incarnationCheck?: boolean;
  /**
   * Report the Raft checks (and stop at the first violation; default true). Off, only the signer's
   * checks count, to show what a broken core costs a validator (tests only).
   */
  raftChecks?: boolean;
  /** Mix in lost disks, second lost disks and homes put back from a pre-first-start copy (default true). */
  storeFaults?: boolean;
  /**
   * Lose stores whatever the membership can spare, in the middle of a membership change or of a
   * majority (tests only). Safety must still hold; the liveness and durability checks are skipped,
   * since a majority's lost disks rightly stop the cluster or lose committed entries.
   */
  recklessStoreFaults?: boolean;
  /** A deliberately unsafe driver that sends messages before persisting (tests only). */
  sendBeforePersist?: boolean;
  /** Validator nodes asking for signatures (default true); without them the signer machine only applies. */
  signing?: boolean;
  /** The sign path's deadline in virtual milliseconds (default 600: a few election timeouts). */
  signDeadlineMs?: number;
  /** A deliberately broken sign path: the leader signs before the entry commits (tests only). */
  releaseBeforeCommit?: boolean;
  /** A deliberately broken sign path: a node releases what it has not durably applied itself (tests only). */
  releaseWithoutApply?: boolean;
  /**
   * Which applied index the release check (and waitApplied) trusts. 'disk', the default: the index
   * the node's disk holds, as the design asks ("fsynced before the signature is released") and as
   * RaftNode.appliedDurably() gives it. 'core': Raft's own log.applied, which sign_coordinator.ts
   * and RaftNode.waitApplied read at first; it runs ahead of the disk while a snapshot from the
   * leader is being persisted (Raft moves applied to the snapshot's index when it steps the
   * message), and the durability check catches releases in that window.
   */
  releaseCheckIndex?: 'core' | 'disk';
  /** Turn individual signer checks off, e.g. to show a broken path really double-signs (tests only). */
  signerChecks?: SignerCheckOptions;
  /** Receives a line for each notable event (crashes, restarts, leaders, snapshots, releases), to follow a replayed seed. */
  trace?: (line: string) => void;
}

export interface SimulationResult {
  seed: number;
  nodes: number;
  events: number;
  violations: string[];
  committed: number;
  leaderChanges: number;
  crashes: number;
  /** Sign requests the validator nodes made (not counting re-sends). */
  signRequests: number;
  /** Signatures released by raft-signer nodes (each answer counts, re-sends included). */
  signatures: number;
  /** Signatures released with the stored timestamp (the same vote asked for with another timestamp). */
  storedTimestampSignatures: number;
  /** Refusals answered by raft-signer nodes. */
  refusals: number;
  /** The refusals by reason. */
  refusalReasons: Partial<Record<SignRefusalReason, number>>;
  /** Sign entries proposed, forwarded requests, requests that joined an identical one in flight. */
  signEntries: number;
  forwards: number;
  coalesced: number;
  /** Stores lost or replaced (lost disks, second lost disks, homes put back from a pre-first-start copy). */
  storesLost: number;
  /** Nodes the operator added again under their new store (the learner procedure done to the end). */
  rejoined: number;
  /** Answers from a store the membership does not name that reached a candidate or leader and were not counted. */
  ignoredAnswers: number;
  /** Sign requests refused by a voter running on a store the membership does not name. */
  foreignStoreRefusals: number;
}

const TICK_MS = 10;
const HEARTBEAT_TICKS = 3;
const ELECTION_TICKS = 15;
/** The sign path's deadline: well under the validator node's read timeout, a few election timeouts. */
const SIGN_DEADLINE_MS = 600;
/** Latency of the privval connection between a validator node and its raft-signer node. */
const PRIVVAL_MS = 1;

type Fault =
  | 'crash'
  | 'pause'
  | 'partition'
  | 'isolate-leader'
  | 'one-way'
  | 'network'
  | 'transfer'
  | 'membership'
  | 'lost-disk'
  | 'second-lost-disk'
  | 'restore-pre-first-start'
  | 'none';

/**
 * Each seed draws a profile: 'mixed' spreads faults evenly; 'crashy' mostly crashes nodes at bad
 * moments and cuts the leader off, the pattern behind the paper's figure 8 and lost-write bugs.
 */
type Profile = 'mixed' | 'crashy';
const FAULT_PROFILES: Record<Profile, [Fault, number][]> = {
  mixed: [
    ['crash', 18], ['pause', 10], ['partition', 15], ['isolate-leader', 10], ['one-way', 8], ['network', 8], ['transfer', 8], ['membership', 13], ['none', 10],
    ['lost-disk', 7], ['second-lost-disk', 4], ['restore-pre-first-start', 3],
  ],
  crashy: [
    ['crash', 45], ['pause', 5], ['partition', 10], ['isolate-leader', 25], ['one-way', 5], ['network', 5], ['transfer', 2], ['membership', 3],
    ['lost-disk', 6], ['second-lost-disk', 3], ['restore-pre-first-start', 3],
  ],
};
const FAULT_WEIGHT_TOTAL: Record<Profile, number> = {
  mixed: FAULT_PROFILES.mixed.reduce((a, [, w]) => a + w, 0),
  crashy: FAULT_PROFILES.crashy.reduce((a, [, w]) => a + w, 0),
};

type SimEvent =
  | { kind: 'tick'; node: NodeId; epoch: number }
  | { kind: 'deliver'; msg: Message }
  | { kind: 'persisted'; node: NodeId; epoch: number; ready: Ready; write: StateMachineWrite }
  | { kind: 'propose' }
  | { kind: 'nemesis' }
  | { kind: 'restart'; node: NodeId }
  | { kind: 'resume'; node: NodeId }
  | { kind: 'heal-link'; key: string }
  | { kind: 'heal' }
  | { kind: 'decommission'; node: NodeId }
  /** The operator's next step of the learner procedure for a node on a new store (see repairStep). */
  | { kind: 'operator'; node: NodeId; plan: number }
  /** A continuation: of the sign path on `node` (dropped if that process died) or of a validator node (node null). */
  | { kind: 'call'; node: NodeId | null; epoch: number; fn: () => void };

/**
 * How the operator handles a node that came back on a new store. The documented procedure is:
 * remove it, add it as a learner under its new store (the store id add-learner asks the node
 * for), promote it once it has caught up. Operators get it wrong too:
 *  - 'procedure': the procedure, after a short or a long while on the new store unremoved;
 *  - 'add-first': add-learner before remove (refused: it is still a voter, with another store);
 *  - 'promote-early': promote right after add-learner, before it caught up (the core refuses
 *    until it replicates), then again once it has;
 *  - 'never': the node stays on its new store, named with the old one, for the rest of the run.
 */
type RepairMode = 'procedure' | 'add-first' | 'promote-early' | 'never';

interface Repair {
  /** Which loss this plan is for: a later loss of the same node starts a new plan. */
  plan: number;
  mode: RepairMode;
  /** A voter is promoted again at the end; a learner stays one (the membership fault promotes it). */
  wasVoter: boolean;
  addTried: boolean;
  promoteTried: boolean;
}

interface DurableState extends MemoryRaftDisk {
  stateMachine: Map<string, Uint8Array>;
}

/** A forwarded sign request being served on a node: if the node dies, the caller's call fails. */
interface HeldCall {
  fail: () => void;
}

class SimNode {
  /** How many stores this node has had: its first is `${id}#1`, a lost disk's replacement `${id}#2`, ... */
  stores = 1;
  /** Its current store's incarnation (RaftStorage.storeId in production). */
  incarnation: Incarnation;
  up = false;
  paused = false;
  decommissioned = false;
  busy = false;
  epoch = 0;
  raft: Raft | null = null;
  machine: SignerStateMachine | null = null;
  inbox: Message[] = [];
  pendingTicks = 0;
  /** Proposals made while the node was busy or paused (the driver's queued 'call' inputs). */
  pendingProposals: { data: Uint8Array; done: (r: { index: number; term: number } | ProposalRefusedError) => void }[] = [];
  /** Sign-path continuations waiting for an applied index. */
  appliedWaiters: { index: number; fn: () => void }[] = [];
  /** Sign-path continuations that came due while the process was paused. */
  deferred: (() => void)[] = [];
  held = new Set<HeldCall>();
  /** What the operator will do about this node's new store, if anything (see repairStep). */
  repair: Repair | null = null;
  constructor(
    readonly id: NodeId,
    public disk: DurableState,
  ) {
    this.incarnation = `${id}#1`;
  }
}

const emptyDisk = (): DurableState => ({ hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [], stateMachine: new Map() });

/** Key 0x00 of the signer's keyspace: its applied index (signer_state_machine.ts). */
const APPLIED_KEY_HEX = '00';
/** Prefix 0x01: one slashing record per (chain, key). */
const RECORD_PREFIX_HEX = '01';

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
  // The signer: one key per chain, the same on every node; the sign path; the validator nodes.
  private readonly keys: KeyRing;
  private readonly logger: Logger = quietLogger();
  private readonly signerChecker: SignerInvariantChecker;
  private readonly signPath: SimSignPath;
  private readonly fleet: ValidatorFleet;
  private readonly releaseCheckIndex: 'core' | 'disk';
  /** Sees which answers the cores count (observed_raft.ts) and hands them to the checker. */
  private readonly answerObserver = {
    counted: (a: CountedAnswer) => {
      if (this.opts.incarnationCheck !== false) this.checker.onCounted(a);
    },
    ignored: () => {
      this.ignoredAnswers++;
    },
  };
  private ignoredAnswers = 0;
  private storesLost = 0;
  private rejoined = 0;
  private repairPlans = 0;
  private signingAtHeal = new Set<NodeId>();

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
    if (opts.raftFactory && opts.countAnyStore) throw new Error('countAnyStore builds its own core: give raftFactory or countAnyStore, not both');
    this.factory = opts.raftFactory ?? (opts.countAnyStore ? (c, p) => new CountsAnyStoreRaft(c, p) : (c, p) => new ObservedRaft(c, p));
    this.nextNodeNumber = opts.nodes;
    this.releaseCheckIndex = opts.releaseCheckIndex ?? 'disk';

    // The validator side draws from its own stream, so the Raft schedule of a seed stays close to
    // what it was without signing.
    const signRng = new SeededRandom((opts.seed * 2654435761 + 0x5157) >>> 0);
    const chains = Array.from({ length: signRng.pick([1, 2, 3]) }, (_, i) => {
      const seed = crypto.createHash('sha256').update(`raft-signer simulation ${opts.seed} chain ${i}`).digest();
      return { chainId: `sim-chain-${i}`, key: ValidatorKey.fromSeed(seed) };
    });
    this.keys = new KeyRing(chains.map((c) => [c.chainId, c.key]));
    this.signerChecker = new SignerInvariantChecker(() => this.now, opts.signerChecks);
    this.signPath = new SimSignPath(this.signPathHost(), this.keys, {
      deadlineMs: opts.signDeadlineMs ?? SIGN_DEADLINE_MS,
      releaseBeforeCommit: opts.releaseBeforeCommit,
      releaseWithoutApply: opts.releaseWithoutApply,
    });
    this.fleet = new ValidatorFleet(this.fleetHost(), {
      chains: chains.map((c) => ({ chainId: c.chainId, pubKey: c.key.publicKey })),
      homes: Array.from({ length: opts.nodes }, (_, i) => `n${i}`),
      random: signRng,
      validatorsPerChain: signRng.pick([2, 3]),
      stepMs: signRng.pick([80, 120, 200]),
      disagreement: signRng.pick([0, 0.05, 0.2, 0.5]),
      resendMs: (opts.signDeadlineMs ?? SIGN_DEADLINE_MS) + 100,
      maxSends: 3,
    });
  }

  private trace(line: () => string): void {
    if (this.opts.trace) this.opts.trace(`t=${this.now} ${line()}`);
  }

  private violations(): string[] {
    const raft = this.opts.raftChecks === false ? [] : this.checker.violations;
    return this.signerChecker.violations.length === 0 ? raft : [...raft, ...this.signerChecker.violations];
  }

  run(): SimulationResult {
    const founders = Array.from({ length: this.opts.nodes }, (_, i) => `n${i}`);
    // Every founder names every founder's store (founding.ts agrees on them before this entry).
    const boot = bootstrapState(founders, Object.fromEntries(founders.map((id) => [id, `${id}#1`])));
    for (const id of founders) {
      const node = new SimNode(id, { ...emptyDisk(), hardState: { ...boot.hardState }, entries: boot.entries.slice() });
      this.nodes.set(id, node);
      this.start(node);
    }
    if (this.opts.signing !== false) this.fleet.start();
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
      if ((this.opts.raftChecks !== false && this.checker.violations.length > 0) || this.signerChecker.violations.length > 0) break;
    }
    const progressExpected = !this.opts.recklessStoreFaults;
    if (progressExpected && this.violations().length === 0) this.checkNothingCommittedLost();
    if (progressExpected && this.violations().length === 0 && this.commitAfterHeal === null) {
      this.checker.violations.push(
        `liveness: no proposal committed within ${this.livenessMs}ms after every fault healed (t=${this.healAt}ms)`,
      );
    }
    if (progressExpected && this.violations().length === 0 && this.opts.signing !== false) {
      // A chain whose validator nodes all reach nodes that may not sign (not a voter, or on a store
      // the membership does not name, as when the operator never did the learner procedure) is
      // refused by design; every other chain must sign again.
      const atEnd = this.signingNodes();
      const unsigned = this.fleet.chainsWithoutSignatureAfterHeal((id) => atEnd.has(id) && this.signingAtHeal.has(id));
      if (unsigned.length > 0) {
        this.signerChecker.violations.push(
          `liveness: no sign request sent after every fault healed (t=${this.healAt}ms) was signed within ${this.livenessMs}ms on ${unsigned.join(', ')}`,
        );
      }
    }
    const refusals = Object.values(this.signPath.stats.refused).reduce((a, n) => a + n, 0);
    return {
      seed: this.opts.seed,
      nodes: this.opts.nodes,
      events: this.events,
      violations: this.violations(),
      committed: this.checker.highestCommitted(),
      leaderChanges: this.leaderChanges,
      crashes: this.crashes,
      signRequests: this.fleet.stats.requests,
      signatures: this.signerChecker.released,
      storedTimestampSignatures: this.signerChecker.releasedWithStoredTimestamp,
      refusals,
      refusalReasons: { ...this.signPath.stats.refused },
      signEntries: this.signPath.stats.entries,
      forwards: this.signPath.stats.forwards,
      coalesced: this.signPath.stats.coalesced,
      storesLost: this.storesLost,
      rejoined: this.rejoined,
      ignoredAnswers: this.ignoredAnswers,
      foreignStoreRefusals: this.signPath.stats.foreignStore,
    };
  }

  /**
   * Durability: every entry ever applied anywhere is still held, with its term, by enough of the
   * final membership's durable stores (its log or a snapshot covering it) that every majority of
   * the final voters includes one: no election among them can do without it. For an odd number
   * of voters that is a majority; for an even number one fewer, which is all Raft promises just
   * after a voter is added (the entry committed on a majority of the smaller membership, the new
   * voter may not have received it yet, e.g. when the run ends right after a promotion).
   */
  private checkNothingCommittedLost(): void {
    const { voters } = this.members();
    if (voters.length === 0) return;
    const quorum = Math.floor(voters.length / 2) + 1;
    const needed = voters.length - quorum + 1;
    for (let i = 1; i <= this.checker.highestCommitted(); i++) {
      const term = this.checker.committedTerm(i);
      if (term === undefined) continue;
      const holders = voters.filter((id) => {
        const d = (this.nodes.get(id) as SimNode).disk;
        if (d.snapshot && d.snapshot.metadata.index >= i) return true;
        return d.entries.some((e) => e.index === i && e.term === term);
      });
      if (holders.length < needed) {
        this.checker.violations.push(
          `durability: committed index ${i} (term ${term}) is held by ${holders.length} of the final voters ${voters.join(',')}, so a majority of them without it could elect a leader`,
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
        incarnation: node.incarnation,
        heartbeatTicks: HEARTBEAT_TICKS,
        electionTicks: ELECTION_TICKS,
        random: new SeededRandom(this.rng.nextUint32()),
        maxAppendEntries: this.maxAppendEntries,
        maxInflightAppends: this.maxInflightAppends,
      },
      { hardState: { ...d.hardState }, snapshot: d.snapshot, entries: d.entries.slice(), applied: diskApplied(d) },
    );
    if (node.raft instanceof ObservedRaft) node.raft.observer = this.answerObserver;
    node.machine = this.loadMachine(d);
    if (this.opts.trace) this.trace(() => `${node.id} (store ${node.incarnation}) starts: disk applied ${diskApplied(d)}, commit ${d.hardState.commit}, snapshot ${d.snapshot?.metadata.index ?? 0}`);
    node.up = true;
    node.paused = false;
    node.busy = false;
    node.inbox = [];
    node.pendingTicks = 0;
    node.pendingProposals = [];
    node.appliedWaiters = [];
    node.deferred = [];
    node.epoch++;
    this.queue.push(this.now + this.rng.between(1, TICK_MS), { kind: 'tick', node: node.id, epoch: node.epoch });
  }

  /**
   * The signer's state as a restarted process finds it: the records and applied index its disk
   * holds (SignerStateMachine.load reads the same keys, but asynchronously; restoring an image of
   * the same records is the synchronous equivalent, except that every record's index becomes the
   * applied index, which is durable too).
   */
  private loadMachine(d: DurableState): SignerStateMachine {
    const records: StoredRecord[] = [];
    for (const [key, value] of d.stateMachine) if (key.startsWith(RECORD_PREFIX_HEX)) records.push(decodeStoredRecord(value));
    const machine = new SignerStateMachine(this.keys, this.logger);
    machine.restore(encodeSignerSnapshot(records), diskApplied(d));
    return machine;
  }

  private crash(node: SimNode): void {
    // Whatever was handed out by ready() but not yet persisted is lost with the process, and so
    // is every sign request in progress on it; the forwarded calls it was serving fail.
    if (this.opts.trace) this.trace(() => `${node.id} crashes${node.busy ? ' while writing' : ''}: disk applied ${diskApplied(node.disk)}`);
    node.up = false;
    node.raft = null;
    node.machine = null;
    node.busy = false;
    node.inbox = [];
    node.pendingProposals = [];
    node.appliedWaiters = [];
    node.deferred = [];
    for (const h of node.held) h.fail();
    node.held.clear();
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
        this.completeReady(node, ev.ready, ev.write);
        return;
      }
      case 'propose':
        // With validator nodes signing, their entries are load enough: fewer background proposals,
        // so that a seed's slowest replication settings (one entry per append, one append in
        // flight) still keep up once the faults heal.
        this.queue.push(this.now + (this.opts.signing === false ? this.rng.between(10, 40) : this.rng.between(30, 90)), { kind: 'propose' });
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
        if (node.up && node.paused) this.resume(node);
        return;
      }
      case 'heal-link':
        this.blocked.delete(ev.key);
        return;
      case 'heal':
        this.heal();
        return;
      case 'operator':
        this.repairStep(this.nodes.get(ev.node) as SimNode, ev.plan);
        return;
      case 'decommission': {
        const node = this.nodes.get(ev.node) as SimNode;
        const { voters, learners } = this.members();
        if (voters.includes(node.id) || learners.includes(node.id)) return; // the removal did not commit
        if (node.up) this.crash(node);
        node.decommissioned = true;
        return;
      }
      case 'call': {
        if (ev.node === null) return ev.fn();
        const node = this.nodes.get(ev.node) as SimNode;
        if (node.epoch !== ev.epoch || !node.up) return;
        if (node.paused) node.deferred.push(ev.fn);
        else ev.fn();
        return;
      }
    }
  }

  private resume(node: SimNode): void {
    node.paused = false;
    const deferred = node.deferred;
    node.deferred = [];
    const epoch = node.epoch;
    for (const fn of deferred) if (node.epoch === epoch && node.up && !node.paused) fn();
    this.drain(node);
  }

  /** After a tick or step: check election safety, then start persisting if there is work. */
  private afterInput(node: SimNode): void {
    const raft = node.raft as Raft;
    if (raft.role === Role.Leader && this.lastLeaderTerm.get(node.id) !== raft.term) {
      this.lastLeaderTerm.set(node.id, raft.term);
      this.leaderChanges++;
      if (this.opts.trace) this.trace(() => `${node.id} leads term ${raft.term}`);
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
    // Apply now, as node/raft_node.ts does: the state machine's writes join this Ready's batch,
    // and its in-memory records run ahead of the disk until that batch is durable.
    const machine = node.machine as SignerStateMachine;
    const ops: StateMachineOp[] = [];
    if (rd.snapshot) {
      if (this.opts.trace) this.trace(() => `${node.id} restores a snapshot at ${rd.snapshot?.metadata.index} (disk applied ${diskApplied(node.disk)}, core applied ${raft.log.applied})`);
      ops.push(...machine.restore(rd.snapshot.data, rd.snapshot.metadata.index));
    }
    if (rd.committedEntries.length > 0) {
      for (const e of rd.committedEntries) {
        this.checker.onApplied(node.id, e, raft.term);
        if (e.index > this.signerChecker.committedIndex) this.signerChecker.onCommitted(e.index, signRequestsOf(e));
        if (this.healed && isFiller(e) && this.proposedAfterHeal.has(dataKey(e.data))) this.commitAfterHeal ??= this.now;
      }
      ops.push(...machine.apply(rd.committedEntries.map(withoutFiller)));
      for (const e of rd.committedEntries) {
        const decision = machine.decisionAt(e.index);
        if (decision && decision.signs.length > 0) this.signerChecker.onDecided(node.id, e.index, decision.signs.map((d) => d.outcome.kind));
      }
    }
    if (this.opts.sendBeforePersist) this.sendAll(rd.messages);
    const latency = rd.mustSync ? this.rng.between(1, this.maxDiskMs) : 0;
    this.queue.push(this.now + latency, {
      kind: 'persisted',
      node: node.id,
      epoch: node.epoch,
      ready: rd,
      write: { ops, clear: rd.snapshot !== undefined },
    });
  }

  private completeReady(node: SimNode, rd: Ready, write: StateMachineWrite): void {
    const raft = node.raft as Raft;
    // 1. Persist the log, hard state, snapshot and the state machine's writes as one atomic write.
    persistReady(node.disk, rd, write);
    // 2. Send, now that what the messages promise is durable.
    if (!this.opts.sendBeforePersist) this.sendAll(rd.messages);
    raft.advance();
    node.busy = false;
    const applied = raft.log.applied;
    if (applied - raft.log.snapshot.metadata.index >= this.compactEvery) {
      raft.compact(applied, (node.machine as SignerStateMachine).snapshot());
    }
    // 3. Sign requests waiting for this node to apply an index go on (waitApplied).
    this.releaseAppliedWaiters(node);
    this.drain(node);
  }

  private releaseAppliedWaiters(node: SimNode): void {
    const applied = this.appliedIndex(node);
    const due = node.appliedWaiters.filter((w) => w.index <= applied);
    if (due.length === 0) return;
    node.appliedWaiters = node.appliedWaiters.filter((w) => w.index > applied);
    const epoch = node.epoch;
    for (const w of due) {
      if (node.epoch !== epoch || !node.up) return;
      if (node.paused) node.deferred.push(w.fn);
      else w.fn();
    }
  }

  /** The applied index the sign path's release check trusts (see SimulationOptions.releaseCheckIndex). */
  private appliedIndex(node: SimNode): number {
    return this.releaseCheckIndex === 'core' ? (node.raft as Raft).log.applied : diskApplied(node.disk);
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
    const proposals = node.pendingProposals;
    node.pendingProposals = [];
    const results = proposals.map((p) => proposeOn(raft, p.data));
    this.afterInput(node);
    proposals.forEach((p, i) => p.done(results[i]));
  }

  // --- the signer: hosts for the sign path and the validator nodes -------------------------------

  /** Runs `fn` after `ms`: on `node`'s process of `epoch` (dropped if it died), or on the validator side (null). */
  private at(node: SimNode | null, ms: number, fn: () => void, epoch = node?.epoch ?? 0): void {
    this.queue.push(this.now + ms, { kind: 'call', node: node?.id ?? null, epoch, fn });
  }

  private signPathHost(): SignPathHost {
    const live = (id: NodeId): SimNode | null => {
      const n = this.nodes.get(id);
      return n && n.up ? n : null;
    };
    return {
      now: () => this.now,
      live: (id) => {
        const n = live(id);
        return n ? ({ raft: n.raft, machine: n.machine } as SignNodeView) : null;
      },
      epoch: (id) => this.nodes.get(id)?.epoch ?? -1,
      after: (id, ms, fn) => {
        const n = live(id);
        if (n) this.at(n, ms, fn);
      },
      appliedIndex: (id) => {
        const n = live(id);
        return n ? this.appliedIndex(n) : 0;
      },
      durableApplied: (id) => {
        const n = this.nodes.get(id);
        return n ? diskApplied(n.disk) : 0;
      },
      waitApplied: (id, index, fn) => {
        const n = live(id);
        if (!n) return;
        if (this.appliedIndex(n) >= index) fn();
        else n.appliedWaiters.push({ index, fn });
      },
      propose: (id, data, done) => {
        const n = live(id);
        if (!n) return;
        if (this.opts.trace) this.trace(() => `${id} proposes a sign entry${n.busy ? ' (queued: writing)' : ''}${n.paused ? ' (queued: paused)' : ''}`);
        if (n.busy || n.paused) {
          n.pendingProposals.push({ data, done });
          return;
        }
        const r = proposeOn(n.raft as Raft, data);
        if (this.opts.trace) this.trace(() => `${id} proposal: ${r instanceof ProposalRefusedError ? r.message : `index ${r.index} term ${r.term}`}`);
        this.afterInput(n);
        done(r);
      },
      call: (originId, targetId, serve, onAnswer, onFail) => {
        const origin = live(originId);
        if (!origin) return;
        // Answers and failures go to the process that made the call, not to a later one.
        const originEpoch = origin.epoch;
        const delay = (): number => this.rng.between(1, this.maxDelayMs);
        const fail = (): void => this.at(origin, delay(), onFail, originEpoch);
        const target = live(targetId);
        if (!target) return fail(); // nothing listens: connection refused
        // A cut link or a lost packet: the call hangs until the caller's deadline.
        if (this.blocked.has(`${originId}>${targetId}`) || this.rng.chance(this.lossRate)) return;
        const targetEpoch = target.epoch;
        this.at(null, delay(), () => {
          // The process the call was sent to died meanwhile: its connection is gone, the call fails.
          if (!target.up || target.epoch !== targetEpoch) return fail();
          const held: HeldCall = { fail };
          target.held.add(held);
          const run = (): void =>
            serve((answer) => {
              if (!target.held.delete(held)) return;
              if (this.blocked.has(`${targetId}>${originId}`) || this.rng.chance(this.lossRate)) return;
              this.at(origin, delay(), () => onAnswer(answer), originEpoch);
            });
          if (target.paused) target.deferred.push(run);
          else run();
        });
      },
      released: (r) => {
        if (this.opts.trace) this.trace(() => {
          const n = this.nodes.get(r.node) as SimNode;
          return `${r.node} releases ${r.chainId} ${r.height}/${r.round}/${r.step}${r.storedTimestamp ? ' (stored timestamp)' : ''}: disk applied ${diskApplied(n.disk)}, core applied ${n.raft?.log.applied}${n.busy ? ', writing' : ''}`;
        });
        this.signerChecker.onReleased(r);
      },
    };
  }

  private fleetHost(): FleetHost {
    return {
      now: () => this.now,
      after: (ms, fn) => this.at(null, ms, fn),
      route: (home) => {
        const n = this.nodes.get(home);
        if (n && !n.decommissioned) return home;
        // Its raft-signer node was removed from the cluster: the operator points it at another.
        const others = [...this.nodes.values()].filter((m) => !m.decommissioned);
        return others.length > 0 ? others[0].id : null;
      },
      send: (id, request, reply) => {
        const n = this.nodes.get(id);
        if (!n || !n.up) return false;
        this.at(n, PRIVVAL_MS, () => {
          if (this.opts.trace) this.trace(() => `${id} gets a sign request ${request.chainId} ${request.height}/${request.round}/${request.step}`);
          this.signPath.sign(id, request, (outcome) => {
            if (outcome.kind === 'refused') {
              if (this.opts.trace) this.trace(() => `${id} refuses ${request.chainId} ${request.height}/${request.round}/${request.step}: ${outcome.reason}`);
            }
            this.at(null, PRIVVAL_MS, () => reply(outcome));
          });
        });
        return true;
      },
    };
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
        if (this.opts.trace) this.trace(() => `${victim.id} pauses`);
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
    } else if ((fault === 'lost-disk' || fault === 'second-lost-disk' || fault === 'restore-pre-first-start') && this.opts.storeFaults !== false) {
      this.loseStore(fault);
    }
  }

  /**
   * A node's store is lost or replaced, as operators do it: the node comes back on a new, empty
   * store (a new incarnation, an empty log, as `join: true` starts it) WITHOUT being removed
   * first, and is named with its old store until the operator, maybe, does the learner procedure
   * (repairStep).
   *  - 'lost-disk': a voter named with its current store loses its disk.
   *  - 'second-lost-disk': the same for a node that has had a new store before (rejoined, or
   *    still being rejoined): it comes back on yet another one. While there is none, a first loss.
   *  - 'restore-pre-first-start': a member's home is put back from a copy taken before its first
   *    start, which holds no store. In production a founder refuses to start on it (founding.ts);
   *    here the node comes back on a new, empty store with a new incarnation, never on a founder's
   *    store with the old one.
   * Never more than a majority can spare: the voters named with their current store must stay a
   * quorum even if every learner were promoted. Losing the disks of a majority loses committed
   * entries whatever the core does; what is tested is that one lost store, or a minority, never
   * makes a conflicting decision possible.
   */
  private loseStore(fault: 'lost-disk' | 'second-lost-disk' | 'restore-pre-first-start'): void {
    const cs = this.members();
    const live = (id: NodeId): SimNode | null => {
      const n = this.nodes.get(id);
      return n && !n.decommissioned ? n : null;
    };
    const named = (n: SimNode): boolean => n.incarnation === incarnationOf(cs, n.id);
    const members = [...cs.voters, ...cs.learners].map(live).filter((n): n is SimNode => n !== null);
    const reckless = this.opts.recklessStoreFaults === true;
    if (!reckless && !this.membershipSettled(cs)) return;
    // The members still named with their store once `n`'s is gone: a quorum of the voters, and of
    // the voters and learners together (a learner may be promoted meanwhile, even one whose store
    // was just lost: the core's caught-up check reads the progress it had before).
    const quorum = (size: number): number => Math.floor(size / 2) + 1;
    const namedWithout = (n: SimNode, ids: NodeId[]): number =>
      ids.filter((id) => {
        const m = live(id);
        return m !== null && m !== n && named(m);
      }).length;
    const spare = (n: SimNode): boolean =>
      reckless ||
      namedWithout(n, cs.voters) >= quorum(cs.voters.length) && namedWithout(n, [...cs.voters, ...cs.learners]) >= quorum(cs.voters.length + cs.learners.length);
    const firstLoss = members.filter((n) => cs.voters.includes(n.id) && named(n) && spare(n));
    let candidates: SimNode[];
    if (fault === 'lost-disk') candidates = firstLoss;
    else if (fault === 'second-lost-disk') {
      const again = members.filter((n) => n.stores > 1 && spare(n));
      candidates = again.length > 0 ? again : firstLoss;
    } else candidates = members.filter(spare);
    if (candidates.length === 0) return;
    const victim = this.rng.pick(candidates);
    const wasVoter = cs.voters.includes(victim.id) || (victim.repair?.wasVoter ?? false);
    if (victim.up) this.crash(victim);
    const old = victim.incarnation;
    victim.stores++;
    victim.incarnation = `${victim.id}#${victim.stores}`;
    victim.disk = emptyDisk();
    this.storesLost++;
    const mode = this.rng.pick<RepairMode>(['procedure', 'procedure', 'procedure', 'procedure', 'add-first', 'add-first', 'promote-early', 'promote-early', 'promote-early', 'never', 'never']);
    const plan = ++this.repairPlans;
    victim.repair = { plan, mode, wasVoter, addTried: false, promoteTried: false };
    if (this.opts.trace) this.trace(() => `${victim.id} ${fault}: store ${old} is gone, it comes back on ${victim.incarnation} without being removed; operator: ${mode}`);
    this.queue.push(this.now + this.rng.between(20, 800), { kind: 'restart', node: victim.id });
    // Soon after, or long after it has run on the new store unremoved.
    if (mode !== 'never') this.queue.push(this.now + (this.rng.chance(0.5) ? this.rng.between(100, 600) : this.rng.between(1500, 3500)), { kind: 'operator', node: victim.id, plan });
  }

  /**
   * No membership change is in flight: every live node has committed the membership `cs`, and
   * none holds an uncommitted change. Otherwise a store lost now can leave the nodes that have
   * not learnt of a commit without a quorum in the membership they still apply (e.g. a leader that
   * removed itself steps down before its followers learn the commit, and its log, longer than
   * theirs, refuses them its vote).
   */
  private membershipSettled(cs: ConfState): boolean {
    for (const n of this.liveNodes()) {
      const raft = n.raft as Raft;
      const conf = raft.confState;
      const members = [...conf.voters, ...conf.learners];
      if (conf.voters.join() !== cs.voters.join() || conf.learners.join() !== cs.learners.join()) return false;
      if (members.some((id) => incarnationOf(conf, id) !== incarnationOf(cs, id))) return false;
      for (let i = raft.log.commit + 1; i <= raft.log.lastIndex(); i++) {
        if (raft.log.entryAt(i)?.type === EntryType.ConfChange) return false;
      }
    }
    return true;
  }

  /**
   * One step of the operator's learner procedure for a node on a new store, retried (as the CLI
   * retries refusals) until the membership names the node with its current store again: remove,
   * add-learner under the store id the node reports (ClusterAdmin asks the node; it must be up),
   * promote once it has caught up. The wrong orders of `RepairMode` are tried once each; the core
   * refuses them.
   */
  private repairStep(node: SimNode, plan: number): void {
    const r = node.repair;
    if (!r || r.plan !== plan) return;
    if (node.decommissioned) {
      node.repair = null;
      return;
    }
    const again = (): void => this.queue.push(this.now + this.rng.between(100, 400), { kind: 'operator', node: node.id, plan });
    const leaders = this.leaders();
    if (leaders.length === 0) return again();
    const leader = leaders.reduce((a, b) => ((b.raft as Raft).term > (a.raft as Raft).term ? b : a));
    const raft = leader.raft as Raft;
    const cs = raft.confState;
    const id = node.id;
    const member = cs.voters.includes(id) || cs.learners.includes(id);
    let cc: ConfChange;
    if (member && incarnationOf(cs, id) !== node.incarnation) {
      if (r.mode === 'add-first' && !r.addTried) {
        r.addTried = true;
        cc = { type: 'addLearner', node: id, incarnation: node.incarnation };
      } else cc = { type: 'remove', node: id };
    } else if (!member) {
      if (!node.up) return again();
      cc = { type: 'addLearner', node: id, incarnation: node.incarnation };
    } else if (cs.learners.includes(id) && r.wasVoter) {
      const pr = raft.status().progress.find((p) => p.id === id);
      const caughtUp = pr !== undefined && pr.state === ProgressState.Replicate && pr.match >= raft.log.commit;
      if (!caughtUp && (r.mode !== 'promote-early' || r.promoteTried)) return again();
      r.promoteTried = true;
      cc = { type: 'promote', node: id };
    } else {
      node.repair = null;
      this.rejoined++;
      if (this.opts.trace) this.trace(() => `${id} is named with its store ${node.incarnation} again`);
      return;
    }
    try {
      raft.proposeConfChange(cc);
      if (this.opts.trace) this.trace(() => `operator: ${cc.type} ${id}${cc.type === 'addLearner' ? ` (store ${node.incarnation})` : ''} proposed on ${leader.id}`);
      this.afterInput(leader);
    } catch (e) {
      if (!(e instanceof ProposalRefusedError)) throw e;
      if (this.opts.trace) this.trace(() => `operator: ${cc.type} ${id} refused by ${leader.id}: ${e.message}`);
    }
    again();
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
        // While a voter runs on a store the membership does not name, not the leader itself: a
        // leader that removes itself steps down before its followers learn that the removal
        // committed, and refuses their shorter logs its vote; with the unnamed store that leaves
        // them without a quorum in the membership they still apply, for good (a liveness limit of
        // the core, seen here, left to its owners).
        const unnamed = voters.some((id) => (this.nodes.get(id) as SimNode).incarnation !== incarnationOf(raft.confState, id));
        const victim = this.rng.pick(unnamed ? voters.filter((id) => id !== leader.id) : voters);
        raft.proposeConfChange({ type: 'remove', node: victim });
        // The operator decommissions the node once the removal has had time to commit; a fresh id
        // is used for every new member, never a wiped old one (a wiped voter forgets its votes).
        this.queue.push(this.now + 1500, { kind: 'decommission', node: victim });
      } else {
        const id = `n${this.nextNodeNumber++}`;
        const node = new SimNode(id, emptyDisk());
        this.nodes.set(id, node);
        this.start(node);
        // As ClusterAdmin does: the learner is named with the store it runs on.
        raft.proposeConfChange({ type: 'addLearner', node: id, incarnation: node.incarnation });
      }
      this.afterInput(leader);
    } catch (e) {
      if (!(e instanceof ProposalRefusedError)) throw e;
    }
  }

  /** The nodes the sign path lets sign: voters named with their current store (member_sign_coordinator.ts). */
  private signingNodes(): Set<NodeId> {
    const cs = this.members();
    return new Set(cs.voters.filter((id) => {
      const n = this.nodes.get(id);
      return n !== undefined && !n.decommissioned && n.incarnation === incarnationOf(cs, id);
    }));
  }

  private heal(): void {
    this.healed = true;
    this.healAt = this.now;
    this.fleet.markHeal();
    this.blocked.clear();
    this.lossRate = 0;
    this.dupRate = 0;
    this.maxDelayMs = 10;
    for (const n of this.nodes.values()) {
      if (n.decommissioned) continue;
      if (!n.up) this.start(n);
      else if (n.paused) this.resume(n);
    }
    this.signingAtHeal = this.signingNodes();
  }
}

function dataKey(data: Uint8Array): string {
  return Buffer.from(data).toString('latin1');
}

/**
 * The background proposals that keep the Raft log busy ("p0", "p1", ...) are not signer commands;
 * the signer machine applies them as no-ops (an empty entry, like a leader's). Signer commands
 * start with field 1's tag (0x08), never with 'p'.
 */
function isFiller(e: Entry): boolean {
  return e.type === EntryType.Normal && e.data.length > 0 && e.data[0] === 0x70;
}

function withoutFiller(e: Entry): Entry {
  return isFiller(e) ? { ...e, data: new Uint8Array(0) } : e;
}

function signRequestsOf(e: Entry): SignRequest[] {
  if (e.type !== EntryType.Normal || e.data.length === 0 || isFiller(e)) return [];
  const command = decodeSignerCommand(e.data);
  return command.kind === 'sign' ? command.requests : [];
}

/** The applied index the disk's state machine holds, read as SignerStateMachine.load reads it. */
function diskApplied(d: DurableState): number {
  const v = d.stateMachine.get(APPLIED_KEY_HEX);
  return v ? Number(new ProtoReader(v, 'applied index').uint64()) : 0;
}

function proposeOn(raft: Raft, data: Uint8Array): { index: number; term: number } | ProposalRefusedError {
  try {
    return raft.propose(data);
  } catch (e) {
    if (e instanceof ProposalRefusedError) return e;
    throw e;
  }
}

let sharedLogger: Logger | null = null;
function quietLogger(): Logger {
  return (sharedLogger ??= silentLogger());
}
