// Serves one established privval connection: the validator node sends a request, waits for its
// response, sends the next (CometBFT privval/signer_listener_endpoint.go: one request in flight,
// no request ids). The stream is a unix socket or an established SecretConnection; this file
// knows nothing about dialling or encryption.
//
// What the node may send and what we answer (docs/privval/PROTOCOL.md, CometBFT
// privval/signer_requestHandler.go):
// - every request that names a chain is served only if that chain is one this connection serves
//   (the chains whose configuration lists its validator address, as CometBFT's own signer serves
//   the one chain id it was started for); any other chain gets a RemoteSignerError that names it;
// - PubKeyRequest, PingRequest: answered here from the SignPath's key table, never through Raft;
// - SignVoteRequest, SignProposalRequest: checked here (chain, key, vote type, extension rule,
//   canonical sign bytes), then sent down the slashing-protected SignPath;
// - SignBytesRequest (v1): refused, because raw bytes bypass double-sign protection;
// - anything else (a response, an unknown or empty message, malformed bytes, an over-long length
//   prefix, a stream that ends inside a message, a SecretConnection frame that fails its MAC):
//   the connection is closed with one warn line. A peer that breaks the protocol cannot be
//   resynchronised, and closing is what the node's own endpoint does too (it redials).
// A session never throws, never changes state on bad input, and ends in exactly one SessionEnd.

import { performance } from 'node:perf_hooks';
import { Duplex } from 'node:stream';

import { addressFromPublicKey } from '../keys/validator_key';
import { Logger } from '../log/logger';
import { SignPath, SignRefusalReason } from '../cometbft/sign_types';
import { voteExtensionRule } from '../cometbft/filepv_rules';
import { DEFAULT_MAX_MESSAGE_SIZE, FramingError, LengthPrefixedReader, encodeFrame } from './framing';
import {
  PrivvalMessage,
  Proposal,
  PubKeyResponse,
  RemoteSignerError,
  SignProposalRequest,
  SignVoteRequest,
  SignedProposalResponse,
  SignedVoteResponse,
  Timestamp,
  Vote,
  decodeMessage,
  emptyProposal,
  emptyVote,
  encodeMessage,
  PublicKeyType,
} from '../cometbft/messages';
import { ProtobufDecodeError } from '../cometbft/protobuf';
import { SecretConnection, SecretConnectionError } from './secret_connection';
import { SignBytesError, proposalSignBytes, stepOfVoteType, voteExtensionSignBytes, voteSignBytes } from '../cometbft/sign_bytes';

/**
 * A v0.38 node refuses responses larger than this (docs/privval/PROTOCOL.md, "Framing"); every response we
 * build is far smaller, and a response that would not be is replaced by an error.
 */
export const MAX_RESPONSE_BYTES = 10 * 1024;

/** Why a request was answered with a RemoteSignerError. */
export type PrivvalRefusalReason =
  | SignRefusalReason
  /** A prevote or nil precommit carries a vote extension (file.go signVote refuses it). */
  | 'unexpected-vote-extension'
  /** v1 SignBytesRequest: raw bytes have no height/round/step to protect. */
  | 'sign-bytes-refused'
  /** The signer holds the chain, but not for this connection: its address is not configured for it. */
  | 'chain-not-served'
  /** A bug on this side (the sign path threw, a response would be too large); the log says more. */
  | 'internal-error';

/**
 * RemoteSignerError codes. CometBFT only prints the code ("signerEndpoint returned error
 * #<code>: <description>"), so the codes exist for operators reading the node's log; the
 * description says what happened.
 */
export const RemoteSignerErrorCode = {
  /** The request cannot be served as asked: unknown chain, another key, malformed, raw bytes. */
  InvalidRequest: 1,
  /** The double-sign protection refused it: a regression or conflicting data. */
  DoubleSignProtection: 2,
  /** The cluster could not release a signature in time: no leader, deadline, node stopping. */
  Unavailable: 3,
  /** A fault on this side; the signer's log says more. */
  Internal: 4,
} as const;

