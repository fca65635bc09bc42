// Carries Raft messages between nodes over long-lived gRPC client streams, one per peer: this node
// writes everything for peer P on its own stream to P, and P answers on its stream back to us.
// Long-lived streams keep the tail latency of a commit at one network hop (a unary call per
// message costs a round trip of headers each time).
//
// Raft tolerates lost, duplicated and reordered messages (the thesis, section 3.2: the RPCs are
// idempotent and retried), so the transport never blocks and never throws to keep a message:
// each peer has a bounded queue that drops its oldest message when full, and a stream that
// reconnects with capped exponential backoff. A slow or dead peer only fills its own queue.
//
// Incoming streams are accepted only from cluster members, identified by their certificate, and
// every message must carry the caller's own id in `from`: a member cannot speak for another.
//
// One identity, one live stream. A second incoming stream for a node id that already has a live
// one from another address is refused ("duplicate identity"): two processes hold that node's
// certificate (a home copied, tls/ reused), and letting the newer win would cut the real node
// off, a leader from its followers. The older stream is "live" while it delivered a message (or
// opened) within liveStreamWindowMs (the node passes its election timeout); one that has been
// silent longer, or that ended, is gone, and the new stream replaces it as before. That cannot
// keep a restarted real node out for long: its old process is dead, so its old stream either
// ended with it (the kernel closes the socket of a killed process) or carries nothing any more
// (its host or link is gone), and it stops counting after one window. Only a process that keeps
// sending under the same identity (it holds the node's key) can hold the slot, and every refused
// attempt is logged on the receiving node. A new stream from the same address as the old one
// (the same client) replaces it at once.

import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log/logger';
import { Backoff } from '../util/backoff';
import { isValidCertificateName } from '../certs/certificate_identity';
import { MessageType, type Message, type NodeId } from '../raft/types';
import {
  clusterChannelCredentials,
  DEFAULT_MAX_MESSAGE_BYTES,
  TransportConfigError,
  type TlsPem,
} from './grpc_server';
import type { RevocationList } from './authorization';
import { requireClusterMember } from './peer_identity';
import { FOUNDING_METADATA_KEY, foundingAnswer, foundingDigestOf, foundingMismatch, type FoundingSource } from './founding_rpc';
import { raftServiceDefinition, RAFT_STREAM_PATH } from './proto_loader';
import { decodeRaftMessage, describeMessage, encodeRaftMessage, RaftMessageCodecError } from './raft_message_codec';

export interface RaftPeer {
  id: NodeId;
  /** "host:port" of the peer's gRPC server. */
  address: string;
}

export interface ReconnectBackoff {
  /** Delay before the first reconnect after a failure (default 100 ms). */
  initialMs?: number;
  /** Cap of the exponential backoff (default 5 s). */
  maxMs?: number;
}

