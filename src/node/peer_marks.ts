// What each peer has told this node about its own durable state, kept beside config.yaml, so that
// a peer whose WHOLE home was rolled back (a VM image or disk snapshot: config, data and its
// store-high-water.json from the same moment) is recognised by the nodes that saw its later
// state, and refused.
//
// A node's own record (store_high_water.ts) cannot catch that rollback: the record went back with
// the data. But its peers saw the terms it reached and the votes it granted, and for one store
// neither goes back: the term only grows, and the vote of a term, once cast, stays. So every node
// notes, per peer and store, the highest term the peer spoke in and the vote it gave in that term
// (when it voted for this node), and when the peer opens a Raft stream it reports its durable term
// and vote (x-raftsigner-mark); a store behind what it said before is refused, and the refused node
// stops and says to rejoin as a learner.
//
// Only messages whose term is durable at the sender are noted: everything but pre-votes and their
// answers (a pre-vote carries the term the candidate would campaign in, never written), because
// the driver sends every other message only after the batch that holds its term and vote is
// fsynced. So a healthy peer is never refused. What it cannot catch, by nature: a rollback that no
// live and reachable peer saw past (the only nodes that saw the later state are down, or lagged
// behind it), and one within the flush interval before this node last stopped.

import fs from 'node:fs';
import path from 'node:path';
import { writeSecretFile } from '../keys/key_file_permissions';
import type { Logger } from '../log/logger';
import { Message, MessageType, NodeId } from '../raft/types';
import { StorageError } from '../storage/errors';

export const PEER_MARKS_FILE = 'peer-marks.json';

/** A voter refused this node: its whole home went back in time. It stops; the message says how to rejoin. */
export class BehindOwnPastError extends StorageError<{ code: 'BEHIND_OWN_PAST' }> {
  constructor(message: string) {
    super(message, undefined, { code: 'BEHIND_OWN_PAST' });
    this.name = 'BehindOwnPastError';
  }
}

/** What a peer's store last said about itself, as its messages showed it. */
export interface PeerMark {
  storeId: string;
  term: number;
  /** Whom it voted for in `term`, when this node knows it (it voted for this node); '' otherwise. */
  vote: NodeId;
}

/** What a peer reports about itself when it opens a stream: its durable term and vote. */
export interface ReportedMark {
  storeId: string;
  term: number;
  vote: NodeId;
}

/** Message types whose term is durable at the sender (see the top of this file). */
const DURABLE_TERM_TYPES: ReadonlySet<MessageType> = new Set([
  MessageType.Vote,
  MessageType.VoteResponse,
  MessageType.Append,
  MessageType.AppendResponse,
  MessageType.Heartbeat,
  MessageType.HeartbeatResponse,
  MessageType.InstallSnapshot,
  MessageType.TimeoutNow,
]);

export function encodeReportedMark(m: ReportedMark): string {
  return `${m.storeId}:${m.term}:${m.vote}`;
}

export function decodeReportedMark(text: string | null): ReportedMark | null {
  if (text === null) return null;
  const match = /^([0-9a-f]{32}):(\d{1,15}):([A-Za-z0-9.-]{0,64})$/.exec(text);
  if (!match) return null;
  return { storeId: match[1], term: Number(match[2]), vote: match[3] };
}

/**
 * Why a peer reporting `reported` is behind what it said before (`noted`), or null. Another store
 * is not compared: it is a new incarnation, which the membership does not count anyway.
 */
export function behindOwnPast(noted: PeerMark | undefined, reported: ReportedMark): string | null {
  if (!noted || noted.storeId !== reported.storeId) return null;
  if (reported.term < noted.term) {
    return `its store ${reported.storeId.slice(0, 8)} reports term ${reported.term}, but it spoke in term ${noted.term} before`;
  }
  if (reported.term === noted.term && noted.vote !== '' && reported.vote !== noted.vote) {
    return `its store ${reported.storeId.slice(0, 8)} reports ${reported.vote ? `a vote for ${reported.vote}` : 'no vote'} in term ${noted.term}, but it voted for ${noted.vote} in that term before`;
  }
  return null;
}

