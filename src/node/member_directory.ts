// Where each member of the cluster listens, and keeping the Raft transport's peer list equal to
// the membership in the log.
//
// The membership (who votes, who learns) is in the Raft log; addresses are not safety-relevant
// (every connection checks the peer's node certificate against the id it expects, so a wrong
// address only fails to connect). So addresses travel the cheapest sound way:
//
//  1. config.yaml's `peers` (the founding members, or whatever the operator wrote): these win;
//  2. the add-learner entry itself: `cluster add-learner --id ID --address HOST:PORT` proposes
//     {"type":"addLearner","node":ID,"address":HOST:PORT}; the core ignores the extra field, and
//     every node that applies the entry learns the address from it (addressInConfChange);
//  3. what this node learned before, kept in <home>/member_addresses.json, so a restart knows the
//     members added since config.yaml was written;
//  4. the peers' own view: a node that has installed a snapshot covering an add-learner entry
//     never saw that entry, so while a member has no known address, MembershipSync asks the
//     other members' Admin Status (which lists their peer links with addresses).
//
// The transport's peer list is the current voters and learners (minus this node) with a known
// address; a node that knows no membership yet (joining, empty log) uses config.yaml's peers, which
// is how a new learner reaches the leader before it has the log. Removed members lose their link,
// and the transport refuses their streams.

import fs from 'node:fs';
import path from 'node:path';
import { isValidCertificateName } from '../certs/certificate_identity';
import { parseHostPort } from '../config/node_config';
import type { Logger } from '../log/logger';
import { ConfState, Entry, EntryType, NodeId } from '../raft/types';
import type { RaftPeer } from '../transport/raft_transport';

export const MEMBER_ADDRESSES_FILE = 'member_addresses.json';

/** Whether `address` is a usable host:port for a peer. */
export function isPeerAddress(address: string): boolean {
  const hp = parseHostPort(address);
  return hp !== null && hp.port > 0 && hp.port <= 65535;
}

/**
 * The node and address an add-learner entry carries, or null for any other entry (or one without
 * an address). Parsed here rather than with decodeConfChange, which keeps only the core's fields.
 */
export function addressInConfChange(entry: Entry): { node: NodeId; address: string } | null {
  if (entry.type !== EntryType.ConfChange) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(entry.data).toString('utf8'));
  } catch {
    return null;
  }
  const o = parsed as { type?: unknown; node?: unknown; address?: unknown } | null;
  if (!o || o.type !== 'addLearner' || typeof o.node !== 'string' || typeof o.address !== 'string') return null;
  if (!isValidCertificateName(o.node) || !isPeerAddress(o.address)) return null;
  return { node: o.node, address: o.address };
}

export class MemberDirectory {
  private readonly configured: Map<NodeId, string>;
  private readonly learned = new Map<NodeId, string>();

  private constructor(
    readonly selfId: NodeId,
    configPeers: readonly RaftPeer[],
    private readonly file: string | null,
    private readonly logger: Logger,
  ) {
    this.configured = new Map(configPeers.map((p) => [p.id, p.address]));
  }

  /** Reads `<home>/member_addresses.json` if there is one (file null: keep nothing on disk, for tests). */
  static load(options: { selfId: NodeId; configPeers: readonly RaftPeer[]; file: string | null; logger: Logger }): MemberDirectory {
    const dir = new MemberDirectory(options.selfId, options.configPeers, options.file, options.logger);
    if (options.file && fs.existsSync(options.file)) {
      try {
        const parsed = JSON.parse(fs.readFileSync(options.file, 'utf8')) as { members?: Record<string, unknown> };
        for (const [id, address] of Object.entries(parsed.members ?? {})) {
          if (isValidCertificateName(id) && typeof address === 'string' && isPeerAddress(address)) dir.learned.set(id, address);
        }
      } catch (e) {
        // Only a cache: the log and the peers give the addresses again.
        options.logger.warn(`ignoring ${options.file}: ${(e as Error).message}`);
      }
    }
    return dir;
  }

  static defaultFile(home: string): string {
    return path.join(home, MEMBER_ADDRESSES_FILE);
  }

  addressOf(id: NodeId): string | null {
    return this.configured.get(id) ?? this.learned.get(id) ?? null;
  }