export interface RaftTransportOptions {
  selfId: NodeId;
  /** The other members (voters and learners); never this node itself. */
  peers: RaftPeer[];
  /** The cluster CA and this node's certificate and key (the same ones the server uses). */
  tls: TlsPem;
  /** Server certificates our outgoing streams refuse (config.yaml's revokedCertificates). */
  revoked?: RevocationList;
  /** The node's shared gRPC server; the transport adds the Raft service to it and removes it on close. */
  server: grpc.Server;
  logger: Logger;
  /** Every valid message from an authenticated member. Called synchronously; must not throw. */
  onMessage: (message: Message) => void;
  /**
   * A peer could not be reached (its stream failed, or messages to it were dropped). The core
   * should step back to probing it (etcd-io/raft's ReportUnreachable).
   */
  onPeerUnreachable?: (peerId: NodeId) => void;
  /**
   * A connection to the peer was refused (ECONNREFUSED): its host is up but nothing listens on
   * its port, i.e. its process is gone. Stronger than unreachable (a partition only times out):
   * the core may stop waiting for that leader (Raft.reportPeerDown).
   */
  onPeerDown?: (peerId: NodeId) => void;
  /**
   * An InstallSnapshot message to `peerId` was handed to the network (delivered = true) or was
   * lost before that (false). The core leaves its snapshot state on failure and retries later
   * (etcd-io/raft's ReportSnapshot).
   */
  onSnapshotSent?: (peerId: NodeId, delivered: boolean) => void;
  /**
   * This node's founding (src/node/founding.ts): answers the Founding call, and its digest goes on
   * every stream this node opens and is compared on every stream it accepts. Without it, no
   * Founding answers and no digest (unit tests of the transport alone).
   */
  founding?: FoundingSource;
  /**
   * What this node reports about its own durable state on every stream it opens (the
   * x-raftsigner-mark metadata: src/node/peer_marks.ts), or null for none.
   */
  localMark?: () => string | null;
  /**
   * Checks what a peer reports when it opens a stream against what it said before: a reason to
   * refuse the stream (the peer is behind its own past: its whole home was rolled back), or null.
   */
  checkPeerMark?: (peer: NodeId, mark: string | null) => string | null;
  /**
   * A peer refused our stream because we are behind what we told it before: this node must stop
   * taking part and rejoin as a learner.
   */
  onBehindOwnPast?: (peer: NodeId, details: string) => void;
  /** Largest encoded message sent (default 64 MiB). The receivers' servers must accept as much. */
  maxMessageBytes?: number;
  /** Messages waiting per peer before the oldest is dropped (default 1024). */
  queueLimit?: number;
  /** Bytes waiting per peer before the oldest message is dropped (default and minimum: maxMessageBytes). */
  queueByteLimit?: number;
  reconnectBackoff?: ReconnectBackoff;
  /** A connection attempt that has not been accepted by the peer within this time fails (default 5 s). */
  connectTimeoutMs?: number;
  /**
   * An incoming stream that opened or delivered a message within this window is live: another
   * stream for the same node id from another address is refused meanwhile (default 1000 ms; a
   * node passes its election timeout, within which a leader and its followers always talk).
   */
  liveStreamWindowMs?: number;
  /** Ping an open stream this often to notice a peer that vanished without closing (default 10 s). */
  keepaliveTimeMs?: number;
  /** ... and give up on it if the ping is not answered within this time (default 5 s). */
  keepaliveTimeoutMs?: number;
}

/** What a status display needs to know about the stream to one peer. */
export interface PeerStatus {
  id: NodeId;
  address: string;
  /** The peer accepted our stream and it has not failed since. */
  connected: boolean;
  /** Why the last attempt or stream failed; null if none has. */
  lastError: string | null;
  /** When that was (ISO 8601); null if never. */
  lastErrorAt: string | null;
  /** Failed attempts since the stream was last open for a while. */
  consecutiveFailures: number;
  queuedMessages: number;
  queuedBytes: number;
  /** Messages given to the stream since the transport started. */
  sentMessages: number;
  /**
   * Messages dropped here: queue full, too big, not encodable, or a snapshot waiting for a stream
   * that failed. Messages already handed to a stream that then failed are not counted: whether
   * they arrived is unknown (Raft retries either way).
   */
  droppedMessages: number;
}

/** Stream metadata: what the opener reports about its own durable state (src/node/peer_marks.ts). */
const MARK_METADATA_KEY = 'x-raftsigner-mark';
/** Trailing metadata of a refused stream: why, when the opener must stop (see onBehindOwnPast). */
const REFUSED_METADATA_KEY = 'x-raftsigner-refused';
const BEHIND_OWN_PAST = 'behind-own-past';

const DEFAULT_QUEUE_LIMIT = 1024;
const DEFAULT_BACKOFF_INITIAL_MS = 100;
const DEFAULT_BACKOFF_MAX_MS = 5000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_KEEPALIVE_TIME_MS = 10_000;
const DEFAULT_KEEPALIVE_TIMEOUT_MS = 5000;
const DEFAULT_LIVE_STREAM_WINDOW_MS = 1000;

/** Settings every peer link shares. */
interface LinkSettings {
  selfId: NodeId;
  tls: TlsPem;
  revoked: RevocationList | undefined;
  logger: Logger;
  maxMessageBytes: number;
  queueLimit: number;
  queueByteLimit: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  connectTimeoutMs: number;
  keepaliveTimeMs: number;
  keepaliveTimeoutMs: number;
  reportUnreachable: (peerId: NodeId) => void;
  reportDown: (peerId: NodeId) => void;
  reportSnapshot: (peerId: NodeId, delivered: boolean) => void;
  foundingDigest: () => string | null;
  localMark: () => string | null;
  reportBehindOwnPast: (peerId: NodeId, details: string) => void;
}

