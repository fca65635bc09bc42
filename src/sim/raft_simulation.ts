// A deterministic simulation of a raft-signer cluster that runs the production replica core
// (src/replica/): every node is a ReplicaDriver over the real Raft core and the real signer state
// machine (SignerStateMachine, FilePV rules, KeyRing), with the real SignPath in front of it, exactly
// the objects a node process builds. Only the host differs (host.ts): here time is a seeded
// virtual clock, the disk is in memory and loses whatever was not yet durable when a node crashes,
// and the network and the Signer RPC between nodes are simulated, with delay, loss, duplication,
// reordering, symmetric and one-way partitions. The faults: crashes (also mid-write), pauses,
// restarts, membership changes, leadership transfers, and stores lost or replaced with the
// operator's learner procedure done right, wrong or never (loseStore, repairStep). Every store has
// an incarnation, and every core is an ObservedRaft, so the checker sees which answers it counted.
// The Raft invariants and the signer's (signer_invariants.ts) are checked after every event, and
// liveness (commits and signatures) once the faults heal. Anything the core logs as an error is a
// violation too. The same seed replays the same run.

import crypto from 'node:crypto';
import { ValidatorKey } from '../keys/validator_key';
import { discardLogger, Logger } from '../log/logger';
import { ProposalRefusedError } from '../raft/errors';
import { Raft, RaftConfig, RaftPersistedState, bootstrapState } from '../raft/raft';
import { SeededRandom } from '../raft/rng';
import { ConfChange } from '../raft/confchange';
import type { StateMachine } from '../raft/state_machine';
import { ConfState, Entry, EntryType, Incarnation, incarnationOf, Message, NodeId, ProgressState, Ready, Role } from '../raft/types';
import { DriverObserver, NodeStoppedError, ReplicaDriver } from '../replica/driver';
import { DeadlineError, LeadershipChangedError } from '../replica/sign_path';
import type { Clock, Disk, PersistBatch, SignForwarder, Timer } from '../replica/host';
import type { ReleaseAnswer } from '../replica/release_rule';
import { SignPath, SignPathCounters } from '../replica/sign_path';
import { KeyRing } from '../signer/key_ring';
import { decodeSignerCommand, ImportStateCommand, SignerCodecError } from '../signer/signer_codec';
import { SignerStateMachine } from '../signer/signer_state_machine';
import { SignRefusalReason, SignRequest } from '../cometbft/sign_types';
import { decodeRecords } from '../signer/slashing_records';
import { compareStoreHighWater, StoreHighWater } from '../node/store_high_water';
import { foundersDifference } from '../node/founding';
import { draftImport } from './operator_imports';
import { combine, computeAvailability, describeFaults, FaultRecord, Interval } from '../standin/availability';
import { EventQueue } from './event_queue';
import { MemoryRaftDisk, persistBatch, stateMachinePairs } from './memory_raft_disk';
import { CountedAnswer, CountsAnyStoreRaft, ObservedRaft } from './observed_raft';
import { RaftInvariantChecker } from './raft_invariants';
import { SignerCheckOptions, SignerInvariantChecker, withTimestamp } from './signer_invariants';
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
  /** A deliberately unsafe driver that sends messages before persisting (ReplicaDriver's BROKEN option; tests only). */
  sendBeforePersist?: boolean;
  /**
   * BROKEN when false (tests only): a node starts on a data directory behind its own high-water
   * record, as it did before store-high-water.json existed.
   */
  highWaterCheck?: boolean;
  /**
   * The founders are started with different member lists (5 nodes): n0 and n1 list n0-n2, n3 and
   * n4 list n2-n4, n2 lists all five, so that two disjoint pairs could each elect and commit on
   * their own (the safety issue's item 7). The founding agreement (founding.ts foundersDifference,
   * what gatherFounding asks every listed founder before anything is written) refuses them all;
   * the operator then gives every founder the same list and starts them again. Default: on one
   * 5-node seed in twenty.
   */
  foundingMismatch?: boolean;
  /** BROKEN when false (tests only): each founder bootstraps its own list without comparing. */
  foundingCheck?: boolean;
  /** The chance, at each of the operator's chores (every 100-400 ms), that a data directory is put back from a backup (default 0.08). */
  restoreChance?: number;
  /** The operator imports states (valid and crafted) through the sign path's importState (default true). */
  imports?: boolean;
  /** Validator nodes asking for signatures (default true); without them the signer machine only applies. */
  signing?: boolean;
  /** The sign path's deadline in virtual milliseconds (default 600: a few election timeouts). */
  signDeadlineMs?: number;
  /** A deliberately broken sign path: the leader signs before the entry commits (tests only). */
  releaseBeforeCommit?: boolean;
  /** A deliberately broken sign path: a node releases what it has not durably applied itself (tests only). */
  releaseWithoutApply?: boolean;
  /**
   * Which applied index the release check trusts. 'disk', the default: the index the node's disk
   * holds (ReplicaDriver.appliedDurably), as the design asks ("fsynced before the signature is
   * released"). 'core': Raft's own log.applied (SignPath's BROKEN trustCoreApplied), which runs
   * ahead of the disk while a snapshot from the leader is being persisted (Raft moves applied to
   * the snapshot's index when it steps the message); the durability check catches releases in
   * that window.
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
  /** Founders that refused to found because their member lists differed (foundingMismatch). */
  foundingRefusals: number;
  /** Data directories put back from an older copy (restore-old-data). */
  restoredData: number;
  /** Starts refused by the store high-water check (a restored copy, or a store that went back). */
  restoresRefused: number;
  /** State imports the operator asked for, those refused before any entry (crafted), and how the entries that carried the rest applied. */
  imports: { proposed: number; refusedAtEntry: number; imported: number; ignored: number; refused: number };
  /**
   * Availability over the whole run (availability.ts), in slots of the fleet's step time: the
   * slots in which a majority of the voters was healthy throughout (summed over the chains), those
   * in which a validator node of the chain obtained a signature, their ratio (1 without such a
   * slot, or without signing), and the longest stall in healthy time on any chain: its length,
   * when it began (the last signature before it, or the return of a healthy majority), and the
   * faults active meanwhile ('' when there was none).
   */
  availability: { slots: number; servedSlots: number; ratio: number; longestStallMs: number; longestStallAt: number; longestStallCause: string };
}

