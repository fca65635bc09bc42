// The Signer service's clients: the forwarder a follower uses to reach the leader, and a one-shot
// Sign call for tools and tests (the server side: signer_server.ts).

import * as grpc from '@grpc/grpc-js';
import type { SignOutcome, SignRequest } from '../cometbft/sign_types';
import type { NodeId } from '../raft/types';
import type { LeaderAnswer, LeaderForwarder } from '../replica/leader_answer';
import { FORWARD_RECONNECT_BACKOFF_MS, fromWireDecide, fromWireOutcome, signerService, toWireRequest, WireDecideResponse, WireForwardRequest, WireForwardResponse, WireSignRequest, WireSignResponse } from './signer_wire';

type UnaryMethod<Res> = (req: WireSignRequest, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: Res) => void) => void;

function unary<Res>(client: grpc.Client, method: 'Sign' | 'Decide', req: WireSignRequest, deadlineMs: number): Promise<Res> {
  const fn = (client as unknown as Record<string, UnaryMethod<Res>>)[method].bind(client);
  return new Promise<Res>((resolve, reject) => {
    fn(req, { deadline: Date.now() + deadlineMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/**
 * A follower's way to the leader: one long-lived channel per peer (a new connection costs a TLS
 * handshake) carrying one long-lived Forward stream, on which every forwarded request goes with its
 * own id. A stream that fails fails the requests waiting on it (the coordinator retries them, and a
 * request the leader did receive is then coalesced or answered from the record); the next request
 * opens a new one. A leader that does not know Forward (an older version) is asked with unary
 * Decide calls instead.
 */
export class GrpcLeaderForwarder implements LeaderForwarder {
  private readonly clients = new Map<NodeId, grpc.Client>();
  private readonly streams = new Map<NodeId, ForwardStream>();
  /** Peers that answered Forward with UNIMPLEMENTED. */
  private readonly unaryOnly = new Set<NodeId>();

  constructor(
    private readonly addressOf: (id: NodeId) => string | null,
    private readonly credentialsFor: (id: NodeId) => grpc.ChannelCredentials,
  ) {}

  async forward(leader: NodeId, request: SignRequest, timeoutMs: number): Promise<LeaderAnswer> {
    const client = this.clientFor(leader);
    // The leader gets slightly less time than we wait, so its answer arrives before our deadline.
    const wire = toWireRequest(request, Math.max(1, timeoutMs - 20));
    if (this.unaryOnly.has(leader)) return fromWireDecide(await unary<WireDecideResponse>(client, 'Decide', wire, timeoutMs));
    let stream = this.streams.get(leader);
    if (!stream || stream.closed) {
      stream = new ForwardStream(client, () => {
        if (this.streams.get(leader) === stream) this.streams.delete(leader);
      });
      this.streams.set(leader, stream);
    }
    try {
      return await stream.send(wire, timeoutMs);
    } catch (e) {
      if ((e as grpc.ServiceError).code === grpc.status.UNIMPLEMENTED) {
        this.unaryOnly.add(leader);
        return fromWireDecide(await unary<WireDecideResponse>(client, 'Decide', wire, timeoutMs));
      }
      throw e;
    }
  }

  close(): void {
    for (const s of this.streams.values()) s.close();
    this.streams.clear();
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private clientFor(id: NodeId): grpc.Client {
    let client = this.clients.get(id);
    if (!client) {
      const address = this.addressOf(id);
      if (address === null) throw new Error(`no address known for node ${id}`);
      const Client = signerService();
      client = new Client(address, this.credentialsFor(id), {
        'grpc.ssl_target_name_override': id,
        'grpc.default_authority': id,
        'grpc.enable_retries': 0,
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_permit_without_calls': 1,
        // grpc-js backs off up to 120 s between reconnects by default. A peer that was down (or
        // killed) and comes back may be elected leader at any moment: forwarding to it must work
        // within a heartbeat or two, not after minutes of backoff.
        'grpc.initial_reconnect_backoff_ms': FORWARD_RECONNECT_BACKOFF_MS.initial,
        'grpc.max_reconnect_backoff_ms': FORWARD_RECONNECT_BACKOFF_MS.max,
      });
      this.clients.set(id, client);
    }
    return client;
  }
}

interface WaitingAnswer {
  resolve: (answer: LeaderAnswer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** One Forward stream to one leader, and the requests waiting for its answers. */
class ForwardStream {
  closed = false;
  private readonly call: grpc.ClientDuplexStream<WireForwardRequest, WireForwardResponse>;
  private readonly waiting = new Map<string, WaitingAnswer>();
  private nextId = 1;

  constructor(client: grpc.Client, onClosed: () => void) {
    const open = (client as unknown as { Forward: () => grpc.ClientDuplexStream<WireForwardRequest, WireForwardResponse> }).Forward.bind(client);
    this.call = open();
    this.call.on('data', (res: WireForwardResponse) => {
      const w = this.waiting.get(res.id);
      if (!w) return; // timed out here already
      this.waiting.delete(res.id);
      clearTimeout(w.timer);
      if (res.answer) {
        try {
          w.resolve(fromWireDecide(res.answer));
        } catch (e) {
          w.reject(e as Error);
        }
      } else {
        w.reject(new Error(`the leader refused the forwarded request: ${res.invalid}`));
      }
    });
    const fail = (err: Error): void => {
      if (this.closed) return;
      this.closed = true;
      onClosed();
      for (const w of this.waiting.values()) {
        clearTimeout(w.timer);
        w.reject(err);
      }
      this.waiting.clear();
    };
    this.call.on('error', (err: Error) => fail(err));
    this.call.on('end', () => fail(new Error('the leader ended the forward stream')));
    this.call.on('close', () => fail(new Error('the forward stream closed')));
  }

  send(wire: WireSignRequest, timeoutMs: number): Promise<LeaderAnswer> {
    if (this.closed) return Promise.reject(new Error('the forward stream is closed'));
    const id = String(this.nextId++);
    return new Promise<LeaderAnswer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no answer from the leader within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      this.call.write({ id, request: wire });
    });
  }

  close(): void {
    this.closed = true;
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new Error('the forwarder is closing'));
    }
    this.waiting.clear();
    this.call.cancel();
  }
}

/** One Sign call to a node (tools, tests): the whole sign path, released by the node called. */
export async function signThroughNode(
  address: string,
  credentials: grpc.ChannelCredentials,
  serverName: string,
  request: SignRequest,
  timeoutMs = 4000,
): Promise<SignOutcome> {
  const Client = signerService();
  const client = new Client(address, credentials, { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName });
  try {
    return fromWireOutcome(await unary<WireSignResponse>(client, 'Sign', toWireRequest(request, timeoutMs - 100), timeoutMs));
  } finally {
    client.close();
  }
}

