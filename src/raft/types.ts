// The data types of the Raft core: what it persists, what it sends and what it hands to the
// state machine. They are plain objects so that the storage and transport layers can encode them
// without knowing anything else about the core.

/** A node's identity in the cluster, e.g. "node0". Never empty. */
export type NodeId = string;

/** The kinds of log entry. */
export enum EntryType {
  /** State-machine data (empty data: the leader's no-op at the start of its term). */
  Normal = 0,
  /** A membership change; `data` is an encoded `ConfChange` (see confchange.ts). */
  ConfChange = 1,
}

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** What must survive a crash besides the log (Raft paper figure 2, "persistent state"). */
export interface HardState {
  term: number;
  /** Who this node voted for in `term`; "" for nobody. */
  vote: NodeId;
  /** The highest index this node knows to be committed (persisted so a restart re-applies less). */
  commit: number;
}

/**
 * A store's identity: the random id a node's store is created with (RaftStorage.storeId). A copy
 * keeps it; a new, empty store has another. '' only where no real store exists (unit tests).
 */
export type Incarnation = string;

/**
 * A membership: voters decide elections and commits; learners only replicate. Every member is
 * named with the incarnation (store) it was added with: votes and acknowledgements count only
 * from that store, so a node that lost its disk never counts as the voter it was (it forgot what
 * it promised) until it is added again under its new store, as learner, then promoted. This is
 * etcd's rule that a member id is never re-added, applied to stores.
 */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
  /** Member id -> incarnation; a member missing here has incarnation ''. */
  incarnations?: Readonly<Record<NodeId, Incarnation>>;
}

/** The incarnation the membership names for `id` ('' when none is recorded). */
export function incarnationOf(cs: ConfState, id: NodeId): Incarnation {
  return cs.incarnations?.[id] ?? '';
}

export interface SnapshotMetadata {
  /** The last log index the snapshot covers. */
  index: number;
  /** The term of the entry at `index`. */
  term: number;
  /** The membership in force at `index`. */
  confState: ConfState;
}

export interface Snapshot {
  metadata: SnapshotMetadata;
  /** The state machine's image at `metadata.index`, opaque to the core. */
  data: Uint8Array;
}

/** Messages between Raft nodes. Numbers are stable: the transport puts them on the wire. */
export enum MessageType {
  PreVote = 1,
  PreVoteResponse = 2,
  Vote = 3,
  VoteResponse = 4,
  Append = 5,
  AppendResponse = 6,
  Heartbeat = 7,
  HeartbeatResponse = 8,
  InstallSnapshot = 9,
  TimeoutNow = 10,
}

export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  /**
   * Append: term of the entry before `entries` (prevLogTerm). Vote/PreVote: term of the
   * candidate's last entry. AppendResponse with reject: the follower's term at `rejectHint`.
   */
  logTerm: number;
  /**
   * Append: index of the entry before `entries` (prevLogIndex). Vote/PreVote: the candidate's
   * last index. AppendResponse: the follower's last matching index (accept) or the rejected
   * prevLogIndex (reject). HeartbeatResponse: the follower's last index (so a leader notices a
   * follower that lost its disk).
   */
  index: number;
  entries: Entry[];
  /** Append/Heartbeat: the leader's commit index (capped to what the follower is known to hold). */
  commit: number;
  reject: boolean;
  /** AppendResponse with reject: the index the leader should probe next (fast backtracking). */
  rejectHint: number;
  /** InstallSnapshot only. */
  snapshot?: Snapshot;
  /** Vote/PreVote: the campaign was started by a leadership transfer (bypasses leader stickiness). */
  transfer?: boolean;
  /**
   * The sender's incarnation (its store's id). A vote, pre-vote or acknowledgement counts only if
   * it matches the incarnation the receiver's membership names for the sender. Absent means ''.
   */
  incarnation?: Incarnation;
}

export enum Role {
  Follower = 'follower',
  PreCandidate = 'pre-candidate',
  Candidate = 'candidate',
  Leader = 'leader',
}