interface IncomingStream {
  nodeId: NodeId;
  /** The caller's address as this server sees it (host:port). */
  remote: string;
  /** When it opened or last delivered a message (Date.now()). */
  lastActivity: number;
  /** Ends the call (with an error status if given); idempotent. */
  finish: (error?: grpc.StatusObject) => void;
}

export class RaftTransport {
  private readonly selfId: NodeId;
  private readonly server: grpc.Server;
  private readonly logger: Logger;
  private readonly onMessage: (message: Message) => void;
  private readonly settings: LinkSettings;
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly incoming = new Set<IncomingStream>();
  private readonly service: grpc.ServiceDefinition;
  private readonly founding: FoundingSource | null;
  private readonly checkPeerMark: ((peer: NodeId, mark: string | null) => string | null) | null;
  private readonly liveStreamWindowMs: number;
  private closed = false;

  constructor(options: RaftTransportOptions) {
    if (!isValidCertificateName(options.selfId)) {
      throw new TransportConfigError(`selfId ${JSON.stringify(options.selfId)} is not a valid node id`);
    }
    this.selfId = options.selfId;
    this.server = options.server;
    this.logger = options.logger.child({ component: 'raft-transport' });
    this.onMessage = options.onMessage;
    const maxMessageBytes = positiveInteger(options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, 'maxMessageBytes');
    const backoffInitialMs = positiveInteger(options.reconnectBackoff?.initialMs ?? DEFAULT_BACKOFF_INITIAL_MS, 'reconnectBackoff.initialMs');
    const backoffMaxMs = positiveInteger(options.reconnectBackoff?.maxMs ?? DEFAULT_BACKOFF_MAX_MS, 'reconnectBackoff.maxMs');
    if (backoffMaxMs < backoffInitialMs) {
      throw new TransportConfigError('reconnectBackoff.maxMs must not be below reconnectBackoff.initialMs');
    }
    this.liveStreamWindowMs = positiveInteger(options.liveStreamWindowMs ?? DEFAULT_LIVE_STREAM_WINDOW_MS, 'liveStreamWindowMs');
    const onPeerUnreachable = options.onPeerUnreachable;
    const onPeerDown = options.onPeerDown;
    const onSnapshotSent = options.onSnapshotSent;
    this.settings = {
      selfId: this.selfId,
      tls: options.tls,
      revoked: options.revoked,
      logger: this.logger,
      maxMessageBytes,
      queueLimit: positiveInteger(options.queueLimit ?? DEFAULT_QUEUE_LIMIT, 'queueLimit'),
      queueByteLimit: Math.max(maxMessageBytes, positiveInteger(options.queueByteLimit ?? maxMessageBytes, 'queueByteLimit')),
      backoffInitialMs,
      backoffMaxMs,
      connectTimeoutMs: positiveInteger(options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, 'connectTimeoutMs'),
      keepaliveTimeMs: positiveInteger(options.keepaliveTimeMs ?? DEFAULT_KEEPALIVE_TIME_MS, 'keepaliveTimeMs'),
      keepaliveTimeoutMs: positiveInteger(options.keepaliveTimeoutMs ?? DEFAULT_KEEPALIVE_TIMEOUT_MS, 'keepaliveTimeoutMs'),
      reportUnreachable: (peerId) => this.callBack('onPeerUnreachable', () => onPeerUnreachable?.(peerId)),
      reportDown: (peerId) => this.callBack('onPeerDown', () => onPeerDown?.(peerId)),
      reportSnapshot: (peerId, delivered) => this.callBack('onSnapshotSent', () => onSnapshotSent?.(peerId, delivered)),
      foundingDigest: () => options.founding?.digest() ?? null,
      localMark: () => options.localMark?.() ?? null,
      reportBehindOwnPast: (peerId, details) => this.callBack('onBehindOwnPast', () => options.onBehindOwnPast?.(peerId, details)),
    };
    this.checkPeerMark = options.checkPeerMark ?? null;
    this.founding = options.founding ?? null;
    // Fails early, with a clear message, on a certificate that is not this cluster's node cert.
    clusterChannelCredentials(options.tls, undefined, 'node');
    this.applyPeers(options.peers);

    this.service = raftServiceDefinition();
    try {
      this.server.addService(this.service, {
        Stream: (call: grpc.ServerReadableStream<unknown, object>, callback: grpc.sendUnaryData<object>) =>
          this.handleIncomingStream(call, callback),
        Founding: (call: grpc.ServerUnaryCall<{ storeId?: string }, object>, callback: grpc.sendUnaryData<object>) => this.handleFounding(call, callback),
      });
    } catch (err) {
      for (const link of this.links.values()) link.close();
      throw new TransportConfigError(`cannot add the Raft service to the server: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Queues `messages` for their peers and returns at once. Never throws: a message that cannot be
   * sent (unknown peer, invalid, too big, queue overflow) is dropped, counted and logged.
   */
  send(messages: readonly Message[]): void {
    if (this.closed) return;
    for (const message of messages) {
      try {
        this.sendOne(message);
      } catch (err) {
        // Nothing above should throw; if it does, losing one message is what Raft tolerates.
        this.logger.error('dropped a Raft message after an unexpected error', { error: (err as Error).message });
      }
    }
  }

  /** One row per peer, in the order of the peer list. */
  peerStatus(): PeerStatus[] {
    return [...this.links.values()].map((link) => link.status());
  }

  /**
   * Replaces the peer list (membership change): new peers get a stream, removed ones lose theirs
   * and may no longer send to us, a changed address reconnects.
   */
  updatePeers(peers: RaftPeer[]): void {
    if (this.closed) return;
    this.applyPeers(peers);
    for (const stream of [...this.incoming]) {
      if (!this.links.has(stream.nodeId)) {
        this.logger.warn('closing the stream of a node that is no longer a member', { peer: stream.nodeId });
        stream.finish({ code: grpc.status.PERMISSION_DENIED, details: `node ${stream.nodeId} is no longer a cluster member`, metadata: new grpc.Metadata() });
      }
    }
  }

  /** Closes every stream and removes the Raft service from the server. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links.values()) link.close();
    this.links.clear();
    for (const stream of [...this.incoming]) {
      stream.finish({ code: grpc.status.UNAVAILABLE, details: `node ${this.selfId} is shutting down its Raft transport`, metadata: new grpc.Metadata() });
    }
    this.server.removeService(this.service);
  }

  private sendOne(message: Message): void {
    const isSnapshot = message.type === MessageType.InstallSnapshot;
    if (message.from !== this.selfId) {
      this.logger.error('dropped a message that does not come from this node (the peer would refuse it)', {
        raftMessage: describeMessage(message),
      });
      return;
    }
    const link = this.links.get(message.to);
    if (!link) {
      this.logger.warn('dropped a message to a node that is not a peer', { raftMessage: describeMessage(message) });
      if (isSnapshot) this.settings.reportSnapshot(message.to, false);
      return;
    }
    let bytes: Buffer;
    try {
      bytes = encodeRaftMessage(message);
    } catch (err) {
      const reason = err instanceof RaftMessageCodecError ? err.message : String(err);
      this.logger.error('dropped a Raft message that cannot be encoded', { raftMessage: describeMessage(message), reason });
      link.countDrop();
      if (isSnapshot) this.settings.reportSnapshot(message.to, false);
      return;
    }
    if (bytes.length > this.settings.maxMessageBytes) {
      this.logger.error('dropped a Raft message larger than maxMessageBytes', {
        raftMessage: describeMessage(message),
        bytes: bytes.length,
        maxMessageBytes: this.settings.maxMessageBytes,
      });
      link.countDrop();
      if (isSnapshot) this.settings.reportSnapshot(message.to, false);
      return;
    }
    link.enqueue({ bytes, isSnapshot, reported: false });
  }

  private applyPeers(peers: RaftPeer[]): void {
    const wanted = new Map<NodeId, RaftPeer>();
    for (const peer of peers) {
      if (!isValidCertificateName(peer.id)) {
        throw new TransportConfigError(`peer id ${JSON.stringify(peer.id)} is not a valid node id`);
      }
      if (peer.id === this.selfId) throw new TransportConfigError(`the peer list contains this node (${peer.id}) itself`);
      if (wanted.has(peer.id)) throw new TransportConfigError(`peer ${peer.id} is listed twice`);
      if (typeof peer.address !== 'string' || !/^.+:\d{1,5}$/.test(peer.address)) {
        throw new TransportConfigError(`peer ${peer.id} has address ${JSON.stringify(peer.address)}; expected host:port`);
      }
      wanted.set(peer.id, peer);
    }
    for (const [id, link] of this.links) {
      const peer = wanted.get(id);
      if (!peer || peer.address !== link.address) {
        link.close();
        this.links.delete(id);
      }
    }
    for (const peer of wanted.values()) {
      if (!this.links.has(peer.id)) {
        const link = new PeerLink(peer, this.settings);
        this.links.set(peer.id, link);
        link.start();
      }
    }
  }

  /** Founding: a configured peer's node certificate only; answers what this node founds with. */
  private handleFounding(call: grpc.ServerUnaryCall<{ storeId?: string }, object>, callback: grpc.sendUnaryData<object>): void {
    const check = requireClusterMember(call, new Set(this.links.keys()));
    if (!check.ok) {
      callback({ code: check.code, details: check.message, metadata: new grpc.Metadata() }, null);
      return;
    }
    if (!this.founding) {
      callback({ code: grpc.status.UNAVAILABLE, details: `node ${this.selfId} is not ready to found a cluster`, metadata: new grpc.Metadata() }, null);
      return;
    }
    callback(null, foundingAnswer(this.founding.info(check.nodeId, call.request.storeId ?? '')));
  }

  private handleIncomingStream(call: grpc.ServerReadableStream<unknown, object>, callback: grpc.sendUnaryData<object>): void {
    const check = requireClusterMember(call, new Set(this.links.keys()));
    if (!check.ok) {
      this.logger.warn('refused a Raft stream', { reason: check.reason, detail: check.message });
      callback({ code: check.code, details: check.message, metadata: new grpc.Metadata() }, null);
      return;
    }
    const nodeId = check.nodeId;
    const foundingRefusal = foundingMismatch(this.founding?.digest() ?? null, foundingDigestOf(call.metadata));
    if (foundingRefusal !== null) {
      const details = `node ${this.selfId} refuses the Raft stream of ${nodeId}: ${foundingRefusal}`;
      this.logger.error('refused a Raft stream: founding membership differs', { peer: nodeId, detail: details });
      callback({ code: grpc.status.FAILED_PRECONDITION, details, metadata: new grpc.Metadata() }, null);
      return;
    }
    const markValue = call.metadata.get(MARK_METADATA_KEY)[0];
    const behind = this.checkPeerMark?.(nodeId, typeof markValue === 'string' ? markValue : null) ?? null;
    if (behind !== null) {
      const details =
        `node ${this.selfId} refuses the Raft stream of ${nodeId}: ${behind}. Its home was put back from an older copy ` +
        `(a VM image or disk snapshot), so it has forgotten what it acknowledged and must not vote: stop it, empty its data ` +
        `directory and rejoin it as a learner`;
      this.logger.error('refused a Raft stream: the peer is behind its own past', { peer: nodeId, detail: details });
      const trailer = new grpc.Metadata();
      trailer.set(REFUSED_METADATA_KEY, BEHIND_OWN_PAST);
      callback({ code: grpc.status.FAILED_PRECONDITION, details, metadata: trailer }, null);
      return;
    }
    const remote = call.getPeer();
    const now = Date.now();
    const live = [...this.incoming].find((o) => o.nodeId === nodeId && o.remote !== remote && now - o.lastActivity < this.liveStreamWindowMs);
    if (live) {
      const details = `duplicate identity ${nodeId} from ${remote}; already connected from ${live.remote}`;
      this.logger.warn(details, { reason: 'duplicate-identity', peer: nodeId });
      callback(
        { code: grpc.status.ALREADY_EXISTS, details: `${details}: only one process may run with node ${nodeId}'s certificate`, metadata: new grpc.Metadata() },
        null,
      );
      return;
    }
    let finished = false;
    const stream: IncomingStream = {
      nodeId,
      remote,
      lastActivity: now,
      finish: (error) => {
        if (finished) return;
        finished = true;
        this.incoming.delete(stream);
        if (error) callback(error, null);
        else callback(null, {});
      },
    };
    // A restarted peer opens a new stream before the old connection is known to be dead; keep
    // only the newest one so a half-open connection does not linger. (A live one from elsewhere
    // was refused above: see the file header.)
    for (const other of [...this.incoming]) {
      if (other.nodeId === nodeId) {
        if (other.remote !== remote) {
          this.logger.info('replacing a silent Raft stream of the same node', { peer: nodeId, old: other.remote, new: remote, silentMs: now - other.lastActivity });
        }
        other.finish({ code: grpc.status.CANCELLED, details: 'superseded by a newer stream from the same node', metadata: new grpc.Metadata() });
      }
    }
    this.incoming.add(stream);
    // Response headers now tell the peer its stream was accepted; it holds messages until then.
    call.sendMetadata(new grpc.Metadata());
    call.on('data', (wire: unknown) => {
      if (finished) return;
      stream.lastActivity = Date.now();
      const refusal = this.acceptIncoming(nodeId, wire);
      if ('refusal' in refusal) {
        stream.finish({ ...refusal.refusal, metadata: new grpc.Metadata() });
        return;
      }
      try {
        this.onMessage(refusal.message);
      } catch (err) {
        this.logger.error('onMessage threw; the message is lost', { raftMessage: describeMessage(refusal.message), error: (err as Error).message });
      }
    });
    call.on('end', () => stream.finish());
    call.on('error', (err: Error) => {
      this.logger.debug('incoming Raft stream failed', { peer: nodeId, error: err.message });
      stream.finish();
    });
    call.on('cancelled', () => stream.finish());
  }