const TICK_MS = 10;
const HEARTBEAT_TICKS = 3;
const ELECTION_TICKS = 15;
/** The sign path's deadline: well under the validator node's read timeout, a few election timeouts. */
const SIGN_DEADLINE_MS = 600;
/** Latency of the privval connection between a validator node and its raft-signer node. */
const PRIVVAL_MS = 1;
/** How often a node records its store's high-water mark (node_process.ts HIGH_WATER_INTERVAL_MS). */
const HIGH_WATER_MS = 500;
/** Backups an operator's job keeps per node: the oldest and the newest few. */
const BACKUPS_KEPT = 4;

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
    ['lost-disk', 7], ['second-lost-disk', 4], ['restore-pre-first-start', 3]
  ],
  crashy: [
    ['crash', 45], ['pause', 5], ['partition', 10], ['isolate-leader', 25], ['one-way', 5], ['network', 5], ['transfer', 2], ['membership', 3],
    ['lost-disk', 6], ['second-lost-disk', 3], ['restore-pre-first-start', 3]
  ],
};
const FAULT_WEIGHT_TOTAL: Record<Profile, number> = {
  mixed: FAULT_PROFILES.mixed.reduce((a, [, w]) => a + w, 0),
  crashy: FAULT_PROFILES.crashy.reduce((a, [, w]) => a + w, 0),
};

/** A timer of a simulated process: a cancelled one never fires. */
interface SimTimer extends Timer {
  cancelled: boolean;
}

type SimEvent =
  | { kind: 'deliver'; msg: Message }
  /** A batch reaches the disk (lost if the process died before); its `done` runs on the process. */
  | { kind: 'persisted'; node: NodeId; epoch: number; batch: PersistBatch; done: (error: Error | null) => void }
  | { kind: 'propose' }
  | { kind: 'nemesis' }
  /** The operator gives the founders that refused the same member list and starts them. */
  | { kind: 'fix-founding'; nodes: NodeId[] }
  /** What operators do besides the nemesis's faults: backups, data directories put back from them, state imports. */
  | { kind: 'operator-chores' }
  | { kind: 'restart'; node: NodeId }
  | { kind: 'resume'; node: NodeId }
  | { kind: 'heal-link'; key: string }
  | { kind: 'heal' }
  | { kind: 'decommission'; node: NodeId }
  /** The operator's next step of the learner procedure for a node on a new store (see repairStep). */
  | { kind: 'operator'; node: NodeId; plan: number }
  /**
   * A callback of `node`'s process of `epoch` (dropped if that process died, deferred while it is
   * paused), or of a validator node (node null). `repeatMs`: a ticker, which skips while paused.
   */
  | { kind: 'call'; node: NodeId | null; epoch: number; fn: () => void; timer?: SimTimer; repeatMs?: number };

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
  /** Which of the node's stores this directory holds (a backup of an earlier store is useless). */
  stores: number;
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
  /** Changes whenever the process dies or starts: callbacks of an earlier process are dropped. */
  epoch = 0;
  /** The production core of the running process (null while down). */
  driver: ReplicaDriver | null = null;
  signPath: SignPath | null = null;
  machine: SignerStateMachine | null = null;
  /** Callbacks that came due while the process was paused. */
  deferred: (() => void)[] = [];
  held = new Set<HeldCall>();
  /** What the operator will do about this node's new store, if anything (see repairStep). */
  repair: Repair | null = null;
  /**
   * The store high-water record beside the data directory (store-high-water.json): what the store
   * had durably reached, as the running process last recorded it (every HIGH_WATER_MS).
   */
  highWater: StoreHighWater | null = null;
  /** Copies of the data directory an operator's backup job took, oldest first. */
  backups: { at: number; disk: DurableState }[] = [];
  /** Its data directory was put back from a copy and it has not started since: it may yet be refused, so it counts as lost. */
  restorePending = false;
  constructor(
    readonly id: NodeId,
    public disk: DurableState,
  ) {
    this.incarnation = `${id}#1`;
  }

  get raft(): Raft | null {
    return this.driver?.raft ?? null;
  }
}

/** A founder's store as founding writes it: the bootstrap entry naming every listed founder's first store. */
function founded(voters: NodeId[]): DurableState {
  const boot = bootstrapState(voters, Object.fromEntries(voters.map((id) => [id, `${id}#1`])));
  return { ...emptyDisk(), hardState: { ...boot.hardState }, entries: boot.entries.slice() };
}

const emptyDisk = (stores = 1): DurableState => ({ hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [], stateMachine: new Map(), stores });

/** A copy of a data directory (entries and snapshots are never mutated, only replaced). */
function copyDisk(d: DurableState): DurableState {
  return { hardState: { ...d.hardState }, snapshot: d.snapshot, entries: d.entries.slice(), stateMachine: new Map([...d.stateMachine].map(([k, v]) => [k, v.slice()])), stores: d.stores };
}

/** What the store has durably reached, as node_process.ts records it (StoreHighWater). */
function highWaterOf(incarnation: Incarnation, d: DurableState): StoreHighWater {
  const last = d.entries.length > 0 ? d.entries[d.entries.length - 1] : null;
  const snap = d.snapshot?.metadata;
  return {
    storeId: incarnation,
    term: d.hardState.term,
    vote: d.hardState.vote,
    commit: d.hardState.commit,
    lastIndex: last ? last.index : (snap?.index ?? 0),
    lastTerm: last ? last.term : (snap?.term ?? 0),
  };
}

export function runSimulation(options: SimulationOptions): SimulationResult {
  return new Simulation(options).run();
}

class Simulation {
  private readonly rng: SeededRandom;
  /**
   * The operator's chores draw from their own stream (as the validator side does), so that the
   * fault model can grow without moving every seed's schedule of Raft faults.
   */
  private readonly opRng: SeededRandom;
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
  private readonly chains: { chainId: string; key: ValidatorKey }[];
  private readonly logger: Logger = quietLogger();
  private readonly signerChecker: SignerInvariantChecker;
  /** The sign paths' counters, over every process of every node. */
  private readonly signCounters: SignPathCounters = { forwards: 0, entries: 0, coalesced: 0, foreignStore: 0 };
  private readonly refusedByReason: Partial<Record<SignRefusalReason, number>> = {};
  private readonly signDeadlineMs: number;
  private readonly loggers = new Map<NodeId, Logger>();
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
  private restoredData = 0;
  private foundingRefusals = 0;
  /** The highest index whose imports were counted (each entry once, by the first node to apply it). */
  private importsCountedThrough = 0;
  private restoresRefused = 0;
  private readonly importCounts = { proposed: 0, refusedAtEntry: 0, imported: 0, ignored: 0, refused: 0 };
  private signingAtHeal = new Set<NodeId>();
  /** The closed intervals in which a majority of the voters was healthy (majorityHealthy)... */
  private readonly healthy: Interval[] = [];
  /** ...and since when it has been, if it is now. */
  private healthySince: number | null = null;
  /**
   * Bumped by whatever changes a node's health (a process starts or dies, pauses or resumes, a
   * store or a link changes): with the membership read (a new ConfState object on every change),
   * it tells trackHealth when the answer may differ, so that it is not recomputed every event.
   */
  private healthVersion = 0;
  private healthSeen: { version: number; conf: ConfState | null } = { version: -1, conf: null };
  /** The faults the nemesis (and the operator) started, with their times, to name a stall's cause. */
  private readonly faultLog: FaultRecord[] = [];
  /** The last degraded network, which lasts until the next 'network' fault or the heal. */
  private networkFault: FaultRecord | null = null;

