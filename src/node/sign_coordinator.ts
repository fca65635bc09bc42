// The node process's face of the replica core's sign path (src/replica/sign_path.ts): promises
// for the privval connections, the Signer and Admin services, and the measurements the node's
// metrics take around every request. Every rule lives in SignPath, which the simulator runs too;
// this file adds only what the node process needs around it.

import { performance } from 'node:perf_hooks';
import type { Logger } from '../log/logger';
import type { KeyRing } from '../signer/key_ring';
import type { ImportStateCommand } from '../signer/signer_codec';
import type { ImportOutcome, SignerStateMachine } from '../signer/signer_state_machine';
import type { SignOutcome, SignPath as PrivvalSignPath, SignRefusal, SignRequest } from '../cometbft/sign_types';
import type { SignForwarder } from '../replica/host';
import type { LeaderAnswer, LeaderForwarder } from '../replica/leader_answer';
import { SignPath } from '../replica/sign_path';
import { nodeClock, RaftNode } from './raft_node';

/** Sends a request to the leader (the gRPC Signer service); rejects when the leader cannot be reached. */
export type { LeaderForwarder };

export interface SignCoordinatorOptions {
  node: RaftNode;
  machine: SignerStateMachine;
  keys: KeyRing;
  forwarder: LeaderForwarder;
  /** How long a request may take in all (below the validator node's 5 s read timeout). */
  deadlineMs: number;
  logger: Logger;
  /** Most requests per log entry; more wait for the next entry. */
  maxBatch?: number;
  /** Each answered request: its chain, outcome and seconds taken (the node's metrics). */
  onOutcome?: (chainId: string, outcome: SignOutcome, seconds: number) => void;
}

/** A promise-returning forwarder as the core's SignForwarder: a cancelled call's answer is dropped. */
function callbackForwarder(forwarder: LeaderForwarder): SignForwarder {
  return {
    forward(leader, request, timeoutMs, onAnswer, onFail) {
      let cancelled = false;
      forwarder.forward(leader, request, timeoutMs).then(
        (a) => {
          if (!cancelled) onAnswer(a);
        },
        (e: unknown) => {
          if (!cancelled) onFail(e instanceof Error ? e : new Error(String(e)));
        },
      );
      return { cancel: () => (cancelled = true) };
    },
  };
}

export class SignCoordinator implements PrivvalSignPath {
  readonly path: SignPath;
  private readonly keys: KeyRing;
  private readonly onOutcome: SignCoordinatorOptions['onOutcome'];

  constructor(options: SignCoordinatorOptions) {
    this.keys = options.keys;
    this.onOutcome = options.onOutcome;
    this.path = new SignPath({
      driver: options.node.driver,
      machine: options.machine,
      keys: options.keys,
      clock: nodeClock,
      forwarder: callbackForwarder(options.forwarder),
      deadlineMs: options.deadlineMs,
      logger: options.logger,
      maxBatch: options.maxBatch,
    });
  }

  publicKeyFor(chainId: string): Uint8Array | null {
    return this.path.publicKeyFor(chainId);
  }

  signExtension(chainId: string, extensionSignBytes: Uint8Array): Uint8Array {
    const key = this.keys.keyFor(chainId);
    if (!key) throw new Error(`no key for chain ${chainId}`);
    return key.sign(extensionSignBytes);
  }

  /** The whole sign path for a request from a validator node or a tool. Never rejects. */
  sign(request: SignRequest, timeoutMs: number = this.path.deadlineMs): Promise<SignOutcome> {
    const started = performance.now();
    return new Promise((resolve) =>
      this.path.sign(request, timeoutMs, (answer) => {
        this.onOutcome?.(request.chainId, answer, (performance.now() - started) / 1000);
        resolve(answer);
      }),
    );
  }

  /** Null for a voter named with its own store; otherwise the refusal (SignPath.notAVoterRefusal). */
  notAVoterRefusal(): SignRefusal | null {
    return this.path.notAVoterRefusal();
  }

  /** The leader's half, for a request forwarded by a follower (SignPath.decideAsLeader). Never rejects. */
  decideAsLeader(request: SignRequest, timeoutMs: number): Promise<LeaderAnswer> {
    return new Promise((resolve) => this.path.decideAsLeader(request, timeoutMs, resolve));
  }

  /**
   * Commits an imported priv_validator_state.json (leader only; ProposalRefusedError elsewhere)
   * and answers what applying it did. Rejects with DeadlineError, LeadershipChangedError or
   * NodeStoppedError when nothing is known to have been imported.
   */
  importState(imp: ImportStateCommand): Promise<ImportOutcome & { index: number }> {
    return new Promise((resolve, reject) => this.path.importState(imp, (error, outcome) => (error || !outcome ? reject(error) : resolve(outcome))));
  }

  /**
   * A read barrier through the log (SignPath.readBarrier). Rejects with ProposalRefusedError on a
   * node that is not the leader, DeadlineError when the entry does not commit in time,
   * LeadershipChangedError when leadership changes meanwhile, NodeStoppedError when stopping.
   */
  readBarrier(timeoutMs: number = this.path.deadlineMs): Promise<{ index: number; term: number }> {
    return new Promise((resolve, reject) => this.path.readBarrier(timeoutMs, (error, at) => (error || !at ? reject(error) : resolve(at))));
  }
}