  /** Decodes and checks one incoming message: well formed, from the caller itself, to us. */
  private acceptIncoming(
    nodeId: NodeId,
    wire: unknown,
  ): { message: Message } | { refusal: { code: grpc.status; details: string } } {
    let message: Message;
    try {
      message = decodeRaftMessage(wire);
    } catch (err) {
      const details = `invalid Raft message from node ${nodeId}: ${(err as Error).message}`;
      this.logger.warn('refused a Raft stream', { reason: 'invalid-message', peer: nodeId, detail: details });
      return { refusal: { code: grpc.status.INVALID_ARGUMENT, details } };
    }
    if (message.from !== nodeId) {
      const details = `node ${nodeId} sent a message claiming to come from ${message.from}`;
      this.logger.warn('refused a Raft stream', { reason: 'impersonation', peer: nodeId, detail: details });
      return { refusal: { code: grpc.status.PERMISSION_DENIED, details } };
    }
    if (!this.links.has(nodeId)) {
      const details = `node ${nodeId} is not a cluster member`;
      this.logger.warn('refused a Raft stream', { reason: 'not-a-member', peer: nodeId, detail: details });
      return { refusal: { code: grpc.status.PERMISSION_DENIED, details } };
    }
    if (message.to !== this.selfId) {
      const details = `node ${nodeId} sent a message for ${message.to} to node ${this.selfId}`;
      this.logger.warn('refused a Raft stream', { reason: 'misaddressed', peer: nodeId, detail: details });
      return { refusal: { code: grpc.status.FAILED_PRECONDITION, details } };
    }
    return { message };
  }