  constructor(private readonly opts: SimulationOptions) {
    this.rng = new SeededRandom(opts.seed);
    this.opRng = new SeededRandom((opts.seed * 40503 + 0x0f0f) >>> 0);
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
    this.chains = chains;
    this.keys = new KeyRing(chains.map((c) => [c.chainId, c.key]));
    this.signerChecker = new SignerInvariantChecker(() => this.now, opts.signerChecks);
    this.signDeadlineMs = opts.signDeadlineMs ?? SIGN_DEADLINE_MS;
    this.fleet = new ValidatorFleet(this.fleetHost(), {
      chains: chains.map((c) => ({ chainId: c.chainId, pubKey: c.key.publicKey })),
      homes: Array.from({ length: opts.nodes }, (_, i) => `n${i}`),
      random: signRng,
      validatorsPerChain: signRng.pick([2, 3]),
      stepMs: signRng.pick([80, 120, 200]),
      disagreement: signRng.pick([0, 0.05, 0.2, 0.5]),
      resendMs: this.signDeadlineMs + 100,
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
    const lists = this.founderLists(founders);
    const refused = founders.filter((id) => this.foundingRefusal(id, lists) !== null);
    for (const id of founders) {
      const node = new SimNode(id, refused.includes(id) ? emptyDisk() : founded(lists.get(id) as NodeId[]));
      this.nodes.set(id, node);
      if (refused.includes(id)) {
        if (this.opts.trace) this.trace(() => `${id} refuses to found: ${this.foundingRefusal(id, lists)}`);
      } else this.start(node);
    }
    if (refused.length > 0) {
      this.foundingRefusals = refused.length;
      // The operator reads the refusals, fixes the lists, and starts the founders again.
      this.queue.push(this.opRng.between(200, 600), { kind: 'fix-founding', nodes: refused });
    }
    if (this.opts.signing !== false) this.fleet.start();
    this.queue.push(50, { kind: 'propose' });
    this.queue.push(this.rng.between(100, 300), { kind: 'nemesis' });
    this.queue.push(this.opRng.between(100, 400), { kind: 'operator-chores' });
    this.queue.push(this.chaosMs, { kind: 'heal' });
    const end = this.chaosMs + this.livenessMs;
    let stoppedAt = end;
    this.trackHealth();
    for (;;) {
      const ev = this.queue.pop();
      if (!ev || ev.at > end) break;
      this.now = ev.at;
      this.events++;
      this.handle(ev.value);
      this.trackHealth();
      if ((this.opts.raftChecks !== false && this.checker.violations.length > 0) || this.signerChecker.violations.length > 0) {
        stoppedAt = this.now;
        break;
      }
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
    const refusals = Object.values(this.refusedByReason).reduce((a, n) => a + n, 0);
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
      refusalReasons: { ...this.refusedByReason },
      signEntries: this.signCounters.entries,
      forwards: this.signCounters.forwards,
      coalesced: this.signCounters.coalesced,
      storesLost: this.storesLost,
      rejoined: this.rejoined,
      ignoredAnswers: this.ignoredAnswers,
      foreignStoreRefusals: this.signCounters.foreignStore,
      foundingRefusals: this.foundingRefusals,
      restoredData: this.restoredData,
      restoresRefused: this.restoresRefused,
      imports: { ...this.importCounts },
      availability: this.availability(stoppedAt),
    };
  }

  // --- availability over time (availability.ts) ----------------------------------------------

  /**
   * A majority of the current voters is healthy: at least a quorum of them are each up, not
   * paused, running on the store the membership names (as the sign path requires), and connected
   * both ways (no `blocked` link in either direction) to a quorum of such voters, themselves
   * included. An approximation: it does not check that those voters are all connected to each
   * other (a quorum of one-way cuts can leave none to elect), and it ignores the 'network' fault's
   * loss, duplication and delay, which slow a healthy majority down (a stall then names them). The
   * membership is the one `members()` reads, the most advanced live node's.
   */
  private majorityHealthy(cs: ConfState | null): boolean {
    if (!cs) return false;
    const quorum = Math.floor(cs.voters.length / 2) + 1;
    const ok = (id: NodeId): boolean => {
      const n = this.nodes.get(id);
      return n !== undefined && n.up && !n.paused && !n.decommissioned && n.incarnation === incarnationOf(cs, id);
    };
    const linked = (a: NodeId, b: NodeId): boolean => a === b || (!this.blocked.has(`${a}>${b}`) && !this.blocked.has(`${b}>${a}`));
    const healthy = cs.voters.filter(ok);
    return healthy.filter((a) => healthy.filter((b) => linked(a, b)).length >= quorum).length >= quorum;
  }

  /** After every event: opens or closes the interval of majority health (virtual time only). */
  private trackHealth(): void {
    // The membership as members() reads it (the most advanced live node's), without its arrays.
    let best: Raft | null = null;
    for (const n of this.nodes.values()) {
      const r = n.up ? n.raft : null;
      if (r && (!best || r.log.commit > best.log.commit)) best = r;
    }
    const conf = best ? best.confState : null;
    if (this.healthSeen.version === this.healthVersion && this.healthSeen.conf === conf) return;
    this.healthSeen = { version: this.healthVersion, conf };
    const ok = this.majorityHealthy(conf);
    if (ok && this.healthySince === null) this.healthySince = this.now;
    else if (!ok && this.healthySince !== null) {
      if (this.now > this.healthySince) this.healthy.push({ start: this.healthySince, end: this.now });
      this.healthySince = null;
    }
  }

  private logFault(what: string, endsAt: number = this.now): FaultRecord {
    const f: FaultRecord = { start: this.now, end: Math.max(this.now, endsAt), what };
    this.faultLog.push(f);
    return f;
  }

  /**
   * The whole run [0, end) in slots of the fleet's step time, per chain (a validator is available
   * in a slot when any of its validator nodes obtained a signature), summed over the chains.
   */
  private availability(end: number): SimulationResult['availability'] {
    const healthy = this.healthySince !== null && end > this.healthySince ? [...this.healthy, { start: this.healthySince, end }] : this.healthy;
    const chains = this.opts.signing === false ? [] : this.fleet.signatureTimes();
    const all = combine(chains.map((c) => computeAvailability({ signedAt: c.times, healthy, slotMs: this.fleet.stepMs, window: { start: 0, end } })));
    const stall = all.longestStall;
    return {
      slots: all.slots,
      servedSlots: all.servedSlots,
      ratio: all.ratio,
      longestStallMs: stall?.lengthMs ?? 0,
      longestStallAt: stall?.start ?? 0,
      longestStallCause: stall ? `${describeFaults(this.faultLog, stall.start, stall.end)}${chains.length > 1 ? ` (${chains[all.longestIn].chainId})` : ''}` : '',
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

  // --- node lifecycle: each process is the production core on this simulator's host -----------

  /** Starts a process on the node's disk: what a restarted node finds there, and nothing else. */
  private start(node: SimNode): void {
    const d = node.disk;
    // Before anything else, as node_process.ts: a data directory behind its own high-water record
    // (put back from an older copy) or holding another store must not take part at all.
    node.restorePending = false;
    const mark = highWaterOf(node.incarnation, node.disk);
    const verdict = node.highWater && this.opts.highWaterCheck !== false ? compareStoreHighWater(node.highWater, mark) : 'same-store';
    if (verdict === 'behind' || verdict === 'other-store') {
      this.restoresRefused++;
      if (this.opts.trace) this.trace(() => `${node.id} refuses to start: its store is ${verdict === 'behind' ? 'behind its own high-water record' : 'not the one its record names'}; the operator rejoins it as a learner on a new store`);
      this.startOnNewStore(node, 'refused-restore', node.repair?.wasVoter ?? this.members().voters.includes(node.id));
      return;
    }
    node.highWater = mark;
    // The same decoder the node process reads its LevelDB keyspace with (slashing_records.ts).
    const loaded = decodeRecords(stateMachinePairs(d));
    const raft = this.factory(
      {
        id: node.id,
        incarnation: node.incarnation,
        heartbeatTicks: HEARTBEAT_TICKS,
        electionTicks: ELECTION_TICKS,
        random: new SeededRandom(this.rng.nextUint32()),
        maxAppendEntries: this.maxAppendEntries,
        maxInflightAppends: this.maxInflightAppends,
      },
      { hardState: { ...d.hardState }, snapshot: d.snapshot, entries: d.entries.slice(), applied: loaded.applied },
    );
    if (raft instanceof ObservedRaft) raft.observer = this.answerObserver;
    if (this.opts.trace) this.trace(() => `${node.id} (store ${node.incarnation}) starts: disk applied ${loaded.applied}, commit ${d.hardState.commit}, snapshot ${d.snapshot?.metadata.index ?? 0}`);
    node.up = true;
    node.paused = false;
    this.healthVersion++;
    node.deferred = [];
    node.epoch++;
    const epoch = node.epoch;
    const machine = SignerStateMachine.fromRecords(loaded, this.keys, this.logger);
    const clock = this.processClock(node, epoch);
    const logger = this.nodeLogger(node.id);
    const driver = new ReplicaDriver({
      id: node.id,
      raft,
      machine: fillerAsNoop(machine),
      clock,
      disk: this.processDisk(node, epoch),
      network: { send: (messages) => this.sendAll(messages) },
      tickMs: TICK_MS,
      snapshotEntries: this.compactEvery,
      logger,
      observer: this.driverObserver(node),
      sendBeforePersist: this.opts.sendBeforePersist,
    });
    node.driver = driver;
    node.machine = machine;
    node.signPath = new SignPath({
      driver,
      machine,
      keys: this.keys,
      clock,
      forwarder: this.forwarder(node, epoch),
      deadlineMs: this.signDeadlineMs,
      logger,
      releaseBeforeCommit: this.opts.releaseBeforeCommit,
      releaseWithoutApply: this.opts.releaseWithoutApply,
      trustCoreApplied: this.releaseCheckIndex === 'core',
      counters: this.signCounters,
    });
    driver.start();
    // The recorder lags the store by at most one interval and never leads it (it reads the disk).
    clock.every(HIGH_WATER_MS, () => {
      node.highWater = highWaterOf(node.incarnation, node.disk);
    });
  }

  private crash(node: SimNode): void {
    // The process is gone: whatever was handed to the disk but not yet durable is lost with it,
    // and so is every sign request in progress on it (no answer at all); the forwarded calls it
    // was serving fail. Nothing of the process is asked to stop: its callbacks are dropped.
    if (this.opts.trace) this.trace(() => `${node.id} crashes${node.driver?.persistInFlight ? ' while writing' : ''}: disk applied ${diskApplied(node.disk)}`);
    node.up = false;
    this.healthVersion++;
    node.driver = null;
    node.signPath = null;
    node.machine = null;
    node.deferred = [];
    for (const h of node.held) h.fail();
    node.held.clear();
    node.epoch++;
    this.crashes++;
  }

  /** The process's clock: virtual time, every callback bound to the process that set it. */
  private processClock(node: SimNode, epoch: number): Clock {
    const timer = (): SimTimer => ({
      cancelled: false,
      cancel() {
        this.cancelled = true;
      },
    });
    return {
      now: () => this.now,
      after: (ms, fn) => {
        const t = timer();
        this.queue.push(this.now + Math.max(0, ms), { kind: 'call', node: node.id, epoch, fn, timer: t });
        return t;
      },
      every: (ms, fn) => {
        const t = timer();
        const fire = (): void => {
          this.queue.push(this.now + ms, { kind: 'call', node: node.id, epoch, fn: fire, timer: t, repeatMs: ms });
          fn();
        };
        // Processes do not tick in step: the first tick comes anywhere in the first period.
        this.queue.push(this.now + this.rng.between(1, ms), { kind: 'call', node: node.id, epoch, fn: fire, timer: t, repeatMs: ms });
        return t;
      },
      soon: (fn) => this.queue.push(this.now, { kind: 'call', node: node.id, epoch, fn }),
    };
  }

  /** The process's disk: a batch is durable after the fsync's latency, unless the process dies first. */
  private processDisk(node: SimNode, epoch: number): Disk {
    return {
      persist: (batch, done) => {
        // fsync latency varies by seed: a slow disk widens the window between ready() and durability.
        const latency = batch.sync ? this.rng.between(1, this.maxDiskMs) : 0;
        this.queue.push(this.now + latency, { kind: 'persisted', node: node.id, epoch, batch, done });
      },
    };
  }

  /** What the checkers see of the driver: each new leader, and each Ready before it is written. */
  private driverObserver(node: SimNode): DriverObserver {
    return {
      stepped: (raft) => {
        if (raft.role !== Role.Leader || this.lastLeaderTerm.get(node.id) === raft.term) return;
        this.lastLeaderTerm.set(node.id, raft.term);
        this.leaderChanges++;
        if (this.opts.trace) this.trace(() => `${node.id} leads term ${raft.term}`);
        this.checker.onLeader(node.id, raft.term, {
          snapshotIndex: raft.log.snapshot.metadata.index,
          lastIndex: raft.log.lastIndex(),
          term: (i) => raft.log.term(i),
        });
      },
      ready: (rd, raft) => this.observeReady(node, rd, raft),
    };
  }

  private observeReady(node: SimNode, rd: Ready, raft: Raft): void {
    if (rd.entries.length > 0) {
      const prevTerm = raft.log.term(rd.entries[0].index - 1) ?? 0;
      this.checker.onEntriesWritten(node.id, rd.entries, prevTerm);
    }
    if (rd.snapshot && this.opts.trace) {
      this.trace(() => `${node.id} restores a snapshot at ${rd.snapshot?.metadata.index} (disk applied ${diskApplied(node.disk)}, core applied ${raft.log.applied})`);
    }
    const machine = node.machine as SignerStateMachine;
    for (const e of rd.committedEntries) {
      this.checker.onApplied(node.id, e, raft.term);
      if (e.index > this.signerChecker.committedIndex) this.signerChecker.onCommitted(e.index, signRequestsOf(e), importsOf(e));
      if (this.healed && isFiller(e) && this.proposedAfterHeal.has(dataKey(e.data))) this.commitAfterHeal ??= this.now;
      // The driver applied the Ready before showing it: the decisions are in memory, not yet on disk.
      const decision = machine.decisionAt(e.index);
      if (decision && (decision.signs.length > 0 || decision.imports.length > 0)) {
        this.signerChecker.onDecided(node.id, e.index, decision.signs.map((d) => d.outcome.kind), decision.imports.map((i) => i.kind));
        if (e.index > this.importsCountedThrough) for (const i of decision.imports) this.importCounts[i.kind]++;
      }
      if (e.index > this.importsCountedThrough) this.importsCountedThrough = e.index;
    }
  }

  /**
   * Where a node's core and sign path log: an error is a bug or a broken invariant (a failed
   * apply, a sign path step that threw), never an expected event in the simulator, whose disks do
   * not fail: it is recorded as a violation.
   */
  private nodeLogger(id: NodeId): Logger {
    let logger = this.loggers.get(id);
    if (!logger) {
      // Over the shared logger that discards everything: a winston logger, even a silent one,
      // queues every entry until the event loop turns, which a run of seeds in one synchronous
      // loop never lets it do (a worker running thousands of seeds ran out of memory).
      const l = Object.create(quietLogger()) as Logger;
      l.error = ((message: unknown, meta?: unknown) => {
        this.signerChecker.violations.push(`internal error on ${id} at t=${this.now}: ${String(message)}${meta === undefined ? '' : ` ${describeMeta(meta)}`}`);
        return l;
      }) as Logger['error'];
      this.loggers.set(id, l);
      logger = l;
    }
    return logger;
  }

  /** A background operation the core may refuse (not leading, a change in flight); anything else is a bug. */
  private expectRefusal(what: string, error: Error | null): void {
    if (error === null || error instanceof ProposalRefusedError || error instanceof NodeStoppedError) {
      if (error && this.opts.trace) this.trace(() => `${what} refused: ${error.message}`);
      return;
    }
    this.signerChecker.violations.push(`internal error: ${what} failed: ${error.message}`);
  }

  // --- events ---------------------------------------------------------------------------------

  private handle(ev: SimEvent): void {
    switch (ev.kind) {
      case 'deliver': {
        const node = this.nodes.get(ev.msg.to);
        // Queued by the driver, stepped at its next turn (which waits while the process is paused).
        node?.driver?.receive(ev.msg);
        return;
      }
      case 'persisted': {
        const node = this.nodes.get(ev.node) as SimNode;
        if (node.epoch !== ev.epoch || !node.up) return; // the process died before the write was durable
        persistBatch(node.disk, ev.batch);
        if (node.paused) node.deferred.push(() => ev.done(null));
        else ev.done(null);
        return;
      }
      case 'propose':
        // With validator nodes signing, their entries are load enough: fewer background proposals,
        // so that a seed's slowest replication settings (one entry per append, one append in
        // flight) still keep up once the faults heal.
        this.queue.push(this.now + (this.opts.signing === false ? this.rng.between(10, 40) : this.rng.between(30, 90)), { kind: 'propose' });
        this.propose();
        return;
      case 'fix-founding': {
        const all = Array.from({ length: this.opts.nodes }, (_, i) => `n${i}`);
        for (const id of ev.nodes) {
          const node = this.nodes.get(id) as SimNode;
          if (node.up || node.decommissioned) continue;
          node.disk = founded(all);
          this.start(node);
        }
        return;
      }
      case 'operator-chores':
        if (this.healed) return;
        this.queue.push(this.now + this.opRng.between(100, 400), { kind: 'operator-chores' });
        this.operatorChores();
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
        this.healthVersion++;
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
        this.healthVersion++;
        return;
      }
      case 'call': {
        if (ev.timer?.cancelled) return;
        if (ev.node === null) return ev.fn();
        const node = this.nodes.get(ev.node) as SimNode;
        if (node.epoch !== ev.epoch || !node.up) return;
        if (!node.paused) return ev.fn();
        // A paused process misses its ticks; everything else runs once it resumes.
        if (ev.repeatMs !== undefined) this.queue.push(this.now + ev.repeatMs, ev);
        else node.deferred.push(ev.fn);
        return;
      }
    }
  }

  private resume(node: SimNode): void {
    node.paused = false;
    this.healthVersion++;
    const deferred = node.deferred;
    node.deferred = [];
    const epoch = node.epoch;
    for (const fn of deferred) if (node.epoch === epoch && node.up && !node.paused) fn();
  }

  // --- the signer: the Signer RPC between nodes and the validator nodes ---------------------------

  /** Runs `fn` after `ms`: on `node`'s process of `epoch` (dropped if it died), or on the validator side (null). */
  private at(node: SimNode | null, ms: number, fn: () => void, epoch = node?.epoch ?? 0): void {
    this.queue.push(this.now + ms, { kind: 'call', node: node?.id ?? null, epoch, fn });
  }

  /**
   * The Signer service as `origin`'s process of `epoch` calls it: the request travels to the
   * target, whose own SignPath decides it as leader, and the answer travels back. A target that is
   * down refuses the connection; one that dies while serving fails the call; a cut link or a lost
   * packet makes the call hang until the sign path's deadline.
   */
  private forwarder(origin: SimNode, originEpoch: number): SignForwarder {
    return {
      forward: (leaderId, request, timeoutMs, onAnswer, onFail) => {
        const timer: SimTimer = {
          cancelled: false,
          cancel() {
            this.cancelled = true;
          },
        };
        const delay = (): number => this.rng.between(1, this.maxDelayMs);
        const toOrigin = (fn: () => void): void => this.queue.push(this.now + delay(), { kind: 'call', node: origin.id, epoch: originEpoch, fn, timer });
        const fail = (why: string): void => toOrigin(() => onFail(new Error(why)));
        const target = this.nodes.get(leaderId);
        if (!target || !target.up) {
          fail(`connection to ${leaderId} refused`);
          return timer;
        }
        if (this.blocked.has(`${origin.id}>${leaderId}`) || this.rng.chance(this.lossRate)) return timer;
        const held: HeldCall = { fail: () => fail(`${leaderId} closed the connection`) };
        target.held.add(held);
        this.at(target, delay(), () => {
          if (!target.held.has(held)) return;
          (target.signPath as SignPath).decideAsLeader(request, timeoutMs, (answer) => {
            if (!target.held.delete(held)) return;
            if (this.blocked.has(`${leaderId}>${origin.id}`) || this.rng.chance(this.lossRate)) return;
            toOrigin(() => onAnswer(answer));
          });
        });
        return timer;
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
          (n.signPath as SignPath).sign(request, this.signDeadlineMs, (answer) => {
            this.answered(n, request, answer);
            this.at(null, PRIVVAL_MS, () => reply(answer));
          });
        });
        return true;
      },
    };
  }

  /** An answer leaves node `n` for its validator node: a released signature goes to the checker first. */
  private answered(n: SimNode, r: SignRequest, answer: ReleaseAnswer): void {
    if (answer.kind === 'refused') {
      this.refusedByReason[answer.reason] = (this.refusedByReason[answer.reason] ?? 0) + 1;
      if (this.opts.trace) this.trace(() => `${n.id} refuses ${r.chainId} ${r.height}/${r.round}/${r.step}: ${answer.reason}`);
      return;
    }
    const stored = answer.kind === 'signed-with-stored-timestamp';
    if (this.opts.trace) {
      this.trace(() => `${n.id} releases ${r.chainId} ${r.height}/${r.round}/${r.step}${stored ? ' (stored timestamp)' : ''}: disk applied ${diskApplied(n.disk)}, core applied ${n.raft?.log.applied}${n.driver?.persistInFlight ? ', writing' : ''}`);
    }
    this.signerChecker.onReleased({
      chainId: r.chainId,
      pubKey: r.pubKey,
      height: r.height,
      round: r.round,
      step: r.step,
      requestBytes: r.signBytes,
      signedBytes: answer.kind === 'signed-with-stored-timestamp' ? withTimestamp(r.signBytes, r.step, answer.timestamp) : r.signBytes,
      signature: answer.signature,
      storedTimestamp: stored,
      node: n.id,
      durableApplied: diskApplied(n.disk),
      foreignStore: namedWithAnotherStore(n),
    });
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
    this.healthVersion++;
    this.queue.push(this.now + forMs, { kind: 'heal-link', key });
  }

  // --- client and faults ----------------------------------------------------------------------

  private liveNodes(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.up);
  }

