// What the chaos harness needs from the signer cluster it tortures, and nothing more, so that a
// test can plug in another signer: the CLI always launches real `raft-signer start` processes
// (process_signer_launcher.ts), while test/chaos runs the same harness against a deliberately
// unsafe signer to prove that the checker catches a double sign when there is one.

import type { ValidatorKey } from '../keys/validator_key';

/** One chain the cluster must serve: its key, and each node's validator node (stand-in) address. */
export interface ChaosChainPlan {
  chainId: string;
  /** The validator key every node signs this chain with. */
  key: ValidatorKey;
  /** validatorAddrs[i]: the privval address node i dials for this chain. */
  validatorAddrs: readonly string[];
}

export interface ChaosClusterPlan {
  /** Node ids, in order (node i serves validatorAddrs[i] of every chain). */
  ids: readonly string[];
  /** A fresh directory for the cluster's files. */
  root: string;
  chains: readonly ChaosChainPlan[];
  /** The host:port that node `from` must dial to reach node `to` (a fault proxy). */
  peerRoute(from: string, to: string): string;
}

/** One node as the nemesis sees it. */
export interface SignerNodeView {
  id: string;
  /** The process runs (it may still be paused). */
  running: boolean;
  /** null when the node did not answer. */
  role: string | null;
  term: number | null;
  commitIndex: number | null;
  appliedIndex: number | null;
  /** The leader this node follows, when it says (null when it did not answer or knows none). */
  leader?: string | null;
  /** This node's store id (its incarnation), when it says. */
  storeId?: string | null;
  /** Whether the membership names this very store (false: a new store, which counts for nothing). */
  storeNamed?: boolean | null;
}

/** What an operator's command answered. */
export interface OperatorResult {
  code: number;
  /** Its output, stdout and stderr together. */
  output: string;
}

/** A node process started on a home other than the node's own (a spare or copied home). */
export interface SpareProcess {
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  running(): boolean;
  /** What it wrote so far. */
  output(): string;
  kill(): Promise<void>;
}

/**
 * The operator's hands on the cluster, for the operator faults (procedures done in the wrong
 * order, homes rolled back, certificates in the wrong place): each step as an operator does it
 * with the real CLI and files, so that the product's refusals are what the harness sees.
 */
export interface ClusterOperator {
  /** The node's whole home: config.yaml, tls/, data/, the store's high-water record, peer marks. */
  home(id: string): string;
  /** Sets `join` in the node's config.yaml. */
  setJoin(id: string, join: boolean): void;
  /** `join` in the node's config.yaml. */
  joinFlag(id: string): boolean;
  /** `cluster remove --id ID` with the admin certificate, asking the other members. */
  remove(id: string, timeoutMs?: number): Promise<OperatorResult>;
  /** `cluster add-learner --id ID --address ADDR` (the leader asks the node for its store id). */
  addLearner(id: string, timeoutMs?: number): Promise<OperatorResult>;
  /** `cluster promote --id ID`. */
  promote(id: string, timeoutMs?: number): Promise<OperatorResult>;
  /** `cluster transfer-leader` (to the most up-to-date other voter), asking every member. */
  transferLeader(timeoutMs?: number): Promise<OperatorResult>;
  /** The node certificate and key files of a home. */
  tlsFiles(home: string): { cert: string; key: string };
  /**
   * A spare home made from node `id`'s (as from a machine image: config, tls/, keys, no data/ and
   * no records), in `dir`, with `join: true`, a port of its own and no validator addresses (so
   * that, if it ran, it would serve no validator node).
   */
  spareHome(id: string, dir: string): string;
  /** Starts `raft-signer start --home HOME` as `name`; killed with the cluster. */
  startSpare(name: string, home: string): SpareProcess;
  /** How many bytes the node's log holds now (to read what a start writes: logSince). */
  logSize(id: string): number;
  logSince(id: string, offset: number): string;
}

/** The faults a cluster can take; the nemesis draws only among those. */
export type SignerCapability =
  /** SIGSTOP / SIGCONT. */
  | 'pause'
  /** Graceful stop (SIGTERM). */
  | 'terminate'
  /** Wiping or replacing the data directory. */
  | 'storage'
  /** The nodes talk to each other through peerRoute (so network faults reach them). */
  | 'network'
  /** An operator can act on homes, certificates and the membership (SignerCluster.operator). */
  | 'operator';

export interface SignerCluster {
  readonly ids: readonly string[];
  readonly capabilities: ReadonlySet<SignerCapability>;
  /** Where a node really listens for its peers (the proxies forward there); null: no peer links. */
  listenAddress(id: string): string | null;
  /** Starts a node that is not running. */
  start(id: string): Promise<void>;
  /** SIGKILL, and wait for the process to be gone. */
  kill(id: string): Promise<void>;
  /** Graceful stop (SIGTERM), and wait for it to finish. */
  terminate(id: string): Promise<void>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  isRunning(id: string): boolean;
  /** The node's data directory (only with the 'storage' capability). */
  dataDir(id: string): string;
  /**
   * Brings back a node whose data directory was lost, the way the product requires (a node with
   * an empty store refuses to vote again as a founding member): remove it from the membership,
   * start it to join, add it as a learner, `waitCaughtUp`, promote it. Absent when the signer has
   * no such procedure (then the node is simply started again).
   */
  rejoinWithEmptyStore?(id: string, waitCaughtUp: () => Promise<void>): Promise<void>;
  /** The operator's steps, one by one (absent: the operator faults are not drawn). */
  readonly operator?: ClusterOperator;
  /** Every node's view; a node that does not answer within the deadline has role null. */
  status(deadlineMs?: number): Promise<SignerNodeView[]>;
  /** The node's log file, if it keeps one. */
  logFile(id: string): string | null;
  /** Kills everything and waits for it; files stay (the harness removes its root itself). */
  destroy(): Promise<void>;
  /** Last resort for exit and signal handlers: SIGKILL everything, synchronously. */
  killAllSync(): void;
}

export interface SignerLauncher {
  /** Names the signer under test in reports ("raft-signer", "unsafe local signer"). */
  readonly name: string;
  /** Prepares the cluster (configs, keys) without starting any node. */
  launch(plan: ChaosClusterPlan): Promise<SignerCluster>;
}
