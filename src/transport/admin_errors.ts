// Admin refusals: AdminError and its codes, carried as a gRPC status with trailing metadata.
//
// Every refusal is an AdminError: a code the client can act on (AdminErrorCode), the node that
// answered, and a message that says what to do.

import * as grpc from '@grpc/grpc-js';
import type { RpcPath } from './authorization';
import { RaftSignerError } from '../util/errors';

/**
 * Why an admin call was refused. The client retries the transient ones (see RETRYABLE_ADMIN_ERRORS)
 * and reports the others with the message.
 */
export type AdminErrorCode =
  /** Sent to a follower: the metadata names the leader and its address. */
  | 'not-leader'
  /** No leader is known: an election is running, or a majority of voters is unreachable. */
  | 'no-leader'
  /** The leader appended the change but a majority did not acknowledge it in time. */
  | 'no-quorum'
  /** Another membership change is not committed yet (thesis 4.1: one at a time). */
  | 'change-pending'
  /** A new leader has not committed an entry of its own term yet; changes wait for that. */
  | 'term-not-committed'
  /** A leadership transfer is running; changes wait for it. */
  | 'transfer-in-progress'
  /** The learner to promote is not replicating yet. */
  | 'learner-not-caught-up'
  /** The node named is not a member (or not a learner/voter, as the change needs). */
  | 'not-a-member'
  /** The node named is already a member in another role or at another address. */
  | 'already-member'
  /** Malformed request: bad id, bad address, a change the core refuses. */
  | 'invalid-request'
  /** The transfer target did not take over in time. */
  | 'transfer-failed'
  /** Leadership changed before the change committed: nothing changed, try again. */
  | 'lost'
  /** This node is stopping or stopped after an error. */
  | 'node-stopped'
  /** The caller's certificate may not make changes. */
  | 'not-authorized'
  /** The node the change is about cannot be asked (add-learner asks the new node for its store). */
  | 'unreachable';

/** Codes that can clear up by themselves within seconds: the CLI retries them until its timeout. */
export const RETRYABLE_ADMIN_ERRORS: ReadonlySet<AdminErrorCode> = new Set<AdminErrorCode>([
  'not-leader',
  'no-leader',
  'change-pending',
  'term-not-committed',
  'transfer-in-progress',
  'learner-not-caught-up',
  'lost',
  // add-learner asks the new node for its store: it may still be starting.
  'unreachable',
]);

const ADMIN_ERROR_GRPC_CODE: Record<AdminErrorCode, grpc.status> = {
  'not-leader': grpc.status.FAILED_PRECONDITION,
  'no-leader': grpc.status.UNAVAILABLE,
  'no-quorum': grpc.status.UNAVAILABLE,
  'change-pending': grpc.status.ABORTED,
  'term-not-committed': grpc.status.ABORTED,
  'transfer-in-progress': grpc.status.ABORTED,
  'learner-not-caught-up': grpc.status.FAILED_PRECONDITION,
  'not-a-member': grpc.status.NOT_FOUND,
  'already-member': grpc.status.ALREADY_EXISTS,
  'invalid-request': grpc.status.INVALID_ARGUMENT,
  'transfer-failed': grpc.status.ABORTED,
  lost: grpc.status.ABORTED,
  'node-stopped': grpc.status.UNAVAILABLE,
  'not-authorized': grpc.status.PERMISSION_DENIED,
  unreachable: grpc.status.UNAVAILABLE,
};

/**
 * The base's stable code (RaftSignerError type.code) of each AdminErrorCode. The AdminErrorCode
 * itself stays what goes on the wire (trailing metadata) and picks the gRPC status.
 */
const ADMIN_ERROR_TYPE_CODE: Record<AdminErrorCode, string> = {
  'not-leader': 'ADMIN_NOT_LEADER',
  'no-leader': 'ADMIN_NO_LEADER',
  'no-quorum': 'ADMIN_NO_QUORUM',
  'change-pending': 'ADMIN_CHANGE_PENDING',
  'term-not-committed': 'ADMIN_TERM_NOT_COMMITTED',
  'transfer-in-progress': 'ADMIN_TRANSFER_IN_PROGRESS',
  'learner-not-caught-up': 'ADMIN_LEARNER_NOT_CAUGHT_UP',
  'not-a-member': 'ADMIN_NOT_A_MEMBER',
  'already-member': 'ADMIN_ALREADY_MEMBER',
  'invalid-request': 'ADMIN_INVALID_REQUEST',
  'transfer-failed': 'ADMIN_TRANSFER_FAILED',
  lost: 'ADMIN_LOST',
  'node-stopped': 'ADMIN_NODE_STOPPED',
  'not-authorized': 'ADMIN_NOT_AUTHORIZED',
  unreachable: 'ADMIN_UNREACHABLE',
};