  private leaders(): SimNode[] {
    return this.liveNodes().filter((n) => !n.paused && n.raft?.role === Role.Leader);
  }

  private propose(): void {
    const leaders = this.leaders();
    if (leaders.length === 0) return;
    const node = this.rng.pick(leaders);
    const key = `p${this.proposalSeq++}`;
    if (this.healed) this.proposedAfterHeal.add(key);
    (node.driver as ReplicaDriver).propose(Buffer.from(key), (error) => this.expectRefusal('a proposal', error));
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
      const writing = live.filter((n) => n.driver?.persistInFlight);
      const victim =
        writing.length > 0 && this.rng.chance(0.5)
          ? this.rng.pick(writing)
          : leaders.length > 0 && this.rng.chance(0.5)
            ? this.rng.pick(leaders)
            : live.length
              ? this.rng.pick(live)
              : null;
      if (victim) {
        const what = `crash ${victim.id}${victim.raft?.role === Role.Leader ? ' (leader)' : ''}${victim.driver?.persistInFlight ? ' mid-write' : ''}`;
        this.crash(victim);
        const restartAt = this.now + this.rng.between(20, 800);
        this.logFault(what, Math.min(restartAt, this.chaosMs));
        this.queue.push(restartAt, { kind: 'restart', node: victim.id });
      }
    } else if (fault === 'pause') {
      const live = this.liveNodes().filter((n) => !n.paused);
      if (live.length) {
        const victim = this.rng.pick(live);
        victim.paused = true;
        this.healthVersion++;
        if (this.opts.trace) this.trace(() => `${victim.id} pauses`);
        const resumeAt = this.now + this.rng.between(50, 1000);
        this.logFault(`pause ${victim.id}`, Math.min(resumeAt, this.chaosMs));
        this.queue.push(resumeAt, { kind: 'resume', node: victim.id });
      }
    } else if (fault === 'partition') {
      // A symmetric partition into two random sides.
      const side = new Set(ids.filter(() => this.rng.chance(0.5)));
      const forMs = this.rng.between(100, 1200);
      for (const a of ids) for (const b of ids) if (a !== b && side.has(a) !== side.has(b)) this.block(a, b, forMs);
      const other = ids.filter((id) => !side.has(id));
      if (side.size > 0 && other.length > 0) this.logFault(`partition ${[...side].join(',')} | ${other.join(',')}`, Math.min(this.now + forMs, this.chaosMs));
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
        this.logFault(`isolate leader ${l}`, Math.min(this.now + forMs, this.chaosMs));
      }
    } else if (fault === 'one-way') {
      // A one-way link failure.
      const a = this.rng.pick(ids);
      const b = this.rng.pick(ids);
      if (a !== b) {
        const forMs = this.rng.between(100, 1500);
        this.block(a, b, forMs);
        this.logFault(`one-way ${a}>${b}`, Math.min(this.now + forMs, this.chaosMs));
      }
    } else if (fault === 'network') {
      this.lossRate = this.rng.pick([0, 0, 0.05, 0.2, 0.4]);
      this.dupRate = this.rng.pick([0, 0, 0.05, 0.2]);
      this.maxDelayMs = this.rng.pick([5, 10, 20, 60, 150]);
      if (this.networkFault) this.networkFault.end = this.now;
      const degraded = this.lossRate > 0 || this.dupRate > 0 || this.maxDelayMs > 10;
      this.networkFault = degraded ? this.logFault(`network loss=${this.lossRate} dup=${this.dupRate} delay<=${this.maxDelayMs}ms`, this.chaosMs) : null;
    } else if (fault === 'transfer') {
      const leaders = this.leaders();
      const { voters } = this.members();
      if (leaders.length && voters.length) {
        const leader = this.rng.pick(leaders);
        const target = this.rng.pick(voters);
        if (target !== leader.id) this.logFault(`transfer ${leader.id}>${target}`);
        (leader.driver as ReplicaDriver).call((raft) => raft.transferLeadership(target), (error) => this.expectRefusal(`a transfer to ${target}`, error));
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
    // A node whose restored copy has not been checked yet may be refused: it is as good as lost.
    const named = (n: SimNode): boolean => n.incarnation === incarnationOf(cs, n.id) && !n.restorePending;
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
    this.storesLost++;
    this.startOnNewStore(victim, fault, wasVoter);
  }

  /** Each founder's member list as its config.yaml gives it: all founders, or foundingMismatch's. */
  private founderLists(founders: NodeId[]): Map<NodeId, NodeId[]> {
    const all = [...founders].sort();
    const lists = new Map(founders.map((id) => [id, all]));
    // By default one 5-node seed in twenty, drawn apart from every other stream.
    const mismatch = this.opts.foundingMismatch ?? new SeededRandom((this.opts.seed * 97 + 0x51) >>> 0).chance(0.05);
    if (mismatch && founders.length === 5) {
      lists.set('n0', ['n0', 'n1', 'n2']);
      lists.set('n1', ['n0', 'n1', 'n2']);
      lists.set('n3', ['n2', 'n3', 'n4']);
      lists.set('n4', ['n2', 'n3', 'n4']);
    }
    return lists;
  }

  /**
   * Why founder `id` refuses to found, or null: as gatherFounding, it asks every founder its list
   * names for theirs, and any difference (foundersDifference, the production comparison) stops it
   * before it writes anything.
   */
  private foundingRefusal(id: NodeId, lists: Map<NodeId, NodeId[]>): string | null {
    if (this.opts.foundingCheck === false) return null;
    const ours = lists.get(id) as NodeId[];
    for (const peer of ours) {
      const diff = foundersDifference(ours, lists.get(peer) ?? []);
      if (diff !== null) return `founder ${peer}'s list differs: ${diff}`;
    }
    return null;
  }

  /** Now and then: a backup of some running node, a data directory put back from one, a state import. */
  private operatorChores(): void {
    const running = this.liveNodes();
    if (this.opts.storeFaults !== false && running.length > 0 && this.opRng.chance(0.5)) this.backUp(this.opRng.pick(running));
    if (this.opts.storeFaults !== false && this.opRng.chance(this.opts.restoreChance ?? 0.08)) this.restoreOldData();
    if (this.opts.signing !== false && this.opts.imports !== false && this.opRng.chance(0.12)) this.importState();
  }

  /**
   * A data directory put back from an older copy of itself (a restored backup, a volume
   * snapshot): the same store, same incarnation, with less than it acknowledged. The node's own
   * high-water check (start) must refuse it unless nothing changed since the copy; the operator
   * then rejoins it on a new store (which copies are restored: see `old` below).
   */
  private restoreOldData(): void {
    const cs = this.members();
    if (!this.membershipSettled(cs)) return;
    const quorum = (size: number): number => Math.floor(size / 2) + 1;
    const named = (n: SimNode): boolean => !n.decommissioned && !n.restorePending && n.incarnation === incarnationOf(cs, n.id);
    const namedVoters = cs.voters.map((id) => this.nodes.get(id)).filter((n): n is SimNode => n !== undefined && named(n));
    // A refused restore is a lost store: never more than the membership can spare.
    if (namedVoters.length - 1 < quorum(cs.voters.length) || namedVoters.length - 1 + cs.learners.length < quorum(cs.voters.length + cs.learners.length)) return;
    // Only copies the high-water record can tell apart: behind the last mark it recorded, or no
    // different from the store itself. A copy at or above the record but behind the store (the
    // store moved on within the recorder's last interval of running time before the crash) is the
    // check's documented gap, which this simulator found: it would start and apply a log it forgot.
    const old = (n: SimNode) =>
      n.backups.filter((b) => {
        if (b.disk.stores !== n.stores || n.highWater === null) return false;
        const copy = highWaterOf(n.incarnation, b.disk);
        return compareStoreHighWater(n.highWater, copy) === 'behind' || compareStoreHighWater(highWaterOf(n.incarnation, n.disk), copy) === 'same-store' && compareStoreHighWater(copy, highWaterOf(n.incarnation, n.disk)) === 'same-store';
      });
    const candidates = namedVoters.filter((n) => old(n).length > 0);
    if (candidates.length === 0) return;
    const victim = this.opRng.pick(candidates);
    const copy = this.opRng.pick(old(victim));
    if (victim.up) this.crash(victim);
    victim.disk = copyDisk(copy.disk);
    victim.restorePending = true;
    this.restoredData++;
    this.healthVersion++;
    if (this.opts.trace) this.trace(() => `${victim.id} restore-old-data: its data directory is put back from t=${copy.at}`);
    const restartAt = this.now + this.opRng.between(20, 800);
    this.logFault(`restore-old-data ${victim.id} (copy of t=${copy.at})`, Math.min(restartAt, this.chaosMs));
    this.queue.push(restartAt, { kind: 'restart', node: victim.id });
  }

  /** The operator's backup job copies a node's data directory (while it runs: the disk as synced). */
  private backUp(node: SimNode): void {
    node.backups.push({ at: this.now, disk: copyDisk(node.disk) });
    if (node.backups.length > BACKUPS_KEPT) node.backups.splice(1, 1);
  }

  /**
   * The operator imports a state (`state import` through the Admin service on the leader, or on
   * another node, which refuses): a signer being migrated from, or something crafted by a holder
   * of the admin certificate. Every node applies the entry alike; the checker's reference model
   * (signer_invariants.ts) says what each import must do.
   */
  private importState(): void {
    const live = this.liveNodes().filter((n) => !n.paused);
    if (live.length === 0) return;
    const leaders = live.filter((n) => n.raft?.role === Role.Leader);
    const node = leaders.length > 0 && this.opRng.chance(0.8) ? this.opRng.pick(leaders) : this.opRng.pick(live);
    const chain = this.opRng.pick(this.chains);
    const record = node.machine?.recordOf(chain.chainId, chain.key.publicKey);
    const draft = draftImport(this.opRng, chain.chainId, chain.key, record?.record.height ?? 1n, this.now);
    this.importCounts.proposed++;
    this.logFault(`import-state ${draft.kind} on ${node.id}`);
    if (this.opts.trace) this.trace(() => `operator imports ${draft.kind} ${chain.chainId} ${draft.command.record.height}/${draft.command.record.round}/${draft.command.record.step} on ${node.id}`);
    const crafted = draft.kind === 'bad-signature' || draft.kind === 'other-chain';
    (node.signPath as SignPath).importState(draft.command, (error) => {
      if (error instanceof SignerCodecError) {
        // Refused before it is proposed; a valid import must never be.
        if (crafted) this.importCounts.refusedAtEntry++;
        else this.signerChecker.violations.push(`internal error: a valid ${draft.kind} import was refused on ${node.id}: ${error.message}`);
        return;
      }
      if (crafted && error === null) this.signerChecker.violations.push(`internal error: a crafted ${draft.kind} import was committed on ${node.id}`);
      if (error instanceof DeadlineError || error instanceof LeadershipChangedError) return;
      this.expectRefusal(`import-state on ${node.id}`, error);
    });
  }

  /** The node comes back on a new, empty store (a new incarnation) without being removed first; the operator may then rejoin it. */
  private startOnNewStore(victim: SimNode, fault: string, wasVoter: boolean): void {
    const old = victim.incarnation;
    victim.stores++;
    victim.incarnation = `${victim.id}#${victim.stores}`;
    this.healthVersion++;
    victim.disk = emptyDisk(victim.stores);
    const mode = this.rng.pick<RepairMode>(['procedure', 'procedure', 'procedure', 'procedure', 'add-first', 'add-first', 'promote-early', 'promote-early', 'promote-early', 'never', 'never']);
    const plan = ++this.repairPlans;
    victim.repair = { plan, mode, wasVoter, addTried: false, promoteTried: false };
    if (this.opts.trace) this.trace(() => `${victim.id} ${fault}: store ${old} is gone, it comes back on ${victim.incarnation} without being removed; operator: ${mode}`);
    const restartAt = this.now + this.rng.between(20, 800);
    this.logFault(`${fault} ${victim.id}`, Math.min(restartAt, this.chaosMs));
    this.queue.push(restartAt, { kind: 'restart', node: victim.id });
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
    this.logFault(`operator ${cc.type} ${id}`);
    (leader.driver as ReplicaDriver).proposeConfChange(cc, (error) => {
      if (!error && this.opts.trace) this.trace(() => `operator: ${cc.type} ${id}${cc.type === 'addLearner' ? ` (store ${node.incarnation})` : ''} proposed on ${leader.id}`);
      this.expectRefusal(`operator: ${cc.type} ${id} on ${leader.id}`, error);
    });
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
    let cc: ConfChange;
    if (learners.length > 0) {
      cc = { type: 'promote', node: learners[0] };
    } else if (voters.length > this.opts.nodes) {
      // While a voter runs on a store the membership does not name, not the leader itself: a
      // leader that removes itself steps down before its followers learn that the removal
      // committed, and refuses their shorter logs its vote; with the unnamed store that leaves
      // them without a quorum in the membership they still apply, for good (a liveness limit of
      // the core, seen here, left to its owners).
      const unnamed = voters.some((id) => (this.nodes.get(id) as SimNode).incarnation !== incarnationOf(raft.confState, id));
      const victim = this.rng.pick(unnamed ? voters.filter((id) => id !== leader.id) : voters);
      cc = { type: 'remove', node: victim };
      // The operator decommissions the node once the removal has had time to commit; a fresh id
      // is used for every new member, never a wiped old one (a wiped voter forgets its votes).
      this.queue.push(this.now + 1500, { kind: 'decommission', node: victim });
    } else {
      const id = `n${this.nextNodeNumber++}`;
      const node = new SimNode(id, emptyDisk());
      this.nodes.set(id, node);
      this.start(node);
      // As ClusterAdmin does: the learner is named with the store it runs on.
      cc = { type: 'addLearner', node: id, incarnation: node.incarnation };
    }
    this.logFault(`${cc.type} ${cc.node}`);
    (leader.driver as ReplicaDriver).proposeConfChange(cc, (error) => this.expectRefusal(`${cc.type} ${cc.node}`, error));
  }

  /** The nodes the sign path lets sign: voters named with their current store (SignPath.notAVoterRefusal). */
  private signingNodes(): Set<NodeId> {
    const cs = this.members();
    return new Set(cs.voters.filter((id) => {
      const n = this.nodes.get(id);
      return n !== undefined && !n.decommissioned && n.incarnation === incarnationOf(cs, id);
    }));
  }

  private heal(): void {
    if (this.networkFault) this.networkFault.end = this.now;
    this.healed = true;
    this.healAt = this.now;
    this.fleet.markHeal();
    this.blocked.clear();
    this.healthVersion++;
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

function importsOf(e: Entry): ImportStateCommand[] {
  if (e.type !== EntryType.Normal || e.data.length === 0 || isFiller(e)) return [];
  const command = decodeSignerCommand(e.data);
  return command.kind === 'import-state' ? command.imports : [];
}

function signRequestsOf(e: Entry): SignRequest[] {
  if (e.type !== EntryType.Normal || e.data.length === 0 || isFiller(e)) return [];
  const command = decodeSignerCommand(e.data);
  return command.kind === 'sign' ? command.requests : [];
}

/** The applied index the disk's state machine holds, read as the node process reads it. */
function diskApplied(d: DurableState): number {
  return decodeRecords(stateMachinePairs(d)).applied;
}

/** The node's membership names it with another store than the one it runs on. */
function namedWithAnotherStore(n: SimNode): boolean {
  const raft = n.raft;
  if (!raft) return false;
  const cs = raft.confState;
  return (cs.voters.includes(n.id) || cs.learners.includes(n.id)) && incarnationOf(cs, n.id) !== raft.incarnation;
}

/** The signer machine, applying the simulator's background proposals as the no-ops they are. */
function fillerAsNoop(machine: SignerStateMachine): StateMachine {
  return {
    apply: (entries) => machine.apply(entries.map(withoutFiller)),
    restore: (data, index) => machine.restore(data, index),
    snapshot: () => machine.snapshot(),
  };
}

function describeMeta(meta: unknown): string {
  try {
    return JSON.stringify(meta, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  } catch {
    return String(meta);
  }
}

let sharedLogger: Logger | null = null;
function quietLogger(): Logger {
  return (sharedLogger ??= discardLogger());
}
