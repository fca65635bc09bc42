// Liveness and readiness of a node, as one pure function of what the node knows, so that HTTP
// /healthz and /readyz, the gRPC health service and the metrics all say the same thing.
//
//   live  (/healthz, gRPC service ""): the process runs and its store is fine: the driver has not
//         stopped after a failed write. A node that is not live must be restarted (or its disk
//         fixed); everything else is a state the node leaves by itself.
//   ready (/readyz, gRPC "raftsigner.signer.v1.Signer"): live, and a signature asked now would
//         be answered: this node is a voter (a learner is a passive standby and signs nothing),
//         it is in a quorum (a leader heard from a majority of voters recently, or a follower heard
//         from its leader recently), it has applied close to what it knows is committed, and it is
//         connected to every validator node it is configured to serve.
//
// "Recently" is measured from messages actually received (the transport's onMessage), not from
// the core's recentActive flags: the leader clears those at every check-quorum round, which would
// make readiness blink once per election timeout.

import { NodeId, RaftStatus, Role } from '../raft/types';
import type { PrivvalDialerStatus } from '../privval/privval_dialer';

export type HealthCheckName = 'node' | 'voter' | 'quorum' | 'caught-up' | 'privval';

export interface HealthCheck {
  name: HealthCheckName;
  ok: boolean;
  /** What was found, in words an operator can act on. */
  detail: string;
}

export interface HealthReport {
  live: boolean;
  ready: boolean;
  /** The liveness checks (just `node`). */
  liveChecks: HealthCheck[];
  /** Every readiness check, liveness included. */
  readyChecks: HealthCheck[];
}

export interface HealthInputs {
  raft: RaftStatus;
  /** RaftNode.appliedDurably(). */
  appliedDurably: number;
  /** RaftNode.failure(): the error that stopped the driver, if any. */
  failure: Error | null;
  /** RaftNode.isStopped(): stopped gracefully or after an error. */
  stopped: boolean;
  /** When a message from `peer` last arrived (ms since the epoch), or null if never. */
  lastHeard(peer: NodeId): number | null;
  privval: PrivvalDialerStatus[];
  /** Date.now() of the evaluation. */
  now: number;
}

export interface HealthThresholds {
  /** A peer not heard from for longer is not counted as in contact (about two election timeouts). */
  contactWindowMs: number;
  /** Committed but not yet applied entries above this make the node "catching up". */
  maxApplyLag: number;
}

/** The thresholds for a node's Raft timing: two election timeouts of silence, 100 entries of lag. */
export function defaultHealthThresholds(electionTimeoutMs: number): HealthThresholds {
  return { contactWindowMs: 2 * electionTimeoutMs, maxApplyLag: 100 };
}

export function evaluateHealth(inputs: HealthInputs, thresholds: HealthThresholds): HealthReport {
  const node = nodeCheck(inputs);
  const live = node.ok;
  const readyChecks = [node, voterCheck(inputs.raft), quorumCheck(inputs, thresholds), caughtUpCheck(inputs, thresholds), privvalCheck(inputs.privval)];
  return { live, ready: readyChecks.every((c) => c.ok), liveChecks: [node], readyChecks };
}

function nodeCheck(inputs: HealthInputs): HealthCheck {
  if (inputs.failure) {
    return {
      name: 'node',
      ok: false,
      detail: `stopped after an error: ${inputs.failure.message}; the other nodes go on without it: fix the cause (disk, store) and restart it`,
    };
  }
  if (inputs.stopped) return { name: 'node', ok: false, detail: 'stopping' };
  return { name: 'node', ok: true, detail: 'running' };
}

function voterCheck(raft: RaftStatus): HealthCheck {
  if (raft.confState.voters.includes(raft.id)) return { name: 'voter', ok: true, detail: 'a voter' };
  if (raft.isLearner) {
    return { name: 'voter', ok: false, detail: `a learner (passive standby): it signs nothing until promoted (raft-signer cluster promote --id ${raft.id})` };
  }
  return {
    name: 'voter',
    ok: false,
    detail: 'not a member of the cluster as far as this node knows (joining and not yet added, or removed)',
  };
}

function quorumCheck(inputs: HealthInputs, t: HealthThresholds): HealthCheck {
  const { raft, now } = inputs;
  const recent = (peer: NodeId): boolean => {
    const at = inputs.lastHeard(peer);
    return at !== null && now - at <= t.contactWindowMs;
  };
  if (raft.role === Role.Leader) {
    const voters = raft.confState.voters;
    const inContact = voters.filter((v) => v === raft.id || recent(v));
    const quorum = Math.floor(voters.length / 2) + 1;
    const ok = inContact.length >= quorum;
    return {
      name: 'quorum',
      ok,
      detail: ok
        ? `leader in term ${raft.term}, in contact with ${inContact.length} of ${voters.length} voters`
        : `leader in term ${raft.term} but in contact with only ${inContact.length} of ${voters.length} voters (a quorum is ${quorum})`,
    };
  }
  if (raft.leader === null) {
    return { name: 'quorum', ok: false, detail: `no leader known in term ${raft.term}: an election is running or a majority of voters is unreachable` };
  }
  if (!recent(raft.leader)) {
    return { name: 'quorum', ok: false, detail: `leader ${raft.leader} not heard from for over ${t.contactWindowMs} ms` };
  }
  return { name: 'quorum', ok: true, detail: `following leader ${raft.leader} in term ${raft.term}` };
}

function caughtUpCheck(inputs: HealthInputs, t: HealthThresholds): HealthCheck {
  const lag = Math.max(0, inputs.raft.commitIndex - inputs.appliedDurably);
  const ok = lag <= t.maxApplyLag;
  return {
    name: 'caught-up',
    ok,
    detail: `applied ${inputs.appliedDurably} of ${inputs.raft.commitIndex} committed` + (ok ? '' : ` (${lag} behind, more than ${t.maxApplyLag})`),
  };
}

function privvalCheck(dialers: PrivvalDialerStatus[]): HealthCheck {
  if (dialers.length === 0) return { name: 'privval', ok: true, detail: 'no validator node configured' };
  const down = dialers.filter((d) => !d.connected);
  if (down.length === 0) return { name: 'privval', ok: true, detail: `connected to ${dialers.length} validator node${dialers.length === 1 ? '' : 's'}` };
  return {
    name: 'privval',
    ok: false,
    detail: `not connected to ${down.map((d) => d.address + (d.lastError ? ` (${d.lastError})` : '')).join(', ')}`,
  };
}