export function remoteSignerErrorCode(reason: PrivvalRefusalReason): number {
  switch (reason) {
    case 'height-regression':
    case 'round-regression':
    case 'step-regression':
    case 'conflicting-data':
      return RemoteSignerErrorCode.DoubleSignProtection;
    case 'unknown-chain':
    case 'wrong-key':
    case 'invalid-request':
    case 'unexpected-vote-extension':
    case 'sign-bytes-refused':
    case 'chain-not-served':
      return RemoteSignerErrorCode.InvalidRequest;
    case 'internal-error':
    case 'disagreement':
      return RemoteSignerErrorCode.Internal;
    default:
      // no-leader, deadline, node-stopped, and any reason the sign path adds later.
      return RemoteSignerErrorCode.Unavailable;
  }
}

export type PrivvalRequestKind = 'pubKey' | 'ping' | 'signVote' | 'signProposal' | 'signBytes';

export type PrivvalRequestOutcome =
  /** PubKeyRequest or PingRequest answered. */
  | 'answered'
  | 'signed'
  /** Signed before with another timestamp: the stored signature and timestamp were returned. */
  | 'signed-with-stored-timestamp'
  /** Answered with a RemoteSignerError; `reason` says why. */
  | 'refused';

/** One answered request, for metrics. */
export interface PrivvalRequestEvent {
  kind: PrivvalRequestKind;
  /** The request's chain id ('' for ping and raw bytes, which carry none). */
  chainId: string;
  outcome: PrivvalRequestOutcome;
  reason?: PrivvalRefusalReason;
  /** From the request's arrival to its response handed to the stream. */
  latencyMs: number;
}

export type PrivvalObserver = (event: PrivvalRequestEvent) => void;

export type SessionEndReason =
  /** The node closed the connection between messages. */
  | 'peer-closed'
  /** close() was called. */
  | 'closed-locally'
  /** Nothing arrived for idleTimeoutMs (the node pings every ~3.3 s, so it is gone). */
  | 'idle-timeout'
  /** The peer broke the protocol: bad framing or message, a response, a failed frame MAC. */
  | 'bad-input'
  /** The stream failed (reset, write error). */
  | 'transport-error';

export interface SessionEnd {
  reason: SessionEndReason;
  /** What happened, for a log line or a status page. */
  message: string;
}

export interface PrivvalSessionOptions {
  signPath: SignPath;
  /**
   * The chains this connection serves: those whose configuration lists its validator address.
   * A request for any other chain is refused, whatever the SignPath holds.
   */
  chainIds: readonly string[];
  logger: Logger;
  observer?: PrivvalObserver;
  /** Names the peer in log lines, e.g. the validator address. */
  peer?: string;
  /** Largest request accepted (default DEFAULT_MAX_MESSAGE_SIZE: a 1 MiB extension fits). */
  maxMessageSize?: number;
  /**
   * Close the connection when no byte arrives for this long while no request is being served;
   * 0 (the default) never. CometBFT's own signer drops a connection that is silent past its
   * read deadline, so that a node host that vanished without a FIN is redialled.
   */
  idleTimeoutMs?: number;
}

/** A request's answer, plus what the observer and the log hear about it. */
interface Answer {
  response: PrivvalMessage;
  chainId: string;
  outcome: PrivvalRequestOutcome;
  reason?: PrivvalRefusalReason;
  /** Height/round/type for the debug log (never the request itself). */
  hrs?: string;
}

const EMPTY: Uint8Array = new Uint8Array(0);

