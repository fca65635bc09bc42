// Keeps one connection open to each validator node: the node listens on priv_validator_laddr and
// the signer dials in (docs/privval/PROTOCOL.md, "Who connects"), and dials again whenever the connection
// cannot be opened, drops, or the node restarts. tcp:// connections are wrapped in
// SecretConnection (pinning the node id when the address carries one); unix:// ones are plain.
//
// The privval protocol has no chain id in the connection itself: a node may ask for any chain on
// one connection. A validator node runs one chain, so each validator address belongs to the one
// chain whose configuration lists it, and its session serves that chain only (as CometBFT's own
// signer serves the one chain id it was started for); requests for any other chain are refused.
// One host:port or socket listed by two chains is refused before anything is dialled.
//
// Redialling uses capped exponential backoff with jitter (CometBFT's own signer retries every
// 100 ms; the cap keeps a signer that faces a node down for minutes from spinning). Failures are
// logged once, then at most once per failureLogIntervalMs with a count, so a node that is down
// for an hour costs a few hundred log lines, not tens of thousands.

import * as net from 'node:net';
import { Duplex } from 'node:stream';

import { Logger } from '../log/logger';
import { Backoff } from '../util/backoff';
import { sleep } from '../util/sleep';
import { SignPath } from '../cometbft/sign_types';
import { PrivvalAddress, parsePrivvalAddress } from './node_id';
import { PrivvalObserver, PrivvalSession, SessionEnd } from './privval_session';
import { SecretConnectionError, makeSecretConnection } from './secret_connection';
import { SignerIdentity } from './signer_identity';
import { RaftSignerError } from '../util/errors';

export interface PrivvalDialerTarget {
  /** The chain whose configuration lists this address: the only chain its connection serves. */
  chainId: string;
  /** `tcp://[<node id>@]host:port` or `unix:///path`. */
  address: string;
}

export interface PrivvalBackoff {
  /** First delay after a failure (default 100 ms). */
  initialMs?: number;
  /** Largest delay (default 2000 ms). */
  maxMs?: number;
}

export interface PrivvalDialerOptions {
  targets: readonly PrivvalDialerTarget[];
  signPath: SignPath;
  /** The SecretConnection identity (tcp:// only). */
  identity: SignerIdentity;
  logger: Logger;
  observer?: PrivvalObserver;
  backoff?: PrivvalBackoff;
  /** Give up opening a socket after this long (default 3000 ms). */
  connectTimeoutMs?: number;
  /** Give up the SecretConnection handshake after this long (default 5000 ms). */
  handshakeTimeoutMs?: number;
  /**
   * Redial when a connection has been silent this long (default 10 000 ms; 0: never). A node
   * pings an idle connection every ~3.3 s, so silence means a node (or its host) that is gone
   * without closing the connection.
   */
  idleTimeoutMs?: number;
  /** After the first failure of a streak, log failures at most this often (default 10 000 ms). */
  failureLogIntervalMs?: number;
  /** Largest request accepted (see privval_session.ts). */
  maxMessageSize?: number;
  /** Source of jitter in [0, 1) (default Math.random); tests may fix it. */
  random?: () => number;
}

export interface PrivvalDialerStatus {
  address: string;
  /** Chains whose configuration lists this address. */
  chainIds: string[];
  connected: boolean;
  /** When the current state (connected, or not connected) began. */
  since: Date;
  /** Connections opened after the first one. */
  reconnects: number;
  /** Every attempt to open a connection, successful or not. */
  dialAttempts: number;
  /** The node id the node authenticated as (tcp://, once connected). */
  remoteNodeId: string | null;
  /** Why the last attempt failed or the last connection ended; null before anything went wrong. */
  lastError: string | null;
}

export interface PrivvalDialers {
  /** Stops redialling, closes every connection and socket, and resolves when all are down. */
  close(): Promise<void>;
  status(): PrivvalDialerStatus[];
}

export type PrivvalDialErrorCode =
  /** The socket did not connect within connectTimeoutMs. */
  | 'connect-timeout'
  /** The socket could not be opened (refused, unreachable, no such unix socket, ...). */
  | 'connect-failed'
  /** The SecretConnection handshake failed; `cause` is the SecretConnectionError. */
  | 'handshake-failed'
  /** The node authenticated as another node than the address pins. */
  | 'remote-node-mismatch';

