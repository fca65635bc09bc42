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
  | 'network';

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