  /** Records an address learned at run time; config.yaml's stays in force for the ids it lists. */
  learn(id: NodeId, address: string, source: string): void {
    if (id === this.selfId || !isValidCertificateName(id) || !isPeerAddress(address)) return;
    if (this.learned.get(id) === address) return;
    this.learned.set(id, address);
    const configured = this.configured.get(id);
    if (configured !== undefined && configured !== address) {
      this.logger.info(`learned address ${address} for ${id} from ${source}; config.yaml's ${configured} stays in force`);
    } else {
      this.logger.info(`learned the address of ${id}: ${address}`, { source });
    }
    this.save();
  }

  /** The transport's peers for membership `cs`; config.yaml's peers while no membership is known. */
  peersFor(cs: ConfState): RaftPeer[] {
    const members = [...cs.voters, ...cs.learners];
    if (members.length === 0) return [...this.configured].filter(([id]) => id !== this.selfId).map(([id, address]) => ({ id, address }));
    const peers: RaftPeer[] = [];
    for (const id of members) {
      if (id === this.selfId) continue;
      const address = this.addressOf(id);
      if (address !== null) peers.push({ id, address });
    }
    return peers;
  }

  /** Members of `cs` (other than this node) with no known address. */
  missing(cs: ConfState): NodeId[] {
    return [...cs.voters, ...cs.learners].filter((id) => id !== this.selfId && this.addressOf(id) === null);
  }

  private save(): void {
    if (!this.file) return;
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(tmp, JSON.stringify({ members: Object.fromEntries(this.learned) }, null, 2) + '\n', { mode: 0o644 });
      fs.renameSync(tmp, this.file);
    } catch (e) {
      fs.rmSync(tmp, { force: true });
      this.logger.warn(`cannot write ${this.file}: ${(e as Error).message}; the address is kept in memory only`);
    }
  }
}

export interface MembershipSyncOptions {
  directory: MemberDirectory;
  /** The membership the core is in (committed: it changes when a change entry commits). */
  confState(): ConfState;
  /** RaftTransport.updatePeers. */
  updatePeers(peers: RaftPeer[]): void;
  /** Asks a member for the peer addresses it knows (its Admin Status); rejects if it cannot be reached. */
  askPeer(peer: RaftPeer): Promise<RaftPeer[]>;
  logger: Logger;
  /** How often to re-check the membership (for snapshots) and ask for missing addresses; default 1000 ms. */
  intervalMs?: number;
}

/** Keeps the transport's peers equal to the membership; see the file header. */
export class MembershipSync {
  private timer: NodeJS.Timeout | null = null;
  private current = '';
  private asking = false;
  private stopped = false;

  constructor(private readonly options: MembershipSyncOptions) {}

  start(): void {
    this.refresh();
    this.timer = setInterval(() => this.tick(), this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Committed entries are being applied: learn the addresses add-learner entries carry and update
   * the peers at once, before this batch's messages are sent (a leader's first append to a new
   * learner goes out in the same batch that commits its entry).
   */
  onCommitted(entries: readonly Entry[]): void {
    let changes = false;
    for (const e of entries) {
      if (e.type !== EntryType.ConfChange) continue;
      changes = true;
      const carried = addressInConfChange(e);
      if (carried) this.options.directory.learn(carried.node, carried.address, `log entry ${e.index}`);
    }
    if (changes) this.refresh();
  }

  /** Sets the transport's peers from the current membership, if they changed. */
  refresh(): void {
    if (this.stopped) return;
    const peers = this.options.directory.peersFor(this.options.confState());
    const key = peers
      .map((p) => `${p.id}@${p.address}`)
      .sort()
      .join(',');
    if (key === this.current) return;
    try {
      this.options.updatePeers(peers);
      this.current = key;
      this.options.logger.info('peer links follow the membership', { peers: peers.map((p) => p.id) });
    } catch (e) {
      this.options.logger.error('cannot update the peer links', { error: (e as Error).message });
    }
  }

  private tick(): void {
    this.refresh();
    const missing = this.options.directory.missing(this.options.confState());
    if (missing.length === 0 || this.asking) return;
    this.asking = true;
    void this.askForAddresses(missing).finally(() => {
      this.asking = false;
    });
  }

  private async askForAddresses(missing: NodeId[]): Promise<void> {
    const { directory } = this.options;
    const peers = directory.peersFor(this.options.confState());
    for (const peer of peers) {
      if (this.stopped) return;
      let known: RaftPeer[];
      try {
        known = await this.options.askPeer(peer);
      } catch {
        continue; // unreachable now: try the next one, and again at the next tick
      }
      for (const p of known) if (missing.includes(p.id)) directory.learn(p.id, p.address, `${peer.id}'s peer list`);
      if (directory.missing(this.options.confState()).length === 0) break;
    }
    this.refresh();
  }
}
