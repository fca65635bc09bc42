// Test fixture: real gRPC servers on localhost with certificates made at test time, and Raft
// transports wired to them. Everything it starts is registered for `closeAll()`.

import { PassThrough } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { createClusterCa, issueNodeCertificate, type ClusterCa } from '../../src/certs/cluster_certs';
import { createLogger, type Logger } from '../../src/log/logger';
import { sleep } from '../../src/util/sleep';
import { EntryType, MessageType, type Message } from '../../src/raft/types';
import {
  bindSharedServer,
  createSharedServer,
  serverCredentials,
  stopSharedServer,
  type SharedServerOptions,
  type TlsPem,
} from '../../src/transport/grpc_server';
import { RaftTransport, type RaftPeer, type RaftTransportOptions } from '../../src/transport/raft_transport';

/** Log lines captured as parsed JSON objects. */
export interface CapturedLog {
  logger: Logger;
  lines: Array<Record<string, unknown>>;
}

export function captureLog(node: string): CapturedLog {
  const stream = new PassThrough();
  const lines: Array<Record<string, unknown>> = [];
  let pending = '';
  stream.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      newline = pending.indexOf('\n');
    }
  });
  return { logger: createLogger({ json: true, level: 'debug', stream, defaultMeta: { node } }), lines };
}

export interface TestNode {
  id: string;
  tls: TlsPem;
  server: grpc.Server;
  port: number;
  address: string;
  received: Message[];
  log: CapturedLog;
  transport?: RaftTransport;
  unreachable: string[];
  /** Peers reported down (their port refused a connection). */
  down: string[];
  snapshotReports: Array<{ peer: string; delivered: boolean }>;
}

export class ClusterFixture {
  readonly servers = new Set<grpc.Server>();
  readonly transports = new Set<RaftTransport>();
  readonly cleanups: Array<() => Promise<void> | void> = [];

  private constructor(readonly ca: ClusterCa) {}

  static async create(): Promise<ClusterFixture> {
    return new ClusterFixture(await createClusterCa());
  }

  async nodeTls(id: string, ca: ClusterCa = this.ca): Promise<TlsPem> {
    const pair = await issueNodeCertificate(ca, id, ['127.0.0.1']);
    return { ca: ca.certPem, cert: pair.certPem, key: pair.keyPem };
  }

  /** A node with a bound server (port 0 picks one, or reuse `port`), no transport yet. */
  async startNode(id: string, options: { tls?: TlsPem; port?: number; server?: SharedServerOptions } = {}): Promise<TestNode> {
    const tls = options.tls ?? (await this.nodeTls(id));
    const server = createSharedServer(options.server);
    this.servers.add(server);
    const port = await bindSharedServer(server, `127.0.0.1:${options.port ?? 0}`, serverCredentials(tls));
    return {
      id,
      tls,
      server,
      port,
      address: `127.0.0.1:${port}`,
      received: [],
      log: captureLog(id),
      unreachable: [],
      down: [],
      snapshotReports: [],
    };
  }

  attachTransport(node: TestNode, peers: RaftPeer[], options: Partial<RaftTransportOptions> = {}): RaftTransport {
    const transport = new RaftTransport({
      selfId: node.id,
      peers,
      tls: node.tls,
      server: node.server,
      logger: node.log.logger,
      onMessage: (message) => node.received.push(message),
      onPeerUnreachable: (peer) => node.unreachable.push(peer),
      onPeerDown: (peer) => node.down.push(peer),
      onSnapshotSent: (peer, delivered) => node.snapshotReports.push({ peer, delivered }),
      reconnectBackoff: { initialMs: 20, maxMs: 200 },
      connectTimeoutMs: 2000,
      ...options,
    });
    node.transport = transport;
    this.transports.add(transport);
    return transport;
  }

  async stopNode(node: TestNode): Promise<void> {
    if (node.transport) {
      node.transport.close();
      this.transports.delete(node.transport);
    }
    await stopSharedServer(node.server, 100);
    this.servers.delete(node.server);
  }

  async closeAll(): Promise<void> {
    for (const transport of this.transports) transport.close();
    this.transports.clear();
    await Promise.all([...this.servers].map((server) => stopSharedServer(server, 100)));
    this.servers.clear();
    for (const cleanup of this.cleanups.splice(0)) await cleanup();
  }
}

export function peersOf(nodes: TestNode[], except: TestNode): RaftPeer[] {
  return nodes.filter((n) => n !== except).map((n) => ({ id: n.id, address: n.address }));
}

/** Polls `condition` until it holds; fails with `what` after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

// Re-exported: the tests that use the fixture import it from here.
export { sleep };

export function appendMessage(from: string, to: string, index: number, payload = `entry ${index}`): Message {
  return {
    type: MessageType.Append,
    from,
    to,
    term: 3,
    logTerm: 3,
    index: index - 1,
    entries: [{ term: 3, index, type: EntryType.Normal, data: new Uint8Array(Buffer.from(payload)) }],
    commit: index - 1,
    reject: false,
    rejectHint: 0,
  };
}

export function heartbeat(from: string, to: string, commit: number): Message {
  return {
    type: MessageType.Heartbeat,
    from,
    to,
    term: 3,
    logTerm: 0,
    index: 0,
    entries: [],
    commit,
    reject: false,
    rejectHint: 0,
  };
}

export function snapshotMessage(from: string, to: string, size: number): Message {
  return {
    type: MessageType.InstallSnapshot,
    from,
    to,
    term: 4,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    snapshot: {
      metadata: { index: 500, term: 4, confState: { voters: ['node0', 'node1', 'node2'], learners: [] } },
      data: new Uint8Array(size).map((_, i) => i % 251),
    },
  };
}