function remoteSignerError(reason: PrivvalRefusalReason, message: string): RemoteSignerError {
  return { code: remoteSignerErrorCode(reason), description: `${reason}: ${message}` };
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function hexUpper(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex').toUpperCase();
}

/** Errors a SecretConnection raises because of what the peer sent, not because the link failed. */
const PEER_FAULT_CODES = new Set(['FRAME_AUTH_FAILED', 'FRAME_TOO_LONG', 'CLOSED_MID_FRAME']);

function classifyStreamError(err: unknown): SessionEnd {
  if (err instanceof FramingError) return { reason: 'bad-input', message: `bad framing: ${err.message}` };
  if (err instanceof SecretConnectionError && PEER_FAULT_CODES.has(err.code)) {
    return { reason: 'bad-input', message: `SecretConnection ${err.code}: ${err.message}` };
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ERR_STREAM_PREMATURE_CLOSE') return { reason: 'peer-closed', message: 'the connection was closed' };
  return { reason: 'transport-error', message: `connection failed: ${errorMessage(err)}` };
}

/**
 * One connection served until it ends. Create it with servePrivvalConnection; `closed` resolves
 * (never rejects) once the stream is destroyed, with why.
 */
export class PrivvalSession {
  /** Resolves once, when the session has ended and its stream is destroyed. */
  readonly closed: Promise<SessionEnd>;

  private readonly stream: Duplex;
  private readonly signPath: SignPath;
  private readonly chainIds: ReadonlySet<string>;
  private readonly logger: Logger;
  private readonly observer: PrivvalObserver | undefined;
  private readonly peer: string;
  private readonly idleTimeoutMs: number;
  private readonly reader: LengthPrefixedReader;
  private resolveClosed!: (end: SessionEnd) => void;
  private end: SessionEnd | null = null;
  /** A request is being served: the loop is not reading, so stream events must end the session. */
  private busy = false;
  private streamError: unknown = null;
  private idleTimer: NodeJS.Timeout | undefined;
  private served = 0;

  constructor(stream: Duplex, options: PrivvalSessionOptions) {
    this.stream = stream;
    this.signPath = options.signPath;
    this.chainIds = new Set(options.chainIds);
    this.logger = options.logger;
    this.observer = options.observer;
    this.peer = options.peer ?? (stream instanceof SecretConnection ? `node ${stream.remoteNodeId}` : 'validator node');
    this.idleTimeoutMs = options.idleTimeoutMs ?? 0;
    if (!Number.isFinite(this.idleTimeoutMs) || this.idleTimeoutMs < 0) {
      throw new RangeError(`idleTimeoutMs must be a non-negative number, got ${this.idleTimeoutMs}`);
    }
    this.reader = new LengthPrefixedReader({ maxMessageSize: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE });
    this.closed = new Promise<SessionEnd>((resolve) => {
      this.resolveClosed = resolve;
    });
    // Without an 'error' listener a socket error would crash the process.
    stream.on('error', this.onStreamError);
    stream.on('close', this.onStreamClose);
    if (stream.readableObjectMode || stream.readableEncoding !== null) {
      this.finish({ reason: 'bad-input', message: 'the stream must deliver raw bytes (no encoding, no object mode)' });
      return;
    }
    this.run().catch((err: unknown) => {
      // run() handles its own errors; reaching here is a bug, which must still not escape.
      this.finish({ reason: 'transport-error', message: `internal error in the privval session: ${errorMessage(err)}` });
    });
  }

  /** Requests answered so far (refusals included). */
  get requestsServed(): number {
    return this.served;
  }

  get ended(): boolean {
    return this.end !== null;
  }

  /** Closes the connection now; a request being served is answered into the void. */
  close(): Promise<SessionEnd> {
    this.finish({ reason: 'closed-locally', message: 'closed by the signer' });
    return this.closed;
  }

  private async run(): Promise<void> {
    this.armIdleTimer();
    try {
      for await (const chunk of this.stream) {
        if (this.end !== null) return;
        if (!(chunk instanceof Uint8Array)) {
          this.finish({ reason: 'bad-input', message: 'the stream delivered something other than bytes' });
          return;
        }
        const frames = this.reader.push(chunk);
        for (const frame of frames) {
          this.disarmIdleTimer();
          this.busy = true;
          try {
            await this.serveFrame(frame);
          } finally {
            this.busy = false;
          }
          if (this.end !== null) return;
        }
        this.armIdleTimer();
      }
      if (this.end !== null) return;
      this.reader.end();
      this.finish({ reason: 'peer-closed', message: 'the validator node closed the connection' });
    } catch (err) {
      if (this.end !== null) return;
      if (err instanceof FramingError) {
        this.finish(classifyStreamError(err));
        return;
      }
      const end = classifyStreamError(this.streamError ?? err);
      if (end.reason === 'peer-closed' && !this.reader.idle) {
        this.finish({ reason: 'bad-input', message: `the connection closed inside a message (${this.reader.bufferedBytes} bytes of it received)` });
        return;
      }
      this.finish(end);
    }
  }

  private readonly onStreamError = (err: Error): void => {
    if (this.streamError === null) this.streamError = err;
    // While a request is served the loop is not reading and would not notice.
    if (this.busy) this.finish(classifyStreamError(err));
  };

  private readonly onStreamClose = (): void => {
    if (!this.busy) return; // the read loop sees the end itself and knows whether a message was cut
    this.finish(
      this.streamError !== null
        ? classifyStreamError(this.streamError)
        : { reason: 'peer-closed', message: 'the validator node closed the connection while a request was being served' },
    );
  };

  private armIdleTimer(): void {
    if (this.idleTimeoutMs === 0 || this.end !== null) return;
    this.disarmIdleTimer();
    this.idleTimer = setTimeout(() => {
      this.finish({
        reason: 'idle-timeout',
        message: `nothing received for ${this.idleTimeoutMs} ms (the node pings every few seconds): closing to redial`,
      });
    }, this.idleTimeoutMs);
  }

  private disarmIdleTimer(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  /** Ends the session once: destroys the stream, logs one line, resolves `closed`. */
  private finish(end: SessionEnd): void {
    if (this.end !== null) return;
    this.end = end;
    this.disarmIdleTimer();
    if (!this.stream.destroyed) this.stream.destroy();
    const meta = { peer: this.peer, reason: end.reason, requestsServed: this.served };
    if (end.reason === 'bad-input' || end.reason === 'transport-error' || end.reason === 'idle-timeout') {
      this.logger.warn(`privval connection closed: ${end.message}`, meta);
    } else if (end.reason === 'peer-closed') {
      this.logger.info(`privval connection closed: ${end.message}`, meta);
    } else {
      this.logger.debug(`privval connection closed: ${end.message}`, meta);
    }
    this.resolveClosed(end);
  }

  private async serveFrame(frame: Uint8Array): Promise<void> {
    const started = performance.now();
    let msg: PrivvalMessage;
    try {
      msg = decodeMessage(frame);
    } catch (err) {
      const what = err instanceof ProtobufDecodeError ? err.message : errorMessage(err);
      this.finish({ reason: 'bad-input', message: `malformed privval message (${frame.length} bytes): ${what}` });
      return;
    }
    let answer: Answer;
    switch (msg.kind) {
      case 'pubKeyRequest':
        answer = this.answerPubKey(msg.value.chainId);
        break;
      case 'pingRequest':
        answer = { response: { kind: 'pingResponse' }, chainId: '', outcome: 'answered' };
        break;
      case 'signVoteRequest':
        answer = await this.answerSignVote(msg.value);
        break;
      case 'signProposalRequest':
        answer = await this.answerSignProposal(msg.value);
        break;
      case 'signBytesRequest': {
        const reason = 'sign-bytes-refused';
        answer = {
          response: {
            kind: 'signBytesResponse',
            value: {
              signature: EMPTY,
              error: remoteSignerError(reason, 'raft-signer does not sign raw bytes: they bypass double-sign protection'),
            },
          },
          chainId: '',
          outcome: 'refused',
          reason,
        };
        break;
      }
      case 'pubKeyResponse':
      case 'signedVoteResponse':
      case 'signedProposalResponse':
      case 'pingResponse':
      case 'signBytesResponse':
        this.finish({
          reason: 'bad-input',
          message: `the validator node sent a ${msg.kind}, which only a signer sends: is something other than a CometBFT node listening at this address?`,
        });
        return;
      case 'none':
        this.finish({
          reason: 'bad-input',
          message:
            msg.unknownFieldNumbers.length > 0
              ? `unknown privval message (field ${msg.unknownFieldNumbers.join(', ')}): not a request this signer knows`
              : 'empty privval message',
        });
        return;
    }
    this.respond(answer, started);
  }

  private respond(answer: Answer, started: number): void {
    if (this.end !== null) {
      this.logger.debug('privval response dropped: the connection is closed', { peer: this.peer, chainId: answer.chainId });
      return;
    }
    let frame = encodeFrame(encodeMessage(answer.response, { pubKeyResponseFormat: 'both' }));
    if (frame.length > MAX_RESPONSE_BYTES) {
      // Cannot happen with the checks above (bounded address, 32-byte hashes); if it does, the
      // node would drop the connection on it, so answer with an error it can read instead.
      const message = `the ${answer.response.kind} would be ${frame.length} bytes, over the ${MAX_RESPONSE_BYTES} a node accepts`;
      this.logger.error(`privval: ${message}`, { peer: this.peer, chainId: answer.chainId });
      answer = this.errorAnswerLike(answer, 'internal-error', message);
      frame = encodeFrame(encodeMessage(answer.response));
    }
    this.stream.write(frame);
    this.served++;
    const latencyMs = performance.now() - started;
    if (answer.outcome === 'refused') {
      this.logger.info('privval request refused', {
        peer: this.peer,
        kind: answer.response.kind,
        chainId: answer.chainId,
        hrs: answer.hrs,
        reason: answer.reason,
      });
    } else if (answer.hrs !== undefined) {
      this.logger.debug('privval request signed', { peer: this.peer, chainId: answer.chainId, hrs: answer.hrs, outcome: answer.outcome });
    }
    if (this.observer !== undefined) {
      const event: PrivvalRequestEvent = {
        kind: requestKindOf(answer.response),
        chainId: answer.chainId,
        outcome: answer.outcome,
        latencyMs,
      };
      if (answer.reason !== undefined) event.reason = answer.reason;
      try {
        this.observer(event);
      } catch (err) {
        this.logger.warn(`privval observer failed: ${errorMessage(err)}`, { peer: this.peer });
      }
    }
  }

  /** The same kind of response, as an error. */
  private errorAnswerLike(answer: Answer, reason: PrivvalRefusalReason, message: string): Answer {
    const error = remoteSignerError(reason, message);
    const base = { chainId: answer.chainId, outcome: 'refused' as const, reason, hrs: answer.hrs };
    switch (answer.response.kind) {
      case 'signedVoteResponse':
        return { ...base, response: { kind: 'signedVoteResponse', value: { vote: emptyVote(), error } } };
      case 'signedProposalResponse':
        return { ...base, response: { kind: 'signedProposalResponse', value: { proposal: emptyProposal(), error } } };
      case 'pubKeyResponse':
        return { ...base, response: { kind: 'pubKeyResponse', value: { pubKey: null, error } } };
      default:
        return { ...base, response: { kind: 'signBytesResponse', value: { signature: EMPTY, error } } };
    }
  }

  // -------------------------------------------------------------------------------------------
  // Requests

  private answerPubKey(chainId: string): Answer {
    let pubKey: Uint8Array | null;
    try {
      const notServed = this.notServedHere(chainId);
      if (notServed !== null) return this.pubKeyError(chainId, notServed.reason, notServed.message);
      pubKey = this.signPath.publicKeyFor(chainId);
    } catch (err) {
      return this.pubKeyError(chainId, 'internal-error', `looking up the key failed: ${errorMessage(err)}`);
    }
    if (pubKey === null) {
      return this.pubKeyError(chainId, 'unknown-chain', unknownChainMessage(chainId));
    }
    const value: PubKeyResponse = { pubKey: { type: PublicKeyType.Ed25519, bytes: pubKey }, error: null };
    return { response: { kind: 'pubKeyResponse', value }, chainId, outcome: 'answered' };
  }

  /**
   * Why a request for `chainId` is not served on this connection, or null when it is. A chain the
   * signer does not hold at all is an unknown chain; one it holds for other validator addresses
   * only is not served here.
   */
  private notServedHere(chainId: string): { reason: PrivvalRefusalReason; message: string } | null {
    if (this.chainIds.has(chainId)) return null;
    if (this.signPath.publicKeyFor(chainId) === null) return { reason: 'unknown-chain', message: unknownChainMessage(chainId) };
    const served = [...this.chainIds].map((c) => JSON.stringify(c)).join(', ') || 'no chain';
    return {
      reason: 'chain-not-served',
      message:
        `chain ${JSON.stringify(chainId)} is not served on this connection (${this.peer}), which serves ${served}: ` +
        `if this validator node runs chain ${JSON.stringify(chainId)}, list its address under validatorAddrs of that chain in the signer's config.yaml, not another chain's`,
    };
  }

  private pubKeyError(chainId: string, reason: PrivvalRefusalReason, message: string): Answer {
    return {
      response: { kind: 'pubKeyResponse', value: { pubKey: null, error: remoteSignerError(reason, message) } },
      chainId,
      outcome: 'refused',
      reason,
    };
  }

  private async answerSignVote(req: SignVoteRequest): Promise<Answer> {
    const chainId = req.chainId;
    const vote = req.vote;
    const hrs = vote === null ? undefined : `${vote.height}/${vote.round}/type ${vote.type}`;
    const refuse = (reason: PrivvalRefusalReason, message: string): Answer => {
      const value: SignedVoteResponse = { vote: emptyVote(), error: remoteSignerError(reason, message) };
      return { response: { kind: 'signedVoteResponse', value }, chainId, outcome: 'refused', reason, hrs };
    };
    try {
      if (vote === null) return refuse('invalid-request', 'the SignVoteRequest carries no vote');
      const notServed = this.notServedHere(chainId);
      if (notServed !== null) return refuse(notServed.reason, notServed.message);
      const pubKey = this.signPath.publicKeyFor(chainId);
      if (pubKey === null) return refuse('unknown-chain', unknownChainMessage(chainId));
      const wrongKey = otherValidatorProblem(vote.validatorAddress, pubKey, chainId);
      if (wrongKey !== null) return refuse('wrong-key', wrongKey);
      let step: 2 | 3;
      try {
        step = stepOfVoteType(vote.type);
      } catch (err) {
        return refuse('invalid-request', errorMessage(err));
      }
      const hrProblem = heightRoundProblem('vote', vote.height, vote.round);
      if (hrProblem !== null) return refuse('invalid-request', hrProblem);
      // file.go signVote checks the extension before signing; a misplaced extension must not
      // cost a slashing record.
      const rule = voteExtensionRule(vote, req.skipExtensionSigning);
      if (rule.kind === 'refuse') return refuse('unexpected-vote-extension', rule.message);
      let signBytes: Uint8Array;
      try {
        signBytes = voteSignBytes(chainId, vote);
      } catch (err) {
        if (err instanceof SignBytesError) return refuse('invalid-request', `the vote has no canonical sign bytes: ${err.message}`);
        throw err;
      }

      const outcome = await this.signPath.sign({ chainId, pubKey, height: vote.height, round: vote.round, step, signBytes });
      let signature: Uint8Array;
      let timestamp: Timestamp;
      switch (outcome.kind) {
        case 'refused':
          return refuse(outcome.reason, outcome.message);
        case 'signed':
          signature = outcome.signature;
          timestamp = vote.timestamp;
          break;
        case 'signed-with-stored-timestamp':
          signature = outcome.signature;
          timestamp = outcome.timestamp;
          break;
      }
      // FilePV re-signs the extension of a non-nil precommit every time, repeated votes included
      // (extensions are not slashable and the node needs the signature with every precommit).
      let extensionSignature = EMPTY;
      if (rule.kind === 'sign-extension') {
        try {
          extensionSignature = this.signPath.signExtension(chainId, voteExtensionSignBytes(chainId, vote));
        } catch (err) {
          this.logger.error(`privval: signing a vote extension failed: ${errorMessage(err)}`, { peer: this.peer, chainId, hrs });
          return refuse('internal-error', `signing the vote extension failed: ${errorMessage(err)}`);
        }
      }
      // Only what the node reads goes back (timestamp, signature, extension signature): never the
      // extension itself, which may be 1 MiB against the node's 10 KiB response limit.
      const signed: Vote = { ...vote, timestamp, signature, extension: EMPTY, extensionSignature };
      const value: SignedVoteResponse = { vote: signed, error: null };
      return { response: { kind: 'signedVoteResponse', value }, chainId, outcome: outcome.kind, hrs };
    } catch (err) {
      this.logger.error(`privval: serving a SignVoteRequest failed: ${errorMessage(err)}`, { peer: this.peer, chainId, hrs });
      return refuse('internal-error', `the signer failed while serving the request: ${errorMessage(err)}`);
    }
  }

  private async answerSignProposal(req: SignProposalRequest): Promise<Answer> {
    const chainId = req.chainId;
    const proposal = req.proposal;
    const hrs = proposal === null ? undefined : `${proposal.height}/${proposal.round}/proposal`;
    const refuse = (reason: PrivvalRefusalReason, message: string): Answer => {
      const value: SignedProposalResponse = { proposal: emptyProposal(), error: remoteSignerError(reason, message) };
      return { response: { kind: 'signedProposalResponse', value }, chainId, outcome: 'refused', reason, hrs };
    };
    try {
      if (proposal === null) return refuse('invalid-request', 'the SignProposalRequest carries no proposal');
      const notServed = this.notServedHere(chainId);
      if (notServed !== null) return refuse(notServed.reason, notServed.message);
      const pubKey = this.signPath.publicKeyFor(chainId);
      if (pubKey === null) return refuse('unknown-chain', unknownChainMessage(chainId));
      const hrProblem = heightRoundProblem('proposal', proposal.height, proposal.round);
      if (hrProblem !== null) return refuse('invalid-request', hrProblem);
      if (proposal.polRound < -1) {
        return refuse('invalid-request', `proposal pol round must be -1 or more, got ${proposal.polRound}`);
      }
      // The proposal's own type field is not looked at, as in file.go signProposal: the sign
      // bytes always say 32 (CanonicalizeProposal), so it cannot change what is signed.
      let signBytes: Uint8Array;
      try {
        signBytes = proposalSignBytes(chainId, proposal);
      } catch (err) {
        if (err instanceof SignBytesError) return refuse('invalid-request', `the proposal has no canonical sign bytes: ${err.message}`);
        throw err;
      }
      const outcome = await this.signPath.sign({
        chainId,
        pubKey,
        height: proposal.height,
        round: proposal.round,
        step: 1,
        signBytes,
      });
      if (outcome.kind === 'refused') return refuse(outcome.reason, outcome.message);
      const timestamp = outcome.kind === 'signed-with-stored-timestamp' ? outcome.timestamp : proposal.timestamp;
      const signed: Proposal = { ...proposal, timestamp, signature: outcome.signature };
      const value: SignedProposalResponse = { proposal: signed, error: null };
      return { response: { kind: 'signedProposalResponse', value }, chainId, outcome: outcome.kind, hrs };
    } catch (err) {
      this.logger.error(`privval: serving a SignProposalRequest failed: ${errorMessage(err)}`, { peer: this.peer, chainId, hrs });
      return refuse('internal-error', `the signer failed while serving the request: ${errorMessage(err)}`);
    }
  }
}

function requestKindOf(response: PrivvalMessage): PrivvalRequestKind {
  switch (response.kind) {
    case 'pubKeyResponse':
      return 'pubKey';
    case 'signedVoteResponse':
      return 'signVote';
    case 'signedProposalResponse':
      return 'signProposal';
    case 'signBytesResponse':
      return 'signBytes';
    default:
      return 'ping';
  }
}

function unknownChainMessage(chainId: string): string {
  return `chain ${JSON.stringify(chainId)} is not served by this signer: add it to the node's chains, or check the node's chain id`;
}

/** A vote names its validator; one for a validator whose key this chain does not hold is refused. */
function otherValidatorProblem(validatorAddress: Uint8Array, pubKey: Uint8Array, chainId: string): string | null {
  if (validatorAddress.length === 0) return null;
  const ours = addressFromPublicKey(pubKey);
  const theirs = hexUpper(validatorAddress);
  if (theirs === ours) return null;
  return `request for another key: the vote is for validator ${theirs}, but this signer holds the key of ${ours} for chain ${JSON.stringify(chainId)}`;
}

/** What CometBFT's Vote/Proposal ValidateBasic would refuse; a node never sends it. */
function heightRoundProblem(what: 'vote' | 'proposal', height: bigint, round: number): string | null {
  if (height < 1n) return `${what} height must be positive, got ${height}`;
  if (round < 0) return `${what} round must not be negative, got ${round}`;
  return null;
}

/**
 * Serves `stream` (a unix socket, or a SecretConnection from makeSecretConnection) until it
 * ends; see PrivvalSession.
 */
export function servePrivvalConnection(stream: Duplex, options: PrivvalSessionOptions): PrivvalSession {
  return new PrivvalSession(stream, options);
}
