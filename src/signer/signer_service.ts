// The Signer gRPC service (proto/signer.proto) on a node's shared server, and its clients: the
// forwarder a follower uses to reach the leader, and a one-shot Sign call for tools and tests.
// The server requires a certificate of the cluster CA (mutual TLS) and checks every call against
// the authorization table before it reaches a handler here (src/transport/authorization.ts): Sign,
// Decide and Forward accept only a voter's node certificate. A Forward stream is checked again with
// each request, so a voter removed while its stream is open is refused from then on.

import * as grpc from '@grpc/grpc-js';
import { Logger } from '../log/logger';
import { NodeId } from '../raft/types';
import { CallAuthorizer, RPC } from '../transport/authorization';
import { assertAuthorizedServer } from '../transport/grpc_server';
import { loadProtoFile } from '../transport/proto_loader';
import type { LeaderAnswer } from '../replica/leader_answer';
import type { LeaderForwarder, SignCoordinator } from '../node/sign_coordinator';
import { isSignRefusalReason, SignOutcome, SignRefusalReason, SignRequest } from './sign_types';

const Outcome = { Signed: 1, SignedWithStoredTimestamp: 2, Refused: 3 } as const;
const DecideKind = { Decided: 1, Refused: 2, NotLeader: 3 } as const;

/** Reconnect backoff of a follower's channel to a peer it may have to forward to. */
const FORWARD_RECONNECT_BACKOFF_MS = { initial: 50, max: 250 } as const;

/** Longest a forwarded or tool request may ask to wait: the validator node gives up at 5 s. */
const MAX_TIMEOUT_MS = 5000;

interface WireSignRequest {
  chainId: string;
  pubKey: Buffer;
  height: string;
  round: number;
  step: number;
  signBytes: Buffer;
  timeoutMs: number;
}

interface WireSignResponse {
  outcome: number;
  signature: Buffer;
  storedTimestampSeconds: string;
  storedTimestampNanos: number;
  refusalReason: string;
  message: string;
}

interface WireForwardRequest {
  id: string;
  request: WireSignRequest | null;
}

interface WireForwardResponse {
  id: string;
  answer: WireDecideResponse | null;
  invalid: string;
}

interface WireDecideResponse {
  kind: number;
  index: string;
  term: string;
  position: number;
  refusalReason: string;
  message: string;
  leaderHint: string;
}