/** The base's stable code (RaftSignerError type.code) of each PrivvalDialErrorCode. */
const PRIVVAL_DIAL_ERROR_TYPE_CODE: Record<PrivvalDialErrorCode, string> = {
  'connect-timeout': 'PRIVVAL_DIAL_CONNECT_TIMEOUT',
  'connect-failed': 'PRIVVAL_DIAL_CONNECT_FAILED',
  'handshake-failed': 'PRIVVAL_DIAL_HANDSHAKE_FAILED',
  'remote-node-mismatch': 'PRIVVAL_DIAL_REMOTE_NODE_MISMATCH',
};

export class PrivvalDialError extends RaftSignerError<{ code: string; dialCode: PrivvalDialErrorCode }> {
  constructor(
    readonly code: PrivvalDialErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super({ code: PRIVVAL_DIAL_ERROR_TYPE_CODE[code], dialCode: code }, message, options);
    this.name = 'PrivvalDialError';
  }
}

/** Two targets that name one host:port with different pinned node ids, or for different chains. */
export class PrivvalTargetConflictError extends RaftSignerError<{ code: 'PRIVVAL_TARGET_CONFLICT' }> {
  constructor(message: string) {
    super({ code: 'PRIVVAL_TARGET_CONFLICT' }, message);
    this.name = 'PrivvalTargetConflictError';
  }
}

const DEFAULT_INITIAL_BACKOFF_MS = 100;
const DEFAULT_MAX_BACKOFF_MS = 2000;
const DEFAULT_CONNECT_TIMEOUT_MS = 3000;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5000;
const DEFAULT_IDLE_TIMEOUT_MS = 10_000;
const DEFAULT_FAILURE_LOG_INTERVAL_MS = 10_000;

interface ResolvedTarget {
  /** The address as the operator wrote it (first occurrence). */
  address: string;
  parsed: PrivvalAddress;
  chainIds: string[];
}

/** host:port or the socket path: what makes two addresses the same place to dial. */
function endpointKey(parsed: PrivvalAddress): string {
  return parsed.kind === 'unix' ? `unix:${parsed.path}` : `tcp:${parsed.host.toLowerCase()}:${parsed.port}`;
}