/** Volatile facts the driver may want to watch (leader changes, role changes). */
export interface SoftState {
  leader: NodeId | null;
  role: Role;
}

/**
 * One batch of work for the driver. THE PERSISTENCE CONTRACT (read this before writing a driver):
 *
 *  1. Persist, in ONE synced write when `mustSync` is true:
 *       - `hardState` if present;
 *       - `snapshot` if present: one received from the leader; store it and make the state
 *         machine restore from it before applying anything else;
 *       - `compaction` if present: a snapshot this node took itself (compact()); store it only,
 *         the state machine is already at or past it;
 *       - `entries`: first delete every stored entry with index >= entries[0].index (a follower
 *         overwriting a conflicting suffix), then write them;
 *       - afterwards the stable log must hold exactly the indexes [logFirstIndex, logLastIndex]:
 *         delete anything outside that range (compaction and snapshot install make it shrink).
 *  2. Apply `committedEntries`, in order, to the state machine. A driver may apply them before
 *     step 1 and put the state machine's writes into that same batch (one fsync per Ready); what
 *     matters is that nothing is released to the outside before the batch is durable.
 *  3. `messagesNow` may be sent at once, while step 1 is being written; `messagesAfterPersist`
 *     only once it is durable. The core decides which is which (as etcd-io/raft's
 *     msgsAfterAppend), so every driver inherits the rule: vote grants and append
 *     acknowledgements promise that the state in step 1 is durable, and sending them earlier
 *     breaks Raft's safety (a node could vote twice in a term, or a leader could count an entry
 *     that a crash then loses). What goes at once is only a leader's Append or Heartbeat that
 *     promises nothing unwritten (see Raft.splitMessages).
 *  4. Call `advance()` before the next `ready()`: it tells the core that step 1 is durable.
 *
 * `mustSync` is true whenever term, vote, commit, entries or the snapshot change; a Ready that only
 * carries messages (heartbeats) or only soft state needs no fsync.
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
  compaction?: Snapshot;
  logFirstIndex: number;
  logLastIndex: number;
  committedEntries: Entry[];
  /** Messages that promise nothing about this Ready's unwritten state: send them at once. */
  messagesNow: Message[];
  /** Messages that may be sent only once this Ready's batch is durable. */
  messagesAfterPersist: Message[];
  mustSync: boolean;
}

/** Every message of a Ready, in the order a driver that waits for the write may send them. */
export function allMessages(rd: Ready): Message[] {
  return rd.messagesNow.length === 0 ? rd.messagesAfterPersist : [...rd.messagesNow, ...rd.messagesAfterPersist];
}

/** Replication state of one follower as the leader sees it (etcd-io/raft's tracker). */
export enum ProgressState {
  /** Unknown how much the follower has: send one append per heartbeat and wait for its answer. */
  Probe = 'probe',
  /** The follower is in step: stream appends optimistically, bounded by the in-flight window. */
  Replicate = 'replicate',
  /** A snapshot is on its way; send nothing else until it is acknowledged or reported failed. */
  Snapshot = 'snapshot',
}

export interface ProgressStatus {
  id: NodeId;
  isLearner: boolean;
  match: number;
  next: number;
  state: ProgressState;
  /** Whether the follower answered within the last election timeout. */
  recentActive: boolean;
}

export interface RaftStatus {
  id: NodeId;
  /** This node's own incarnation (its store's id). */
  incarnation: Incarnation;
  /**
   * Whether the membership names this node with its own incarnation (as voter or learner). False
   * for a node whose store is new to the cluster: it may replicate, but nothing it says counts.
   */
  incarnationMatches: boolean;
  role: Role;
  term: number;
  vote: NodeId;
  leader: NodeId | null;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  confState: ConfState;
  isLearner: boolean;
  /** Leader only: one row per other member. */
  progress: ProgressStatus[];
  /** Leader only: the target of a leadership transfer in progress. */
  transferee: NodeId | null;
}
