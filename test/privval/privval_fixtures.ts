// Shared pieces of the privval session, dialer and fuzz tests: a fake SignPath that follows the
// FilePV rules in memory, a captured logger, connected socket pairs and a "node end" that speaks
// the framing from the validator node's side.

import { mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';

import { ValidatorKey } from '../../src/keys/validator_key';
import { Logger, createLogger } from '../../src/log/logger';
import { LengthPrefixedReader, encodeFrame } from '../../src/privval/framing';
import { BlockId, PrivvalMessage, Proposal, SignedMsgType, Timestamp, Vote, decodeMessage, emptyVote, encodeMessage } from '../../src/cometbft/messages';
import { SignOutcome, SignPath, SignRequest } from '../../src/cometbft/sign_types';
import { SlashingRecord, decideFilePv } from '../../src/cometbft/filepv_rules';

/** A SignPath that applies CometBFT's FilePV rules to an in-memory record per chain. */
export class FakeSignPath implements SignPath {
  readonly signCalls: SignRequest[] = [];
  readonly extensionCalls: { chainId: string; signBytes: Uint8Array }[] = [];
  /** When set, sign() answers with this instead of the FilePV rules (after recording the call). */
  override: ((req: SignRequest) => SignOutcome | Promise<SignOutcome>) | null = null;
  private readonly keys: Map<string, ValidatorKey>;
  private readonly records = new Map<string, SlashingRecord>();

  constructor(chains: Record<string, ValidatorKey>) {
    this.keys = new Map(Object.entries(chains));
  }

  publicKeyFor(chainId: string): Uint8Array | null {
    return this.keys.get(chainId)?.publicKey ?? null;
  }

  signExtension(chainId: string, extensionSignBytes: Uint8Array): Uint8Array {
    this.extensionCalls.push({ chainId, signBytes: extensionSignBytes.slice() });
    const key = this.keys.get(chainId);
    if (key === undefined) throw new Error(`no key for chain ${chainId}`);
    return key.sign(extensionSignBytes);
  }

  async sign(req: SignRequest): Promise<SignOutcome> {
    this.signCalls.push({ ...req, pubKey: req.pubKey.slice(), signBytes: req.signBytes.slice() });
    if (this.override !== null) return this.override(req);
    const key = this.keys.get(req.chainId);
    if (key === undefined) return { kind: 'refused', reason: 'unknown-chain', message: `no chain ${req.chainId}` };
    const decision = decideFilePv(this.records.get(req.chainId) ?? null, req);
    switch (decision.kind) {
      case 'sign': {
        const signature = key.sign(req.signBytes);
        this.records.set(req.chainId, { height: req.height, round: req.round, step: req.step, signBytes: req.signBytes.slice(), signature });
        return { kind: 'signed', signature };
      }
      case 'same':
        return { kind: 'signed', signature: decision.signature };
      case 'same-but-timestamp':
        return { kind: 'signed-with-stored-timestamp', signature: decision.signature, timestamp: decision.timestamp };
      case 'refuse':
        return { kind: 'refused', reason: decision.reason, message: decision.message };
    }
  }
}

export interface LogLine {
  level: string;
  message: string;
  [field: string]: unknown;
}

/** A JSON logger whose lines the test can read. */
export function captureLogger(level: 'debug' | 'info' = 'debug'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text.trim().length > 0) lines.push(JSON.parse(text) as LogLine);
      }
      callback();
    },
  });
  return { logger: createLogger({ level, json: true, stream }), lines };
}

/** Resolves when `condition` holds, checking every few ms; fails the test after `ms`. */
export async function eventually(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Rejects if the promise does not settle in time, so a hang fails the test instead of stalling it. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A temporary directory, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Connected unix socket pairs from one listening socket in a temporary directory. */
export class SocketPairs {
  private readonly server = net.createServer();
  private readonly sockets: net.Socket[] = [];
  private readonly tmp = tempDir('rs-pairs-');
  private readonly socketPath = path.join(this.tmp.dir, 'pair.sock');

  async start(): Promise<void> {
    this.server.listen(this.socketPath);
    await once(this.server, 'listening');
  }

  /** [node side, signer side]; one at a time, so accepted and connected sockets match. */
  async pair(): Promise<[net.Socket, net.Socket]> {
    const accepted = once(this.server, 'connection') as Promise<[net.Socket]>;
    const client = net.connect(this.socketPath);
    await once(client, 'connect');
    const [serverSide] = await accepted;
    this.sockets.push(client, serverSide);
    return [client, serverSide];
  }

  async stop(): Promise<void> {
    for (const s of this.sockets.splice(0)) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.tmp.remove();
  }
}

/** The validator node's end of a connection, driven by hand. */
export class NodeEnd {
  readonly closed: Promise<void>;
  private readonly reader = new LengthPrefixedReader({ maxMessageSize: 2 * 1024 * 1024 });
  private readonly frames: Uint8Array[] = [];
  private wake: (() => void) | undefined;
  private ended = false;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.frames.push(...this.reader.push(chunk));
      this.notify();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise<void>((resolve) =>
      socket.once('close', () => {
        this.ended = true;
        this.notify();
        resolve();
      }),
    );
  }

  send(msg: PrivvalMessage): void {
    this.socket.write(encodeFrame(encodeMessage(msg)));
  }

  sendRaw(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The next response frame, raw. */
  async nextFrame(ms = 5000): Promise<Uint8Array> {
    const wait = async (): Promise<Uint8Array> => {
      for (;;) {
        const frame = this.frames.shift();
        if (frame !== undefined) return frame;
        if (this.ended) throw new Error('the connection closed before a response');
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    };
    return within(wait(), ms, 'waiting for a response');
  }

  async next(ms = 5000): Promise<PrivvalMessage> {
    return decodeMessage(await this.nextFrame(ms));
  }

  async request(msg: PrivvalMessage): Promise<PrivvalMessage> {
    this.send(msg);
    return this.next();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

export function sha256Like(fill: number): Uint8Array {
  return new Uint8Array(32).fill(fill);
}

export function blockId(fill: number): BlockId {
  return { hash: sha256Like(fill), partSetHeader: { total: 1, hash: sha256Like(fill + 1) } };
}

export const TS1: Timestamp = { seconds: 1_700_000_000n, nanos: 1 };
export const TS2: Timestamp = { seconds: 1_700_000_005n, nanos: 2 };

export function makeVote(fields: Partial<Vote> = {}): Vote {
  return { ...emptyVote(), type: SignedMsgType.Prevote, height: 10n, round: 0, blockId: blockId(1), timestamp: TS1, ...fields };
}

export function makeProposal(fields: Partial<Proposal> = {}): Proposal {
  return {
    type: SignedMsgType.Proposal,
    height: 10n,
    round: 0,
    polRound: -1,
    blockId: blockId(1),
    timestamp: TS1,
    signature: new Uint8Array(0),
    ...fields,
  };
}