  private callBack(name: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error(`${name} threw`, { error: (err as Error).message });
    }
  }
}

interface QueuedMessage {
  bytes: Buffer;
  isSnapshot: boolean;
  /** Whether onSnapshotSent was already called for it (exactly once per snapshot message). */
  reported: boolean;
}

type LinkState = 'connecting' | 'open' | 'backoff' | 'closed';

/** Raw bytes out: the codec has encoded (and size-checked) each message already. */
const passBytes = (bytes: Buffer): Buffer => bytes;
const ignoreResponse = (bytes: Buffer): Buffer => bytes;

/** The outgoing side towards one peer: a queue and one stream at a time. */
class PeerLink {
  readonly id: NodeId;
  readonly address: string;
  private readonly settings: LinkSettings;
  private readonly credentials: grpc.ChannelCredentials;
  private state: LinkState = 'backoff';
  private queue: QueuedMessage[] = [];
  private queuedBytes = 0;
  private client: grpc.Client | null = null;
  private call: grpc.ClientWritableStream<Buffer> | null = null;
  /** Snapshot messages written to the current call whose write callback has not run yet. */
  private inFlightSnapshots = new Set<QueuedMessage>();
  /** Increments per attempt, so that events of an abandoned call are ignored. */
  private attempt = 0;
  private waitingForDrain = false;
  private timer: NodeJS.Timeout | null = null;
  private openedAt: number | null = null;
  /**
   * Capped exponential backoff with jitter, so that restarted nodes do not reconnect in lockstep;
   * its attempts are the consecutive failures the status reports.
   */
  private readonly backoff: Backoff;
  private lastError: string | null = null;
  private lastErrorAt: Date | null = null;
  private sentMessages = 0;
  private droppedMessages = 0;

