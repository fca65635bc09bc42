// One directed peer link of the chaos harness: a TCP proxy that node A dials instead of node B
// (A's config.yaml names the proxy as B's address) and that forwards to B's real listen address.
// It works on the TCP byte stream beneath TLS, so it needs neither root nor the cluster's keys, and
// what it does is what a network does to a TCP connection:
// - hold (blackhole) one direction or both: bytes stop moving but the connection stays open, as
//   when packets are dropped and TCP keeps retransmitting; when the hold ends the held bytes go
//   through (the retransmission succeeded), unless the connection was cut meanwhile. Held bytes
//   back-pressure the sender once a buffer fills, as a full send window does;
// - delay with jitter, keeping the stream in order (TCP delivers in order, so a late segment
//   holds back everything after it);
// - cut: every existing connection is destroyed (a reset, or a NAT/firewall forgetting the flow).
// "Forward" is the direction from the dialling node to the dialled one; "backward" carries the
// dialled node's answers on the same connections.

import * as net from 'node:net';
import { SeededRandom } from '../raft/rng';

export interface LinkFault {
  /** Hold bytes from the dialling node to the dialled one. */
  holdForward: boolean;
  /** Hold bytes from the dialled node back to the dialling one. */
  holdBackward: boolean;
  /** Added one-way delay, both directions. */
  delayMs: number;
  /** Up to this much more delay, drawn per chunk. */
  jitterMs: number;
}

export const HEALTHY_LINK: Readonly<LinkFault> = Object.freeze({ holdForward: false, holdBackward: false, delayMs: 0, jitterMs: 0 });

export interface FaultProxyStats {
  connections: number;
  cuts: number;
  bytesForward: number;
  bytesBackward: number;
}

/** Above this many queued bytes in one direction the source socket is paused (TCP back-pressure). */
const QUEUE_HIGH_WATER = 1 << 20;

interface QueuedChunk {
  data: Buffer;
  dueAt: number;
}

/** One direction of one proxied connection: a queue that releases chunks in order when due. */
class Direction {
  private readonly queue: QueuedChunk[] = [];
  private queuedBytes = 0;
  private lastDueAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly fault: () => { hold: boolean; delayMs: number; jitterMs: number },
    private readonly random: SeededRandom,
    private readonly count: (bytes: number) => void,
  ) {
    from.on('data', (data: Buffer) => this.push(data));
  }

  private push(data: Buffer): void {
    if (this.closed) return;
    const f = this.fault();
    const delay = f.delayMs + (f.jitterMs > 0 ? this.random.nextFloat() * f.jitterMs : 0);
    // In order: a chunk is never due before the one in front of it.
    this.lastDueAt = Math.max(this.lastDueAt, Date.now() + delay);
    this.queue.push({ data, dueAt: this.lastDueAt });
    this.queuedBytes += data.length;
    if (this.queuedBytes > QUEUE_HIGH_WATER) this.from.pause();
    this.pump();
  }

  /** Sends what is due; called on new data, on timers and when a hold is lifted. */
  pump(): void {
    if (this.closed) return;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.fault().hold) return;
    const now = Date.now();
    while (this.queue.length > 0 && (this.queue[0] as QueuedChunk).dueAt <= now) {
      const chunk = this.queue.shift() as QueuedChunk;
      this.queuedBytes -= chunk.data.length;
      this.count(chunk.data.length);
      this.to.write(chunk.data);
    }
    if (this.queuedBytes <= QUEUE_HIGH_WATER && this.from.isPaused()) this.from.resume();
    const next = this.queue[0];
    if (next !== undefined) this.timer = setTimeout(() => this.pump(), Math.max(1, next.dueAt - now));
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}

interface ProxiedConnection {
  client: net.Socket;
  upstream: net.Socket;
  directions: Direction[];
}

export class FaultProxy {
  private target: { host: string; port: number } | null = null;
  private fault: LinkFault = { ...HEALTHY_LINK };
  private readonly connections = new Set<ProxiedConnection>();
  private readonly counters: FaultProxyStats = { connections: 0, cuts: 0, bytesForward: 0, bytesBackward: 0 };
  private closing: Promise<void> | null = null;

  private constructor(
    /** Names the link in logs and reports, e.g. "node0→node1". */
    readonly name: string,
    private readonly server: net.Server,
    /** host:port to give the dialling node. */
    readonly address: string,
    private readonly random: SeededRandom,
  ) {
    server.on('connection', (socket) => this.accept(socket));
    // A listening server's later errors (EMFILE on accept) must not end the harness.
    server.on('error', () => undefined);
  }

  /** Listens on a free port of `host`; the target is set later (it may not be known yet). */
  static async listen(name: string, options: { host?: string; seed?: number } = {}): Promise<FaultProxy> {
    const host = options.host ?? '127.0.0.1';
    const server = net.createServer({ allowHalfOpen: false });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: 0, host }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as net.AddressInfo).port;
    return new FaultProxy(name, server, `${host}:${port}`, new SeededRandom(options.seed ?? port));
  }

  /** Where accepted connections are forwarded: the dialled node's real "host:port". */
  setTarget(hostPort: string): void {
    const m = /^(.*):(\d+)$/.exec(hostPort);
    if (!m) throw new Error(`fault proxy ${this.name}: target ${hostPort} is not host:port`);
    this.target = { host: (m[1] as string).replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
  }

  get currentFault(): Readonly<LinkFault> {
    return this.fault;
  }

  get stats(): Readonly<FaultProxyStats> {
    return this.counters;
  }

  get openConnections(): number {
    return this.connections.size;
  }

  /** Changes the link's behaviour; bytes held so far move on once their direction is released. */
  setFault(change: Partial<LinkFault>): void {
    this.fault = { ...this.fault, ...change };
    for (const c of this.connections) for (const d of c.directions) d.pump();
  }

  /** Destroys every open connection through this link (the nodes will redial). */
  cut(): void {
    if (this.connections.size > 0) this.counters.cuts++;
    for (const c of [...this.connections]) this.drop(c);
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const c of [...this.connections]) this.drop(c);
    });
    return this.closing;
  }

  private accept(client: net.Socket): void {
    if (this.closing !== null || this.target === null) {
      client.destroy();
      return;
    }
    this.counters.connections++;
    client.setNoDelay(true);
    // Connected at once even while the link is held: the dialling node then sees a connection on
    // which nothing moves, as it would if the SYN got through and the data did not.
    const upstream = net.connect({ host: this.target.host, port: this.target.port });
    upstream.setNoDelay(true);
    const conn: ProxiedConnection = { client, upstream, directions: [] };
    conn.directions.push(
      new Direction(
        client,
        upstream,
        () => ({ hold: this.fault.holdForward, delayMs: this.fault.delayMs, jitterMs: this.fault.jitterMs }),
        this.random,
        (n) => (this.counters.bytesForward += n),
      ),
      new Direction(
        upstream,
        client,
        () => ({ hold: this.fault.holdBackward, delayMs: this.fault.delayMs, jitterMs: this.fault.jitterMs }),
        this.random,
        (n) => (this.counters.bytesBackward += n),
      ),
    );
    this.connections.add(conn);
    const end = (): void => this.drop(conn);
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
  }

  private drop(conn: ProxiedConnection): void {
    if (!this.connections.delete(conn)) return;
    for (const d of conn.directions) d.close();
    // resetAndDestroy sends an RST where it can, as a cut link or a forgetful middlebox would.
    for (const s of [conn.client, conn.upstream]) {
      if (typeof s.resetAndDestroy === 'function' && s.readyState === 'open') s.resetAndDestroy();
      else s.destroy();
    }
  }
}