/** Trailing metadata keys of an admin refusal. */
export const ADMIN_ERROR_KEY = 'raftsigner-admin-error';
export const ADMIN_NODE_KEY = 'raftsigner-node';
export const ADMIN_LEADER_KEY = 'raftsigner-leader';
export const ADMIN_LEADER_ADDRESS_KEY = 'raftsigner-leader-address';

/** A refused admin call, on the server (thrown by the backend) and on the client (adminErrorOf). */
export class AdminError extends RaftSignerError<{
  code: string;
  adminCode: AdminErrorCode;
  nodeId: string;
  leader: { id: string; address: string | null } | null;
}> {
  constructor(
    readonly code: AdminErrorCode,
    message: string,
    /** The node that answered. */
    readonly nodeId: string,
    /** The leader as that node knows it (not-leader), with its address when known. */
    readonly leader: { id: string; address: string | null } | null = null,
  ) {
    // adminErrorOf builds these from a peer's metadata: never let an odd code break the type.
    const typeCode = Object.hasOwn(ADMIN_ERROR_TYPE_CODE, code) ? ADMIN_ERROR_TYPE_CODE[code] : 'ADMIN_UNKNOWN';
    super({ code: typeCode, adminCode: code, nodeId, leader }, message);
    this.name = 'AdminError';
  }

  get retryable(): boolean {
    return RETRYABLE_ADMIN_ERRORS.has(this.code);
  }

  toServiceError(): Partial<grpc.StatusObject> {
    const metadata = new grpc.Metadata();
    metadata.set(ADMIN_ERROR_KEY, this.code);
    metadata.set(ADMIN_NODE_KEY, this.nodeId);
    if (this.leader) {
      metadata.set(ADMIN_LEADER_KEY, this.leader.id);
      if (this.leader.address) metadata.set(ADMIN_LEADER_ADDRESS_KEY, this.leader.address);
    }
    return { code: ADMIN_ERROR_GRPC_CODE[this.code], details: this.message, metadata };
  }
}

/** An admin command that only the leader can carry out was sent to another node. */
export class NotLeaderAdminError extends AdminError {
  constructor(nodeId: string, leader: string | null, leaderAddress: string | null = null) {
    super(
      leader ? 'not-leader' : 'no-leader',
      leader
        ? `node ${nodeId} is not the leader; send this to the leader, ${leader}${leaderAddress ? ` (${leaderAddress})` : ''}`
        : `node ${nodeId} is not the leader and knows no leader: an election is running or the cluster has no quorum right now; ` +
            'check `raft-signer status` and bring a majority of the voters back',
      nodeId,
      leader ? { id: leader, address: leaderAddress } : null,
    );
    this.name = 'NotLeaderAdminError';
  }
}

/** The AdminError a failed client call carries, or null when the failure is not an admin refusal. */
export function adminErrorOf(e: unknown): AdminError | null {
  const err = e as Partial<grpc.ServiceError>;
  if (!(err.metadata instanceof grpc.Metadata)) return null;
  const first = (key: string): string | null => {
    const v = err.metadata?.get(key)[0];
    return typeof v === 'string' && v !== '' ? v : null;
  };
  const code = first(ADMIN_ERROR_KEY) as AdminErrorCode | null;
  if (code === null || !(code in ADMIN_ERROR_GRPC_CODE)) return null;
  const leader = first(ADMIN_LEADER_KEY);
  return new AdminError(code, err.details || err.message || code, first(ADMIN_NODE_KEY) ?? '?', leader ? { id: leader, address: first(ADMIN_LEADER_ADDRESS_KEY) } : null);
}

const ADMIN_SERVICE_PREFIX = '/raftsigner.admin.v1.Admin/';

/**
 * For the server's authorizer: a refused Admin call carries the AdminError code 'not-authorized'
 * and the answering node, as every admin refusal does, and says which certificate to use.
 */
export function decorateAdminRefusal(nodeId: string): (rpc: RpcPath, status: grpc.StatusObject) => grpc.StatusObject {
  return (rpc, status) => {
    if (!rpc.startsWith(ADMIN_SERVICE_PREFIX)) return status;
    const read = rpc === `${ADMIN_SERVICE_PREFIX}Status` || rpc === `${ADMIN_SERVICE_PREFIX}ChainState`;
    const hint = `; use the admin client certificate (--admin DIR) or the home of a ${read ? 'member' : 'voter'} (--home)`;
    return new AdminError('not-authorized', `${status.details}${hint}`, nodeId).toServiceError() as grpc.StatusObject;
  };
}