/**
 * Stores kept per peer: a peer's older stores matter as long as the membership may still name one
 * of them (a voter whose disk was lost speaks from a new store until it is re-added, and its old
 * store's mark must survive that, or a later rollback of the old store would go unseen).
 */
const STORES_PER_PEER = 16;

export class PeerMarks {
  /** Per peer, per store id: what that store said last. */
  private readonly marks = new Map<NodeId, Map<string, PeerMark>>();
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;

  private constructor(
    private readonly selfId: NodeId,
    private readonly file: string,
    private readonly logger: Logger,
  ) {}

  /** The marks in `home`; a missing or unreadable file starts empty (it only adds detection). */
  private storesOf(peer: NodeId): Map<string, PeerMark> {
    let stores = this.marks.get(peer);
    if (!stores) {
      stores = new Map();
      this.marks.set(peer, stores);
    }
    return stores;
  }

  static load(home: string, selfId: NodeId, logger: Logger): PeerMarks {
    const marks = new PeerMarks(selfId, path.join(home, PEER_MARKS_FILE), logger);
    let text: string;
    try {
      text = fs.readFileSync(marks.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn('cannot read the peer marks; starting them over', { file: marks.file, error: (e as Error).message });
      return marks;
    }
    try {
      const parsed = JSON.parse(text) as { peers?: Record<string, PeerMark> };
      for (const [id, list] of Object.entries(parsed.peers ?? {})) {
        if (!Array.isArray(list)) continue;
        for (const m of list as PeerMark[]) {
          if (typeof m?.storeId === 'string' && Number.isSafeInteger(m.term) && typeof m.vote === 'string') {
            marks.storesOf(id).set(m.storeId, { storeId: m.storeId, term: m.term, vote: m.vote });
          }
        }
      }
    } catch (e) {
      logger.warn('the peer marks are not JSON; starting them over', { file: marks.file, error: (e as Error).message });
    }
    return marks;
  }

  /** Notes what a message says about its sender's store. Called for every incoming message. */
  observe(m: Message): void {
    if (!DURABLE_TERM_TYPES.has(m.type) || !m.incarnation) return;
    const stores = this.storesOf(m.from);
    const noted = stores.get(m.incarnation);
    const votedForUs = m.type === MessageType.VoteResponse && !m.reject && m.to === this.selfId;
    if (!noted || m.term > noted.term) {
      // Most recently heard last, so the oldest store is the one dropped when there are too many.
      stores.delete(m.incarnation);
      stores.set(m.incarnation, { storeId: m.incarnation, term: m.term, vote: votedForUs ? this.selfId : '' });
      if (stores.size > STORES_PER_PEER) stores.delete(stores.keys().next().value as string);
      this.dirty = true;
    } else if (m.term === noted.term && votedForUs && noted.vote === '') {
      noted.vote = this.selfId;
      this.dirty = true;
    }
  }

  /** Why `peer`'s stream must be refused, or null. */
  check(peer: NodeId, reported: ReportedMark | null): string | null {
    return reported === null ? null : behindOwnPast(this.marks.get(peer)?.get(reported.storeId), reported);
  }

  /** What `peer`'s store `storeId` said last (its most recently heard store when not given). */
  markOf(peer: NodeId, storeId?: string): PeerMark | undefined {
    const stores = this.marks.get(peer);
    const m = storeId !== undefined ? stores?.get(storeId) : [...(stores?.values() ?? [])].pop();
    return m ? { ...m } : undefined;
  }

  /** Writes the marks (fsynced) if they changed. A failed write is logged: the marks only add detection. */
  flush(): void {
    if (!this.dirty) return;
    try {
      const peers = Object.fromEntries([...this.marks].map(([id, stores]) => [id, [...stores.values()]]));
      writeSecretFile(this.file, `${JSON.stringify({ peers })}\n`, { overwrite: true, what: 'peer marks' });
      this.dirty = false;
    } catch (e) {
      this.logger.warn('could not write the peer marks', { file: this.file, error: (e as Error).message });
    }
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => this.flush(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.flush();
  }
}