  constructor(peer: RaftPeer, settings: LinkSettings) {
    this.id = peer.id;
    this.address = peer.address;
    this.settings = settings;
    this.credentials = clusterChannelCredentials(settings.tls, peer.id, 'node', settings.revoked);
    this.backoff = new Backoff({ initialMs: settings.backoffInitialMs, maxMs: settings.backoffMaxMs, factor: 2, jitter: 0.5 });
  }

  start(): void {
    this.connect();
  }

  enqueue(item: QueuedMessage): void {
    if (this.state === 'closed') return;
    if (item.isSnapshot && this.state === 'backoff') {
      // The peer is known to be down: tell the core now so it can retry later, rather than
      // holding a large, soon stale snapshot.
      this.drop(item);
      this.settings.reportUnreachable(this.id);
      return;
    }
    this.queue.push(item);
    this.queuedBytes += item.bytes.length;
    let overflowed = false;
    while (this.queue.length > 1 && (this.queue.length > this.settings.queueLimit || this.queuedBytes > this.settings.queueByteLimit)) {
      const oldest = this.queue.shift() as QueuedMessage;
      this.queuedBytes -= oldest.bytes.length;
      this.drop(oldest);
      overflowed = true;
    }
    if (overflowed) {
      this.settings.logger.debug('peer queue full: dropped the oldest messages', { peer: this.id, dropped: this.droppedMessages });
      this.settings.reportUnreachable(this.id);
    }
    this.pump();
  }