function signerService(): grpc.ServiceClientConstructor {
  const tree = loadProtoFile('signer.proto');
  const pkg = ((tree.raftsigner as grpc.GrpcObject).signer as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return pkg.Signer as grpc.ServiceClientConstructor;
}

function toWireRequest(r: SignRequest, timeoutMs: number): WireSignRequest {
  return {
    chainId: r.chainId,
    pubKey: Buffer.from(r.pubKey),
    height: r.height.toString(),
    round: r.round,
    step: r.step,
    signBytes: Buffer.from(r.signBytes),
    timeoutMs: Math.max(0, Math.min(MAX_TIMEOUT_MS, Math.round(timeoutMs))),
  };
}

/** A request off the wire, checked: malformed input is refused here, never passed on. */
function fromWireRequest(w: WireSignRequest): SignRequest | string {
  if (!/^-?\d+$/.test(w.height)) return `height ${JSON.stringify(w.height)} is not an integer`;
  const height = BigInt(w.height);
  if (height <= 0n) return `height must be positive, got ${height}`;
  if (w.round < 0) return `round must not be negative, got ${w.round}`;
  if (w.step !== 1 && w.step !== 2 && w.step !== 3) return `step must be 1, 2 or 3, got ${w.step}`;
  if (w.pubKey.length !== 32) return `pub_key must be 32 bytes, got ${w.pubKey.length}`;
  if (w.chainId === '') return 'chain_id is empty';
  return { chainId: w.chainId, pubKey: w.pubKey, height, round: w.round, step: w.step, signBytes: w.signBytes };
}

function reasonOf(wire: string): SignRefusalReason {
  // An unknown reason (from a newer peer) is still a refusal; report it as a disagreement.
  return isSignRefusalReason(wire) ? wire : 'disagreement';
}

function toWireOutcome(o: SignOutcome): WireSignResponse {
  const base = { signature: Buffer.alloc(0), storedTimestampSeconds: '0', storedTimestampNanos: 0, refusalReason: '', message: '' };
  switch (o.kind) {
    case 'signed':
      return { ...base, outcome: Outcome.Signed, signature: Buffer.from(o.signature) };
    case 'signed-with-stored-timestamp':
      return {
        ...base,
        outcome: Outcome.SignedWithStoredTimestamp,
        signature: Buffer.from(o.signature),
        storedTimestampSeconds: o.timestamp.seconds.toString(),
        storedTimestampNanos: o.timestamp.nanos,
      };
    case 'refused':
      return { ...base, outcome: Outcome.Refused, refusalReason: o.reason, message: o.message };
  }
}

function fromWireOutcome(w: WireSignResponse): SignOutcome {
  switch (w.outcome) {
    case Outcome.Signed:
      return { kind: 'signed', signature: w.signature };
    case Outcome.SignedWithStoredTimestamp:
      return {
        kind: 'signed-with-stored-timestamp',
        signature: w.signature,
        timestamp: { seconds: BigInt(w.storedTimestampSeconds), nanos: w.storedTimestampNanos },
      };
    default:
      return { kind: 'refused', reason: reasonOf(w.refusalReason), message: w.message };
  }
}

function toWireDecide(a: LeaderAnswer): WireDecideResponse {
  const base = { index: '0', term: '0', position: 0, refusalReason: '', message: '', leaderHint: '' };
  switch (a.kind) {
    case 'decided':
      return { ...base, kind: DecideKind.Decided, index: String(a.index), term: String(a.term), position: a.position };
    case 'refused':
      return { ...base, kind: DecideKind.Refused, refusalReason: a.reason, message: a.message };
    case 'not-leader':
      return { ...base, kind: DecideKind.NotLeader, leaderHint: a.leaderHint ?? '' };
    case 'broken-outcome':
      throw new Error('a broken-variant answer is never sent over the wire');
  }
}

function fromWireDecide(w: WireDecideResponse): LeaderAnswer {
  switch (w.kind) {
    case DecideKind.Decided: {
      const index = Number(w.index);
      const term = Number(w.term);
      if (!Number.isSafeInteger(index) || !Number.isSafeInteger(term) || w.position < -1) {
        throw new Error(`the leader answered an impossible position (index ${w.index}, term ${w.term}, position ${w.position})`);
      }
      return { kind: 'decided', index, term, position: w.position };
    }
    case DecideKind.Refused:
      return { kind: 'refused', reason: reasonOf(w.refusalReason), message: w.message };
    default:
      return { kind: 'not-leader', leaderHint: w.leaderHint === '' ? null : w.leaderHint };
  }
}

export interface SignerServiceOptions {
  coordinator: SignCoordinator;
  /** The server's authorizer: a Forward stream is checked again with each request. */
  authorizer: CallAuthorizer;
  logger: Logger;
}

/** Adds the Signer service to the node's shared server. */
export function addSignerService(server: grpc.Server, options: SignerServiceOptions): void {
  const { coordinator } = options;
  assertAuthorizedServer(server, 'Signer');
  server.addService(signerService().service, {
    Sign: (call: grpc.ServerUnaryCall<WireSignRequest, WireSignResponse>, callback: grpc.sendUnaryData<WireSignResponse>) => {
      const request = fromWireRequest(call.request);
      if (typeof request === 'string') {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: request });
        return;
      }
      coordinator.sign(request, call.request.timeoutMs || MAX_TIMEOUT_MS).then(
        (o) => callback(null, toWireOutcome(o)),
        (e: unknown) => callback({ code: grpc.status.INTERNAL, details: (e as Error).message }),
      );
    },
    Decide: (call: grpc.ServerUnaryCall<WireSignRequest, WireDecideResponse>, callback: grpc.sendUnaryData<WireDecideResponse>) => {
      const request = fromWireRequest(call.request);
      if (typeof request === 'string') {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: request });
        return;
      }
      coordinator.decideAsLeader(request, call.request.timeoutMs || MAX_TIMEOUT_MS).then(
        (a) => callback(null, toWireDecide(a)),
        (e: unknown) => callback({ code: grpc.status.INTERNAL, details: (e as Error).message }),
      );
    },
    Forward: (call: grpc.ServerDuplexStream<WireForwardRequest, WireForwardResponse>) => serveForwardStream(call, options),
  });
}

/**
 * The leader's side of a Forward stream: the server authorized the caller when the stream opened,
 * and each request is authorized again (cheap: the certificate's identity is cached), so a caller
 * removed or demoted meanwhile is cut off; each request is decided on its own and answered as soon
 * as it is, so one slow request holds up no other.
 */
function serveForwardStream(call: grpc.ServerDuplexStream<WireForwardRequest, WireForwardResponse>, options: SignerServiceOptions): void {
  const { coordinator, logger, authorizer } = options;
  let open = true;
  const close = (): void => {
    open = false;
  };
  call.on('cancelled', close);
  call.on('error', close);
  call.on('end', () => {
    close();
    call.end();
  });
  const answer = (res: WireForwardResponse): void => {
    if (open && !call.destroyed && call.writable) call.write(res);
  };
  call.on('data', (msg: WireForwardRequest) => {
    const id = msg.id;
    if (!open) return;
    const again = authorizer.check(RPC.SignerForward, call);
    if (!again.ok) {
      open = false;
      call.emit('error', authorizer.refusalStatus(RPC.SignerForward, again));
      return;
    }
    const wire = msg.request;
    const request = wire ? fromWireRequest(wire) : 'the request is missing';
    if (typeof request === 'string') {
      answer({ id, answer: null, invalid: request });
      return;
    }
    coordinator.decideAsLeader(request, (wire as WireSignRequest).timeoutMs || MAX_TIMEOUT_MS).then(
      (a) => answer({ id, answer: toWireDecide(a), invalid: '' }),
      (e: unknown) => {
        logger.error('deciding a forwarded request failed', { error: (e as Error).message });
        answer({ id, answer: null, invalid: `internal error: ${(e as Error).message}` });
      },
    );
  });
}

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