function resolveTargets(targets: readonly PrivvalDialerTarget[]): ResolvedTarget[] {
  const byEndpoint = new Map<string, ResolvedTarget>();
  for (const target of targets) {
    const parsed = parsePrivvalAddress(target.address); // throws PrivvalAddressError
    const key = endpointKey(parsed);
    const known = byEndpoint.get(key);
    if (known === undefined) {
      byEndpoint.set(key, { address: target.address, parsed, chainIds: [target.chainId] });
      continue;
    }
    if (!known.chainIds.includes(target.chainId)) {
      throw new PrivvalTargetConflictError(
        `validator address ${JSON.stringify(target.address)} is listed for chain ${JSON.stringify(target.chainId)} and, as ` +
          `${JSON.stringify(known.address)}, for chain ${JSON.stringify(known.chainIds[0])}: a validator node runs one chain; ` +
          'give each chain its own validator address',
      );
    }
    const knownPin = known.parsed.kind === 'tcp' ? known.parsed.expectedNodeId : undefined;
    const pin = parsed.kind === 'tcp' ? parsed.expectedNodeId : undefined;
    if (knownPin !== pin) {
      throw new PrivvalTargetConflictError(
        `validator addresses ${JSON.stringify(known.address)} and ${JSON.stringify(target.address)} name the same node with ` +
          'different node ids: write the same address (and node id) in every chain that uses it',
      );
    }
  }
  return [...byEndpoint.values()];
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One address: dial, serve, redial, until stopped. */
class AddressDialer {
  /** Aborted by stop(): ends a backoff sleep at once. */
  private readonly stopping = new AbortController();
  private socket: net.Socket | null = null;
  private session: PrivvalSession | null = null;
  private loop: Promise<void> = Promise.resolve();

  // Status.
  private connected = false;
  private since = new Date();
  private connects = 0;
  private dialAttempts = 0;
  private remoteNodeId: string | null = null;
  private lastError: string | null = null;

  // Backoff and log rate limiting.
  /** min(max, initial * 2^n) for the n-th redial of a streak, scaled by a jitter in [0.5, 1) so dialers spread out. */
  private readonly backoff: Backoff;
  private consecutiveFailures = 0;
  private failuresSinceLog = 0;
  private lastFailureLogAt = 0;

  constructor(
    private readonly target: ResolvedTarget,
    private readonly options: PrivvalDialerOptions,
  ) {
    this.backoff = new Backoff({
      initialMs: options.backoff?.initialMs ?? DEFAULT_INITIAL_BACKOFF_MS,
      maxMs: options.backoff?.maxMs ?? DEFAULT_MAX_BACKOFF_MS,
      factor: 2,
      jitter: 0.5,
      random: options.random,
    });
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  start(): void {
    this.loop = this.run().catch((err: unknown) => {
      // run() catches everything it expects; this is a bug, and must not crash the process.
      this.options.logger.error(`privval dialer for ${this.target.address} stopped: ${errorMessage(err)}`);
    });
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    // The session first, so that it ends as 'closed-locally' rather than seeing its peer vanish.
    const closingSession = this.session?.close();
    this.socket?.destroy();
    await closingSession;
    await this.loop;
  }

  status(): PrivvalDialerStatus {
    return {
      address: this.target.address,
      chainIds: [...this.target.chainIds],
      connected: this.connected,
      since: new Date(this.since.getTime()),
      reconnects: Math.max(0, this.connects - 1),
      dialAttempts: this.dialAttempts,
      remoteNodeId: this.remoteNodeId,
      lastError: this.lastError,
    };
  }

  private get logger(): Logger {
    return this.options.logger;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.dialAttempts++;
      let stream: Duplex;
      try {
        stream = await this.open();
      } catch (err) {
        this.socket = null;
        if (this.stopped) break;
        this.onFailure(err instanceof Error ? err.message : String(err));
        await sleep(this.backoff.next(), { signal: this.stopping.signal });
        continue;
      }
      if (this.stopped) {
        stream.destroy();
        break;
      }
      const session = new PrivvalSession(stream, {
        signPath: this.options.signPath,
        chainIds: this.target.chainIds,
        logger: this.logger,
        observer: this.options.observer,
        peer: this.target.address,
        maxMessageSize: this.options.maxMessageSize,
        idleTimeoutMs: this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      });
      this.session = session;
      this.onConnected();
      const end = await session.closed;
      this.session = null;
      this.socket = null;
      this.onDisconnected(end, session.requestsServed);
      if (this.stopped) break;
      await sleep(this.backoff.next(), { signal: this.stopping.signal });
    }
    this.connected = false;
  }

  /** Opens the socket and, for tcp://, runs the SecretConnection handshake. */
  private async open(): Promise<Duplex> {
    const parsed = this.target.parsed;
    const socket = parsed.kind === 'unix' ? net.connect({ path: parsed.path }) : net.connect({ host: parsed.host, port: parsed.port });
    this.socket = socket;
    await this.waitConnected(socket);
    if (parsed.kind === 'unix') return socket;
    socket.setNoDelay(true);
    try {
      // makeSecretConnection destroys the socket on failure and takes over its 'error' events.
      const conn = await makeSecretConnection(socket, this.options.identity.secretConnectionKey(), {
        expectedRemoteNodeId: parsed.expectedNodeId,
        handshakeTimeoutMs: this.options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
      });
      this.remoteNodeId = conn.remoteNodeId;
      return conn;
    } catch (err) {
      if (err instanceof SecretConnectionError && err.code === 'REMOTE_KEY_MISMATCH') {
        throw new PrivvalDialError(
          'remote-node-mismatch',
          `refusing the validator node at ${this.target.address}: ${err.message}; check the node id in the address ` +
            '(cometbft show-node-id on the validator node)',
          { cause: err },
        );
      }
      throw new PrivvalDialError('handshake-failed', `SecretConnection handshake with ${this.target.address} failed: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  private waitConnected(socket: net.Socket): Promise<void> {
    const timeoutMs = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    return new Promise<void>((resolve, reject) => {
      const settle = (err?: Error): void => {
        clearTimeout(timer);
        socket.off('connect', onConnect);
        socket.off('error', onError);
        socket.off('close', onClose);
        if (err === undefined) {
          resolve();
          return;
        }
        // Keep a listener: a destroyed socket may still report an error on its way down.
        socket.on('error', ignoreLateError);
        socket.destroy();
        reject(err);
      };
      const onConnect = (): void => settle();
      const onError = (err: Error): void =>
        settle(new PrivvalDialError('connect-failed', `cannot connect to ${this.target.address}: ${err.message}${hintFor(err)}`, { cause: err }));
      const onClose = (): void => settle(new PrivvalDialError('connect-failed', `connecting to ${this.target.address} was abandoned`));
      const timer = setTimeout(
        () => settle(new PrivvalDialError('connect-timeout', `connecting to ${this.target.address} timed out after ${timeoutMs} ms`)),
        timeoutMs,
      );
      socket.once('connect', onConnect);
      socket.on('error', onError);
      socket.once('close', onClose);
    });
  }

  private onConnected(): void {
    this.connects++;
    this.connected = true;
    this.since = new Date();
    const meta: Record<string, unknown> = { address: this.target.address };
    if (this.remoteNodeId !== null && this.target.parsed.kind === 'tcp') meta.remoteNodeId = this.remoteNodeId;
    if (this.consecutiveFailures > 0) meta.failedAttempts = this.consecutiveFailures;
    this.logger.info(this.connects === 1 ? 'privval: connected to the validator node' : 'privval: reconnected to the validator node', meta);
    this.failuresSinceLog = 0;
    this.lastFailureLogAt = 0;
  }

  private onDisconnected(end: SessionEnd, requestsServed: number): void {
    this.connected = false;
    this.since = new Date();
    if (end.reason !== 'closed-locally') this.lastError = end.message;
    // A connection that served something was healthy: start the backoff over. One the node
    // dropped before asking anything (another signer won the slot, a node refusing us) counts
    // as a failure, so that two dialers competing for one node do not spin. The redial after a
    // healthy connection waits initialMs and is the first step of a new streak (a failure after
    // it waits 2 x initialMs), as in the Raft transport.
    if (requestsServed > 0) {
      this.consecutiveFailures = 0;
      this.backoff.reset();
    } else {
      this.consecutiveFailures++;
    }
    // The session logged why it ended.
  }

  private onFailure(message: string): void {
    this.consecutiveFailures++;
    this.lastError = message;
    this.failuresSinceLog++;
    const now = Date.now();
    const interval = this.options.failureLogIntervalMs ?? DEFAULT_FAILURE_LOG_INTERVAL_MS;
    if (this.lastFailureLogAt === 0) {
      // The first failure since the last connection (or since start): always said.
      this.logger.warn(`privval: ${message}; retrying`, { address: this.target.address });
      this.lastFailureLogAt = now;
      this.failuresSinceLog = 0;
    } else if (now - this.lastFailureLogAt >= interval) {
      this.logger.warn(`privval: still cannot reach the validator node (${this.failuresSinceLog} failed attempts since the last report): ${message}`, {
        address: this.target.address,
      });
      this.lastFailureLogAt = now;
      this.failuresSinceLog = 0;
    } else {
      this.logger.debug(`privval: ${message}`, { address: this.target.address });
    }
  }
}

function ignoreLateError(): void {
  // Deliberately empty: see waitConnected.
}

/** What an operator should look at, for the common connect errors. */
function hintFor(err: Error): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ECONNREFUSED':
    case 'ENOENT':
      return ' (is the validator node running, with priv_validator_laddr set to this address?)';
    case 'EACCES':
      return ' (permission denied: can this user open the socket?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return ' (the host name does not resolve)';
    default:
      return '';
  }
}

function checkPositive(value: number | undefined, name: string, allowZero = false): void {
  if (value === undefined) return;
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new RangeError(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number of milliseconds, got ${value}`);
  }
}

/**
 * Starts one dialer per distinct validator address. Throws PrivvalAddressError for an address
 * that does not parse, PrivvalTargetConflictError for one host:port with two pins, RangeError for
 * bad timing options; after that it never throws: failures are retried, logged and shown by
 * status().
 */
export function startPrivvalDialers(options: PrivvalDialerOptions): PrivvalDialers {
  checkPositive(options.backoff?.initialMs, 'backoff.initialMs');
  checkPositive(options.backoff?.maxMs, 'backoff.maxMs');
  checkPositive(options.connectTimeoutMs, 'connectTimeoutMs');
  checkPositive(options.handshakeTimeoutMs, 'handshakeTimeoutMs');
  checkPositive(options.idleTimeoutMs, 'idleTimeoutMs', true);
  checkPositive(options.failureLogIntervalMs, 'failureLogIntervalMs', true);
  const targets = resolveTargets(options.targets);
  const dialers = targets.map((target) => new AddressDialer(target, options));
  if (targets.some((t) => t.parsed.kind === 'tcp')) {
    // The id a validator operator sees in the node's log, or pins in front of it.
    options.logger.info('privval: dialling validator nodes over SecretConnection', { signerNodeId: options.identity.nodeId });
  }
  for (const dialer of dialers) dialer.start();
  let closing: Promise<void> | null = null;
  return {
    close(): Promise<void> {
      closing ??= Promise.all(dialers.map((d) => d.stop())).then(() => undefined);
      return closing;
    },
    status(): PrivvalDialerStatus[] {
      return dialers.map((d) => d.status());
    },
  };
}