  countDrop(): void {
    this.droppedMessages += 1;
  }

  status(): PeerStatus {
    return {
      id: this.id,
      address: this.address,
      connected: this.state === 'open',
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt ? this.lastErrorAt.toISOString() : null,
      consecutiveFailures: this.backoff.attempts,
      queuedMessages: this.queue.length,
      queuedBytes: this.queuedBytes,
      sentMessages: this.sentMessages,
      droppedMessages: this.droppedMessages,
    };
  }

  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearTimer();
    this.abandonCall();
    this.queue = [];
    this.queuedBytes = 0;
  }

  private connect(): void {
    if (this.state === 'closed') return;
    this.clearTimer();
    this.state = 'connecting';
    this.attempt += 1;
    const attempt = this.attempt;
    const s = this.settings;
    // A fresh channel per attempt (with its own subchannel): the reconnect timing is ours alone,
    // not stacked on grpc-js's channel backoff.
    const client = new grpc.Client(this.address, this.credentials, {
      'grpc.max_send_message_length': s.maxMessageBytes,
      'grpc.keepalive_time_ms': s.keepaliveTimeMs,
      'grpc.keepalive_timeout_ms': s.keepaliveTimeoutMs,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.use_local_subchannel_pool': 1,
      // SNI carries the peer's node id: an IP address there is not allowed (RFC 6066), and the
      // certificate check is against the node id anyway.
      'grpc.ssl_target_name_override': this.id,
      // A retried stream would replay buffered messages out of order; Raft retries by itself.
      'grpc.enable_retries': 0,
      'grpc.initial_reconnect_backoff_ms': s.backoffInitialMs,
      'grpc.max_reconnect_backoff_ms': s.backoffMaxMs,
    });
    this.client = client;
    const metadata = new grpc.Metadata();
    const digest = s.foundingDigest();
    if (digest !== null) metadata.set(FOUNDING_METADATA_KEY, digest);
    const mark = s.localMark();
    if (mark !== null) metadata.set(MARK_METADATA_KEY, mark);
    const call = client.makeClientStreamRequest<Buffer, Buffer>(RAFT_STREAM_PATH, passBytes, ignoreResponse, metadata, {}, (err) => {
      if (attempt !== this.attempt) return;
      this.onCallEnded(err ?? null);
    });
    this.call = call;
    // Errors also arrive through the callback above; this listener keeps an 'error' event from
    // becoming an uncaught exception.
    call.on('error', () => undefined);
    call.on('metadata', () => {
      if (attempt !== this.attempt || this.state !== 'connecting') return;
      this.clearTimer();
      this.state = 'open';
      this.openedAt = Date.now();
      this.settings.logger.info('Raft stream to peer is open', { peer: this.id, address: this.address });
      this.pump();
    });
    call.on('drain', () => {
      if (attempt !== this.attempt) return;
      this.waitingForDrain = false;
      this.pump();
    });
    this.timer = setTimeout(() => {
      this.timer = null;
      if (attempt !== this.attempt || this.state !== 'connecting') return;
      this.fail(`not accepted within ${s.connectTimeoutMs} ms`);
    }, s.connectTimeoutMs);
  }

  /** Writes queued messages while the stream is open and not pushing back. */
  private pump(): void {
    const call = this.call;
    if (this.state !== 'open' || !call || this.waitingForDrain) return;
    while (this.queue.length > 0) {
      const item = this.queue.shift() as QueuedMessage;
      this.queuedBytes -= item.bytes.length;
      this.sentMessages += 1;
      if (item.isSnapshot) this.inFlightSnapshots.add(item);
      const accepted = call.write(item.bytes, (err: Error | null | undefined) => {
        if (!item.isSnapshot) return;
        this.inFlightSnapshots.delete(item);
        this.reportSnapshot(item, !err);
      });
      if (!accepted) {
        // HTTP/2 flow control is pushing back: this peer is slow. Wait for it alone.
        this.waitingForDrain = true;
        return;
      }
    }
  }

  private onCallEnded(err: grpc.ServiceError | null): void {
    if (this.state === 'closed') return;
    if (err?.code === grpc.status.UNAVAILABLE && /ECONNREFUSED/.test(err.details ?? '')) this.settings.reportDown(this.id);
    if (err?.code === grpc.status.FAILED_PRECONDITION && err.metadata?.get(REFUSED_METADATA_KEY)[0] === BEHIND_OWN_PAST) {
      this.settings.reportBehindOwnPast(this.id, err.details);
    }
    const reason = err ? `${grpc.status[err.code] ?? err.code}: ${err.details || err.message}` : 'the peer ended the stream';
    this.fail(reason);
  }

  private fail(reason: string): void {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    // A stream that stayed open for a while resets the backoff, so that a peer that crashes is
    // retried (and found refusing, i.e. down) at once; one that is dropped right after opening
    // keeps backing off.
    const openLongEnough = this.openedAt !== null && Date.now() - this.openedAt >= Math.min(this.settings.backoffMaxMs, 10 * this.settings.backoffInitialMs);
    this.clearTimer(); // the connect timeout of the attempt that just failed
    this.abandonCall();
    if (openLongEnough) this.backoff.reset();
    const delay = this.backoff.next();
    const changed = reason !== this.lastError;
    this.lastError = reason;
    this.lastErrorAt = new Date();
    // Snapshots waiting for a stream that just failed are stale by the time it comes back.
    const snapshots = this.queue.filter((item) => item.isSnapshot);
    if (snapshots.length > 0) {
      this.queue = this.queue.filter((item) => !item.isSnapshot);
      for (const item of snapshots) {
        this.queuedBytes -= item.bytes.length;
        this.drop(item);
      }
    }
    const meta = { peer: this.id, address: this.address, reason, retryInMs: delay, failures: this.backoff.attempts };
    if (wasOpen || changed) this.settings.logger.warn('Raft stream to peer failed', meta);
    else this.settings.logger.debug('Raft stream to peer failed again', meta);
    this.state = 'backoff';
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
    this.settings.reportUnreachable(this.id);
  }

  /** Cancels and forgets the current call and channel; its pending snapshots count as lost. */
  private abandonCall(): void {
    this.attempt += 1;
    this.waitingForDrain = false;
    this.openedAt = null;
    const call = this.call;
    const client = this.client;
    this.call = null;
    this.client = null;
    if (call) call.cancel();
    if (client) client.close();
    for (const item of this.inFlightSnapshots) this.reportSnapshot(item, false);
    this.inFlightSnapshots.clear();
  }

  private drop(item: QueuedMessage): void {
    this.droppedMessages += 1;
    this.reportSnapshot(item, false);
  }

  private reportSnapshot(item: QueuedMessage, delivered: boolean): void {
    if (!item.isSnapshot || item.reported || this.state === 'closed') return;
    item.reported = true;
    this.settings.reportSnapshot(this.id, delivered);
  }

  private clearTimer(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new TransportConfigError(`${name} must be a positive whole number, got ${String(value)}`);
  }
  return value;
}
