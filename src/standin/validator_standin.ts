// A stand-in for a CometBFT validator node's privval side, for tests, the chaos harness, the
// demo and the benchmark: it listens on a privval address as the node does on
// priv_validator_laddr, accepts the signer's connection and sends it requests, one at a time,
// the way CometBFT's SignerListenerEndpoint does:
// - unix:// is plain framing; tcp:// runs SecretConnection with the stand-in's own identity key
//   (optionally refusing a signer whose node id is not the expected one);
// - the newest connection wins: an older one is closed when a new one is established;
// - a request waits for a connection, then for its response; when the response does not come
//   in time the connection is dropped, so a late answer is never taken for the next request
//   (CometBFT drops the connection on a read timeout too);
// - an idle connection is pinged (CometBFT: every ~3.3 s);
// - responses over 10 KiB are refused, as a v0.38 node refuses them.
// Every signature it receives is recorded, as the node would broadcast it, in a SignHistory;
// anything a real node would choke on is recorded in protocolErrors.

import { KeyObject, createPublicKey, generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import * as net from 'node:net';
import { Duplex } from 'node:stream';

import { Logger, silentLogger } from '../log/logger';
import { FramingError, LengthPrefixedReader, encodeFrame } from '../privval/framing';
import {
  PrivvalMessage,
  PrivvalMessageKind,
  Proposal,
  PubKeyResponse,
  PublicKeyType,
  SignedProposalResponse,
  SignedVoteResponse,
  Vote,
  decodeMessage,
  encodeMessage,
} from '../cometbft/messages';
import { PrivvalAddress, isNodeId, nodeIdFromPublicKey, parsePrivvalAddress } from '../privval/node_id';
import { MAX_RESPONSE_BYTES } from '../privval/privval_session';
import { SecretConnection, makeSecretConnection } from '../privval/secret_connection';
import { isNilBlockId } from '../cometbft/sign_bytes';
import { SignHistory } from './sign_history';
import { RaftSignerError } from '../util/errors';

export type StandinErrorCode =
  /** No connection, or no response, within the request's timeout. */
  | 'timeout'
  /** The connection carrying the request was lost (closed, replaced, or broke the protocol). */
  | 'connection-lost'
  /** The stand-in was closed. */
  | 'closed'
  /** The signer answered with another kind of message than the request calls for. */
  | 'unexpected-response'
  /** The stand-in cannot listen on the address. */
  | 'listen-failed';

/** The base's stable code (RaftSignerError type.code) of each StandinErrorCode. */
const STANDIN_ERROR_TYPE_CODE: Record<StandinErrorCode, string> = {
  timeout: 'STANDIN_TIMEOUT',
  'connection-lost': 'STANDIN_CONNECTION_LOST',
  closed: 'STANDIN_CLOSED',
  'unexpected-response': 'STANDIN_UNEXPECTED_RESPONSE',
  'listen-failed': 'STANDIN_LISTEN_FAILED',
};

export class StandinError extends RaftSignerError<{ code: string; standinCode: StandinErrorCode }> {
  constructor(
    readonly code: StandinErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super({ code: STANDIN_ERROR_TYPE_CODE[code], standinCode: code }, message, options);
    this.name = 'StandinError';
  }
}

export interface ValidatorStandinOptions {
  /** `unix:///path` or `tcp://host:port`; port 0 picks a free port (see `address` after listen). */
  address: string;
  /** tcp://: refuse a signer whose SecretConnection identity has another node id. */
  expectedSignerNodeId?: string;
  /** tcp://: the stand-in's own Ed25519 identity (default: a fresh one per stand-in). */
  identity?: KeyObject;
  /** Ping an idle connection this often (default 3300 ms, as CometBFT; 0: never). */
  pingIntervalMs?: number;
  /** Default timeout of ping and of helpers given none (default 5000 ms, the node's deadline). */
  requestTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  /** Largest response accepted (default MAX_RESPONSE_BYTES: what a v0.38 node accepts). */
  maxResponseBytes?: number;
  /** Names this node in its SignHistory and logs (default 'validator'). */
  name?: string;
  logger?: Logger;
  /** Record signatures (default true). */
  recordHistory?: boolean;
}

export interface SignVoteOptions {
  /** v1's skip_extension_signing. */
  skipExtensionSigning?: boolean;
  timeoutMs?: number;
}

interface Connection {
  id: number;
  stream: Duplex;
  reader: LengthPrefixedReader;
  /** tcp://: the signer's node id. */
  remoteNodeId: string | null;
  dropped: boolean;
}

interface PendingRequest {
  msg: PrivvalMessage;
  resolve: (response: PrivvalMessage) => void;
  reject: (err: StandinError) => void;
  timer: NodeJS.Timeout;
  timeoutMs: number;
  sentOn: Connection | null;
}

interface Waiter {
  resolve: () => void;
  reject: (err: StandinError) => void;
  timer: NodeJS.Timeout;
}

/** The body of a message kind (undefined for the empty ping messages). */
type MessageValue<K extends PrivvalMessageKind> = Extract<PrivvalMessage, { kind: K }> extends { value: infer V } ? V : undefined;

const DEFAULT_PING_INTERVAL_MS = 3300;
const DEFAULT_REQUEST_TIMEOUT_MS = 5000;

const EXPECTED_RESPONSE: Partial<Record<PrivvalMessageKind, PrivvalMessageKind>> = {
  pubKeyRequest: 'pubKeyResponse',
  signVoteRequest: 'signedVoteResponse',
  signProposalRequest: 'signedProposalResponse',
  pingRequest: 'pingResponse',
  signBytesRequest: 'signBytesResponse',
};

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Parses the listen address; tcp port 0 is allowed here (it is not for a signer's target). */
function parseListenAddress(address: string): PrivvalAddress {
  const zeroPort = /^tcp:\/\/.*:0$/i.test(address);
  const parsed = parsePrivvalAddress(zeroPort ? `${address.slice(0, -1)}1` : address);
  if (parsed.kind === 'tcp') {
    if (parsed.expectedNodeId !== undefined) {
      throw new StandinError('listen-failed', `a listen address carries no node id: ${address} (pin the signer with expectedSignerNodeId)`);
    }
    if (zeroPort) parsed.port = 0;
  }
  return parsed;
}

export class ValidatorStandin {
  /** The address it listens on, with the port it got (give this to the signer). */
  readonly address: string;
  /** tcp://: its SecretConnection node id (what a signer pins: tcp://<id>@host:port). */
  readonly nodeId: string;
  readonly history: SignHistory;
  /** Everything a CometBFT node would refuse or choke on, in order. */
  readonly protocolErrors: string[] = [];

  private readonly server: net.Server;
  private readonly options: ValidatorStandinOptions;
  private readonly identity: KeyObject;
  private readonly logger: Logger;
  private readonly parsed: PrivvalAddress;
  private current: Connection | null = null;
  private readonly handshaking = new Set<net.Socket>();
  private readonly queue: PendingRequest[] = [];
  private inflight: PendingRequest | null = null;
  private readonly waiters = new Set<Waiter>();
  private readonly pubKeys = new Map<string, Uint8Array>();
  private pingTimer: NodeJS.Timeout | undefined;
  private connectionSeq = 0;
  private handshakeFailureCount = 0;
  private closing: Promise<void> | null = null;

  private constructor(server: net.Server, address: string, parsed: PrivvalAddress, identity: KeyObject, options: ValidatorStandinOptions) {
    this.server = server;
    this.address = address;
    this.parsed = parsed;
    this.identity = identity;
    this.options = options;
    this.logger = options.logger ?? silentLogger();
    this.history = new SignHistory(options.name ?? 'validator');
    this.nodeId = nodeIdOf(identity);
    server.on('connection', this.onSocket);
    // A listening server's later errors (e.g. EMFILE on accept) must not crash the process.
    server.on('error', (err) => this.logger.warn(`stand-in server error: ${err.message}`, { address: this.address }));
  }

  /** Starts listening; rejects with StandinError('listen-failed') if it cannot. */
  static async listen(options: ValidatorStandinOptions): Promise<ValidatorStandin> {
    const parsed = parseListenAddress(options.address);
    if (options.expectedSignerNodeId !== undefined && !isNodeId(options.expectedSignerNodeId)) {
      throw new StandinError('listen-failed', 'expectedSignerNodeId must be 40 hex digits');
    }
    const identity = options.identity ?? generateKeyPairSync('ed25519').privateKey;
    if (identity.type !== 'private' || identity.asymmetricKeyType !== 'ed25519') {
      throw new StandinError('listen-failed', 'the stand-in identity must be an Ed25519 private key');
    }
    const server = net.createServer({ allowHalfOpen: false });
    try {
      await listenOn(server, parsed);
    } catch (err) {
      server.close();
      throw new StandinError('listen-failed', `cannot listen on ${options.address}: ${errorMessage(err)}`, { cause: err });
    }
    let address = options.address;
    if (parsed.kind === 'tcp') {
      const bound = server.address() as net.AddressInfo;
      const host = parsed.host.includes(':') ? `[${parsed.host}]` : parsed.host;
      address = `tcp://${host}:${bound.port}`;
    }
    return new ValidatorStandin(server, address, parsed, identity, options);
  }

  /** `tcp://<stand-in node id>@host:port`: the address for a signer that pins this node. */
  get pinnedAddress(): string {
    if (this.parsed.kind !== 'tcp') return this.address;
    return this.address.replace('tcp://', `tcp://${this.nodeId}@`);
  }

  get connected(): boolean {
    return this.current !== null;
  }

  /** Connections established (handshake done) so far. */
  get connectionCount(): number {
    return this.connectionSeq;
  }

  /** tcp:// connections whose SecretConnection handshake failed. */
  get handshakeFailures(): number {
    return this.handshakeFailureCount;
  }

  /** The signer's node id on the current connection (tcp://), or null. */
  get signerNodeId(): string | null {
    return this.current?.remoteNodeId ?? null;
  }

  /**
   * Sends one request when the previous ones are answered and a connection is up, and resolves
   * with the response, whatever its kind. Rejects with StandinError: 'timeout' (no connection or
   * no response within timeoutMs, counted from now; the connection is then dropped),
   * 'connection-lost', 'closed'.
   */
  request(msg: PrivvalMessage, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): Promise<PrivvalMessage> {
    if (this.closing !== null) return Promise.reject(new StandinError('closed', 'the stand-in is closed'));
    return new Promise<PrivvalMessage>((resolve, reject) => {
      const pending: PendingRequest = {
        msg,
        resolve,
        reject,
        timeoutMs,
        sentOn: null,
        timer: setTimeout(() => this.onRequestTimeout(pending), timeoutMs),
      };
      this.queue.push(pending);
      this.pump();
    });
  }

  async pubKey(chainId: string, timeoutMs = this.defaultTimeout()): Promise<PubKeyResponse> {
    const response = this.expectKind(await this.request({ kind: 'pubKeyRequest', value: { chainId } }, timeoutMs), 'pubKeyResponse');
    if (response.error === null && response.pubKey !== null && response.pubKey.type === PublicKeyType.Ed25519) {
      this.pubKeys.set(chainId, response.pubKey.bytes.slice());
    }
    return response;
  }

  async ping(timeoutMs = this.defaultTimeout()): Promise<void> {
    this.expectKind(await this.request({ kind: 'pingRequest' }, timeoutMs), 'pingResponse');
  }

  /**
   * Asks for a vote signature. A signed answer is checked as a node would use it and recorded;
   * a refusal is returned as the response's `error`, not thrown.
   */
  async signVote(chainId: string, vote: Vote, opts: SignVoteOptions = {}): Promise<SignedVoteResponse> {
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeout();
    const pubKey = await this.pubKeyForHistory(chainId, timeoutMs);
    const skip = opts.skipExtensionSigning ?? false;
    const response = this.expectKind(
      await this.request({ kind: 'signVoteRequest', value: { vote, chainId, skipExtensionSigning: skip } }, timeoutMs),
      'signedVoteResponse',
    );
    if (response.error === null) this.recordVote(chainId, pubKey, vote, response.vote, skip);
    return response;
  }

  /** Asks for a proposal signature; recorded like votes. */
  async signProposal(chainId: string, proposal: Proposal, opts: { timeoutMs?: number } = {}): Promise<SignedProposalResponse> {
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeout();
    const pubKey = await this.pubKeyForHistory(chainId, timeoutMs);
    const response = this.expectKind(
      await this.request({ kind: 'signProposalRequest', value: { proposal, chainId } }, timeoutMs),
      'signedProposalResponse',
    );
    if (response.error === null) this.recordProposal(chainId, pubKey, proposal, response.proposal);
    return response;
  }

  /** Resolves when a signer is connected; rejects with StandinError('timeout' | 'closed'). */
  waitConnected(timeoutMs = this.defaultTimeout()): Promise<void> {
    if (this.current !== null) return Promise.resolve();
    if (this.closing !== null) return Promise.reject(new StandinError('closed', 'the stand-in is closed'));
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new StandinError('timeout', `no signer connected to ${this.address} within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** Closes the current connection (the signer is expected to redial), as a node restart would. */
  dropConnection(why = 'dropped by the stand-in'): void {
    if (this.current !== null) this.drop(this.current, why);
  }

  /** Stops listening, closes every connection and rejects what is pending with 'closed'. */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  // -------------------------------------------------------------------------------------------

  private defaultTimeout(): number {
    return this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  private async shutDown(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.clearPingTimer();
    for (const socket of this.handshaking) socket.destroy();
    this.handshaking.clear();
    if (this.current !== null) this.drop(this.current, 'the stand-in is closing');
    const err = (): StandinError => new StandinError('closed', 'the stand-in was closed');
    if (this.inflight !== null) this.settle(this.inflight, err());
    for (const pending of this.queue.splice(0)) this.settle(pending, err());
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(err());
    }
    this.waiters.clear();
    await closed;
  }

  private readonly onSocket = (socket: net.Socket): void => {
    socket.on('error', (err) => this.logger.debug(`stand-in socket error: ${err.message}`, { address: this.address }));
    if (this.closing !== null) {
      socket.destroy();
      return;
    }
    if (this.parsed.kind === 'unix') {
      this.adopt(socket, null);
      return;
    }
    socket.setNoDelay(true);
    this.handshaking.add(socket);
    makeSecretConnection(socket, this.identity, {
      expectedRemoteNodeId: this.options.expectedSignerNodeId,
      handshakeTimeoutMs: this.options.handshakeTimeoutMs,
    }).then(
      (conn: SecretConnection) => {
        this.handshaking.delete(socket);
        this.adopt(conn, conn.remoteNodeId);
      },
      (err: unknown) => {
        this.handshaking.delete(socket);
        this.handshakeFailureCount++;
        this.logger.warn(`stand-in: SecretConnection handshake failed: ${errorMessage(err)}`, { address: this.address });
      },
    );
  };

  /** A new established connection: it replaces the current one (newest wins). */
  private adopt(stream: Duplex, remoteNodeId: string | null): void {
    if (this.closing !== null) {
      stream.destroy();
      return;
    }
    const conn: Connection = {
      id: ++this.connectionSeq,
      stream,
      reader: new LengthPrefixedReader({ maxMessageSize: this.options.maxResponseBytes ?? MAX_RESPONSE_BYTES }),
      remoteNodeId,
      dropped: false,
    };
    if (this.current !== null) this.drop(this.current, 'replaced by a newer connection');
    this.current = conn;
    stream.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    stream.on('error', (err: Error) => this.drop(conn, `connection error: ${err.message}`));
    stream.on('close', () => this.drop(conn, 'the signer closed the connection'));
    this.logger.info('stand-in: signer connected', { address: this.address, connection: conn.id, signerNodeId: remoteNodeId ?? undefined });
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve();
    }
    this.waiters.clear();
    this.pump();
    this.armPingTimer();
  }

  /** Closes a connection; the request in flight on it fails with 'connection-lost'. */
  private drop(conn: Connection, why: string): void {
    if (conn.dropped) return;
    conn.dropped = true;
    conn.stream.destroy();
    if (this.current === conn) {
      this.current = null;
      this.clearPingTimer();
    }
    this.logger.info(`stand-in: connection closed: ${why}`, { address: this.address, connection: conn.id });
    const inflight = this.inflight;
    if (inflight !== null && inflight.sentOn === conn) {
      this.settle(inflight, new StandinError('connection-lost', `the connection was lost before the response: ${why}`));
      this.pump();
    }
  }

  private onData(conn: Connection, chunk: Buffer): void {
    if (conn.dropped) return;
    let frames: Uint8Array[];
    try {
      frames = conn.reader.push(chunk);
    } catch (err) {
      const why = err instanceof FramingError ? `bad response framing: ${err.message}` : errorMessage(err);
      this.protocolError(why);
      this.drop(conn, why);
      return;
    }
    for (const frame of frames) {
      if (conn.dropped) return;
      let msg: PrivvalMessage;
      try {
        msg = decodeMessage(frame);
      } catch (err) {
        const why = `malformed response: ${errorMessage(err)}`;
        this.protocolError(why);
        this.drop(conn, why);
        return;
      }
      const pending = this.inflight;
      if (pending === null || pending.sentOn !== conn) {
        const why = `unsolicited ${msg.kind} from the signer`;
        this.protocolError(why);
        this.drop(conn, why);
        return;
      }
      const expected = EXPECTED_RESPONSE[pending.msg.kind];
      if (expected !== undefined && msg.kind !== expected) this.protocolError(`a ${pending.msg.kind} was answered with a ${msg.kind}`);
      this.settle(pending, msg);
      this.pump();
      this.armPingTimer();
    }
  }

  /** Resolves or rejects a request and forgets it. */
  private settle(pending: PendingRequest, outcome: PrivvalMessage | StandinError): void {
    clearTimeout(pending.timer);
    if (this.inflight === pending) this.inflight = null;
    const index = this.queue.indexOf(pending);
    if (index >= 0) this.queue.splice(index, 1);
    if (outcome instanceof StandinError) pending.reject(outcome);
    else pending.resolve(outcome);
  }

  private pump(): void {
    if (this.inflight !== null || this.current === null || this.closing !== null) return;
    const next = this.queue.shift();
    if (next === undefined) return;
    this.clearPingTimer();
    this.inflight = next;
    next.sentOn = this.current;
    this.current.stream.write(encodeFrame(encodeMessage(next.msg)));
  }

  private onRequestTimeout(pending: PendingRequest): void {
    if (this.inflight === pending) {
      const conn = pending.sentOn;
      this.settle(pending, new StandinError('timeout', `no response to ${pending.msg.kind} within ${pending.timeoutMs} ms`));
      // As CometBFT on a read timeout: a late response must not answer the next request.
      if (conn !== null) this.drop(conn, `no response within ${pending.timeoutMs} ms`);
      this.pump();
      return;
    }
    this.settle(pending, new StandinError('timeout', `no signer connected to ${this.address} within ${pending.timeoutMs} ms`));
  }

  private armPingTimer(): void {
    const interval = this.options.pingIntervalMs ?? DEFAULT_PING_INTERVAL_MS;
    if (interval === 0 || this.current === null || this.closing !== null) return;
    this.clearPingTimer();
    this.pingTimer = setTimeout(() => {
      this.pingTimer = undefined;
      if (this.inflight !== null || this.queue.length > 0) return;
      this.ping().catch((err: unknown) => this.logger.debug(`stand-in: ping failed: ${errorMessage(err)}`, { address: this.address }));
    }, interval);
  }

  private clearPingTimer(): void {
    if (this.pingTimer !== undefined) clearTimeout(this.pingTimer);
    this.pingTimer = undefined;
  }

  private expectKind<K extends PrivvalMessageKind>(msg: PrivvalMessage, kind: K): MessageValue<K> {
    if (msg.kind !== kind) {
      // onData has recorded it as a protocol error already.
      throw new StandinError('unexpected-response', `expected a ${kind}, got a ${msg.kind}`);
    }
    return ('value' in msg ? msg.value : undefined) as MessageValue<K>;
  }

  private protocolError(why: string): void {
    this.protocolErrors.push(why);
    this.logger.warn(`stand-in: protocol error: ${why}`, { address: this.address });
  }

  /** The chain's key for the history, asked once per chain as the node does at start. */
  private async pubKeyForHistory(chainId: string, timeoutMs: number): Promise<Uint8Array> {
    if (this.options.recordHistory === false) return new Uint8Array(0);
    const known = this.pubKeys.get(chainId);
    if (known !== undefined) return known;
    await this.pubKey(chainId, timeoutMs);
    return this.pubKeys.get(chainId) ?? new Uint8Array(0);
  }

  /**
   * A node takes the signature, the timestamp and the extension signature from the response and
   * keeps its own vote otherwise (types.SignAndCheckVote); record that vote, and what it would
   * refuse.
   */
  private recordVote(chainId: string, pubKey: Uint8Array, asked: Vote, returned: Vote, skipExtensionSigning: boolean): void {
    const where = `vote ${asked.height}/${asked.round}/type ${asked.type} of chain ${JSON.stringify(chainId)}`;
    const changed: string[] = [];
    if (returned.type !== asked.type) changed.push('type');
    if (returned.height !== asked.height) changed.push('height');
    if (returned.round !== asked.round) changed.push('round');
    if (
      !bytesEqual(returned.blockId.hash, asked.blockId.hash) ||
      returned.blockId.partSetHeader.total !== asked.blockId.partSetHeader.total ||
      !bytesEqual(returned.blockId.partSetHeader.hash, asked.blockId.partSetHeader.hash)
    ) {
      changed.push('block id');
    }
    if (changed.length > 0) this.protocolError(`${where}: the signer returned a vote with another ${changed.join(', ')}`);
    if (returned.extension.length > 0) this.protocolError(`${where}: the signer echoed the vote extension back`);
    const nonNilPrecommit = asked.type === 2 && !isNilBlockId(asked.blockId);
    if (!skipExtensionSigning && nonNilPrecommit && returned.extensionSignature.length === 0) {
      this.protocolError(`${where}: a non-nil precommit came back without an extension signature`);
    }
    if (!nonNilPrecommit && returned.extensionSignature.length > 0) {
      this.protocolError(`${where}: an extension signature came back on a prevote or nil precommit`);
    }
    if (this.options.recordHistory === false) return;
    const used: Vote = {
      ...asked,
      timestamp: returned.timestamp,
      signature: returned.signature,
      extensionSignature: returned.extensionSignature,
    };
    try {
      this.history.recordVote(chainId, pubKey, used);
    } catch (err) {
      this.protocolError(`${where}: signed, but it has no canonical sign bytes: ${errorMessage(err)}`);
    }
  }

  private recordProposal(chainId: string, pubKey: Uint8Array, asked: Proposal, returned: Proposal): void {
    const where = `proposal ${asked.height}/${asked.round} of chain ${JSON.stringify(chainId)}`;
    if (
      returned.height !== asked.height ||
      returned.round !== asked.round ||
      returned.polRound !== asked.polRound ||
      !bytesEqual(returned.blockId.hash, asked.blockId.hash)
    ) {
      this.protocolError(`${where}: the signer returned another proposal than the one asked for`);
    }
    if (this.options.recordHistory === false) return;
    try {
      this.history.recordProposal(chainId, pubKey, { ...asked, timestamp: returned.timestamp, signature: returned.signature });
    } catch (err) {
      this.protocolError(`${where}: signed, but it has no canonical sign bytes: ${errorMessage(err)}`);
    }
  }
}

function nodeIdOf(privateKey: KeyObject): string {
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return nodeIdFromPublicKey(new Uint8Array(spki.subarray(spki.length - 32)));
}

/** listen(), removing a stale unix socket file that nobody answers on (left by a crash). */
async function listenOn(server: net.Server, parsed: PrivvalAddress): Promise<void> {
  const attempt = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      server.once('error', onError);
      const onListening = (): void => {
        server.off('error', onError);
        resolve();
      };
      if (parsed.kind === 'unix') server.listen(parsed.path, onListening);
      else server.listen(parsed.port, parsed.host, onListening);
    });
  try {
    await attempt();
  } catch (err) {
    if (parsed.kind !== 'unix' || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    if (await somebodyListens(parsed.path)) throw err;
    fs.rmSync(parsed.path, { force: true });
    await attempt();
  }
}

function somebodyListens(path: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const probe = net.connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => {
      probe.destroy();
      resolve(false);
    });
  });
}
