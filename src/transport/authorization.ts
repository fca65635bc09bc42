// Who may call which RPC on a node's gRPC port: one table and one pure function, applied to every
// call of every service before its handler runs (the shared server wraps each handler it is given,
// see guardService; a service method without an entry here cannot even be registered).
//
// TLS has already checked that the caller's certificate chains to the cluster CA (a certificate of
// another CA, or none, never gets a TLS session). What is left is least privilege by role:
//
//   RPC                         admin  voter  learner  joining-peer
//   Raft.Stream                   -      x       x          x
//   Raft.Founding                 -      x       x          x
//   Signer.Sign                   -      x       -          -
//   Signer.Decide                 -      x       -          -
//   Signer.Forward                -      x       -          -
//   Admin.Status                  x      x       x          x
//   Admin.ChainState              x      x       x          x
//   Admin.ImportState             x      x       -          -
//   Admin.TransferLeader          x      x       -          -
//   Admin.AddLearner              x      x       -          -
//   Admin.Promote                 x      x       -          -
//   Admin.Remove                  x      x       -          -
//   Health.Check                  x      x       x          x
//   Health.Watch                  x      x       x          x
//
// The roles:
//  - admin: an admin client certificate (OU "raft-signer client", clientAuth only; `admin/` of the
//    testnet). It administers and reads; it signs nothing and never speaks Raft.
//  - voter / learner: a node certificate (OU "raft-signer node", CN = node id, also a SAN) whose
//    node id is a voter / learner of this node's committed configuration (a membership change
//    counts once its entry is committed: that is when the core applies it). Only voters sign or
//    forward: a learner is a passive standby, and a learner that could forward could make the
//    leader commit decisions. A learner must speak Raft: it answers the leader on its own stream.
//  - joining-peer: while this node knows no committed configuration at all (it was started with
//    `join: true` and has not received the log yet), a node certificate naming a peer of its
//    config.yaml: that is how the leader reaches a new learner. Raft and reads only.
//  - anything else is refused: a node certificate of a node that is not a member (never added, or
//    removed once the removal is committed), a certificate that is neither a node nor an admin
//    client certificate, and any certificate listed in config.yaml's `revokedCertificates` (by
//    serial number or SHA-256 fingerprint), whatever its role.
//
// Reads (Status, ChainState, health) stay open to the admin client and members: they reveal the
// cluster's state, not key material, and nodes ask each other's Status for peer addresses.

import * as grpc from '@grpc/grpc-js';
import { nodeIdOf } from '../certs/certificate_identity';
import type { Logger } from '../log/logger';
import { CallWithAuthContext, peerCertificate, PeerCertificate } from './peer_identity';
import { RaftSignerError } from '../util/errors';

export type CallerRole = 'admin' | 'voter' | 'learner' | 'joining-peer';

/** Every RPC of every service on a node's port, by its gRPC path. */
export const RPC = {
  RaftStream: '/raftsigner.raft.v1.Raft/Stream',
  RaftFounding: '/raftsigner.raft.v1.Raft/Founding',
  SignerSign: '/raftsigner.signer.v1.Signer/Sign',
  SignerDecide: '/raftsigner.signer.v1.Signer/Decide',
  SignerForward: '/raftsigner.signer.v1.Signer/Forward',
  AdminStatus: '/raftsigner.admin.v1.Admin/Status',
  AdminImportState: '/raftsigner.admin.v1.Admin/ImportState',
  AdminChainState: '/raftsigner.admin.v1.Admin/ChainState',
  AdminTransferLeader: '/raftsigner.admin.v1.Admin/TransferLeader',
  AdminAddLearner: '/raftsigner.admin.v1.Admin/AddLearner',
  AdminPromote: '/raftsigner.admin.v1.Admin/Promote',
  AdminRemove: '/raftsigner.admin.v1.Admin/Remove',
  HealthCheck: '/grpc.health.v1.Health/Check',
  HealthWatch: '/grpc.health.v1.Health/Watch',
} as const;

export type RpcPath = (typeof RPC)[keyof typeof RPC];

const READERS: readonly CallerRole[] = ['admin', 'voter', 'learner', 'joining-peer'];
const ADMINISTRATORS: readonly CallerRole[] = ['admin', 'voter'];
const SIGNERS: readonly CallerRole[] = ['voter'];

/** The table of the file header: the roles each RPC accepts. */
export const RPC_ROLES: Readonly<Record<RpcPath, readonly CallerRole[]>> = {
  [RPC.RaftStream]: ['voter', 'learner', 'joining-peer'],
  // Founders ask each other before the first entry (they know no membership yet: joining-peer),
  // and a leader asks a new learner for its store id (the learner knows none either).
  [RPC.RaftFounding]: ['voter', 'learner', 'joining-peer'],
  [RPC.SignerSign]: SIGNERS,
  [RPC.SignerDecide]: SIGNERS,
  [RPC.SignerForward]: SIGNERS,
  [RPC.AdminStatus]: READERS,
  [RPC.AdminImportState]: ADMINISTRATORS,
  [RPC.AdminChainState]: READERS,
  [RPC.AdminTransferLeader]: ADMINISTRATORS,
  [RPC.AdminAddLearner]: ADMINISTRATORS,
  [RPC.AdminPromote]: ADMINISTRATORS,
  [RPC.AdminRemove]: ADMINISTRATORS,
  [RPC.HealthCheck]: READERS,
  [RPC.HealthWatch]: READERS,
};

export function isKnownRpc(path: string): path is RpcPath {
  return Object.prototype.hasOwnProperty.call(RPC_ROLES, path);
}

/** The membership the roles come from: this node's committed configuration. */
export interface Membership {
  voters: readonly string[];
  learners: readonly string[];
  /** Only while voters and learners are both empty (a joining node): config.yaml's peers. */
  joiningPeers?: readonly string[];
}

/** Certificates refused whatever they are: serial numbers and SHA-256 fingerprints, normalized. */
export interface RevocationList {
  serials: ReadonlySet<string>;
  sha256: ReadonlySet<string>;
}

export const NO_REVOCATIONS: RevocationList = { serials: new Set(), sha256: new Set() };

/** A hex serial number as compared: lower case, no colons or spaces, no leading zeros. */
export function normalizeSerial(serial: string): string {
  const hex = serial.replace(/[\s:]/g, '').toLowerCase().replace(/^0+/, '');
  return hex === '' ? '0' : hex;
}

/** A SHA-256 fingerprint as compared: lower case, no colons or spaces. */
export function normalizeFingerprint(fingerprint: string): string {
  return fingerprint.replace(/[\s:]/g, '').toLowerCase();
}

export function revocationList(entries: { serials?: readonly string[]; sha256?: readonly string[] }): RevocationList {
  return {
    serials: new Set((entries.serials ?? []).map(normalizeSerial)),
    sha256: new Set((entries.sha256 ?? []).map(normalizeFingerprint)),
  };
}

/** Whether `cert` is on the list (by serial number or by fingerprint). */
export function isRevoked(revoked: RevocationList, cert: PeerCertificate): boolean {
  return revoked.serials.has(normalizeSerial(cert.identity.serialNumber)) || revoked.sha256.has(normalizeFingerprint(cert.sha256));
}

export type RefusalReason =
  /** The call carries no verified client certificate (TLS requires one, so this is a bug elsewhere). */
  | 'no-certificate'
  /** Listed in revokedCertificates. */
  | 'revoked'
  /** Neither a node certificate nor an admin client certificate. */
  | 'not-a-cluster-certificate'
  /** A node certificate of a node that is not in the committed configuration. */
  | 'not-a-member'
  /** A known role, but not one this RPC accepts. */
  | 'role-not-allowed';

export type Authorization =
  | { ok: true; role: CallerRole; /** The caller's node id; null for the admin client. */ nodeId: string | null; caller: string }
  | { ok: false; reason: RefusalReason; code: grpc.status; message: string };

/** "Signer.Sign" for "/raftsigner.signer.v1.Signer/Sign". */
export function rpcName(rpc: string): string {
  const m = /^\/(?:.*\.)?([^./]+)\/([^/]+)$/.exec(rpc);
  return m ? `${m[1]}.${m[2]}` : rpc;
}

const ROLE_NAMES: Record<CallerRole, string> = {
  admin: 'the admin client certificate',
  voter: "a voter's node certificate",
  learner: "a learner's node certificate",
  'joining-peer': "a config.yaml peer's node certificate (while this node has no membership yet)",
};

function list(ids: readonly string[]): string {
  return ids.length === 0 ? 'none' : ids.join(', ');
}

/**
 * The one decision: may the holder of `caller` call `rpc`, given this node's committed
 * membership and the revoked certificates? Pure: no I/O, no clock.
 */
export function authorize(rpc: RpcPath, caller: PeerCertificate | null, membership: Membership, revoked: RevocationList): Authorization {
  if (caller === null) {
    return { ok: false, reason: 'no-certificate', code: grpc.status.UNAUTHENTICATED, message: 'it needs a client certificate of the cluster CA; the caller presented none' };
  }
  const { identity } = caller;
  if (isRevoked(revoked, caller)) {
    return {
      ok: false,
      reason: 'revoked',
      code: grpc.status.PERMISSION_DENIED,
      message: `the caller's certificate (CN=${identity.commonName}, serial ${identity.serialNumber}) is revoked (revokedCertificates in config.yaml)`,
    };
  }
  let role: CallerRole;
  let nodeId: string | null = null;
  let who: string;
  if (identity.role === 'client') {
    role = 'admin';
    who = `the admin client certificate (CN=${identity.commonName})`;
  } else {
    nodeId = nodeIdOf(identity);
    if (nodeId === null) {
      return {
        ok: false,
        reason: 'not-a-cluster-certificate',
        code: grpc.status.PERMISSION_DENIED,
        message: `the caller presented a certificate that is neither a node nor an admin client certificate (CN=${identity.commonName}, serial ${identity.serialNumber})`,
      };
    }
    const noMembership = membership.voters.length === 0 && membership.learners.length === 0;
    if (membership.voters.includes(nodeId)) {
      role = 'voter';
      who = `the node certificate of ${nodeId}, a voter`;
    } else if (membership.learners.includes(nodeId)) {
      role = 'learner';
      who = `the node certificate of ${nodeId}, a learner`;
    } else if (noMembership && (membership.joiningPeers ?? []).includes(nodeId)) {
      role = 'joining-peer';
      who = `the node certificate of ${nodeId}, a peer in config.yaml (this node has no membership yet)`;
    } else {
      return {
        ok: false,
        reason: 'not-a-member',
        code: grpc.status.PERMISSION_DENIED,
        message: `the caller is node ${nodeId}, which is not a cluster member (voters: ${list(membership.voters)}; learners: ${list(membership.learners)})`,
      };
    }
  }
  const allowed = RPC_ROLES[rpc];
  if (!allowed.includes(role)) {
    return {
      ok: false,
      reason: 'role-not-allowed',
      code: grpc.status.PERMISSION_DENIED,
      message: `it accepts only ${allowed.map((r) => ROLE_NAMES[r]).join(' or ')}; the caller presented ${who}`,
    };
  }
  return { ok: true, role, nodeId, caller: who };
}

export interface CallAuthorizerOptions {
  /** This node's id, for the messages. */
  nodeId: string;
  /** The committed membership now (asked on every call). */
  membership: () => Membership;
  revoked: RevocationList;
  logger: Logger;
  /**
   * Adjusts the status a refused call ends with (the node adds the Admin service's error metadata,
   * which its CLI reads, and says which certificate to use instead).
   */
  decorateRefusal?: (rpc: RpcPath, status: grpc.StatusObject) => grpc.StatusObject;
}

export type CallRefusal = Extract<Authorization, { ok: false }>;

/** authorize() applied to live calls: the caller's certificate, the membership now, one log line per refusal. */
export class CallAuthorizer {
  constructor(private readonly options: CallAuthorizerOptions) {}

  get revoked(): RevocationList {
    return this.options.revoked;
  }

  check(rpc: RpcPath, call: CallWithAuthContext): Authorization {
    const result = authorize(rpc, peerCertificate(call), this.options.membership(), this.options.revoked);
    if (!result.ok) {
      this.options.logger.warn('refused a call', { rpc: rpcName(rpc), reason: result.reason, peer: call.getPeer(), detail: result.message });
    }
    return result;
  }

  /** The status to end a refused call with: "node X refuses Svc.Method: <why>". */
  refusalStatus(rpc: RpcPath, refusal: CallRefusal): grpc.StatusObject {
    const status: grpc.StatusObject = {
      code: refusal.code,
      details: `node ${this.options.nodeId} refuses ${rpcName(rpc)}: ${refusal.message}`,
      metadata: new grpc.Metadata(),
    };
    return this.options.decorateRefusal ? this.options.decorateRefusal(rpc, status) : status;
  }
}

/** Thrown when a service has a method that the table does not know: add it to RPC_ROLES. */
export class UnknownRpcError extends RaftSignerError<{ code: 'UNKNOWN_RPC'; path: string }> {
  constructor(path: string) {
    super({ code: 'UNKNOWN_RPC', path }, `no authorization rule for ${path}: add it to RPC_ROLES in src/transport/authorization.ts`);
    this.name = 'UnknownRpcError';
  }
}

type AnyHandler = (call: CallWithAuthContext, callback?: grpc.sendUnaryData<unknown>) => void;

/**
 * `implementation` with every handler preceded by the authorization check of its RPC. A refused
 * call never reaches the handler: a unary or client-streaming call gets the refusal as its status
 * through the callback, a server- or bidi-streaming one as the stream's error. Throws
 * UnknownRpcError if `definition` has a method the table lacks, implemented or not.
 */
export function guardService(
  definition: grpc.ServiceDefinition,
  implementation: grpc.UntypedServiceImplementation,
  authorizer: CallAuthorizer,
): grpc.UntypedServiceImplementation {
  const guarded: grpc.UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    const path = method.path;
    if (!isKnownRpc(path)) throw new UnknownRpcError(path);
    const original = (method as { originalName?: string }).originalName;
    const handler = (implementation[name] ?? (original !== undefined ? implementation[original] : undefined)) as AnyHandler | undefined;
    if (handler === undefined) continue; // grpc-js answers UNIMPLEMENTED, before anything runs
    const bound = handler.bind(implementation);
    const streamsResponses = method.responseStream;
    const wrapped: AnyHandler = (call, callback) => {
      const result = authorizer.check(path, call);
      if (!result.ok) {
        const status = authorizer.refusalStatus(path, result);
        if (streamsResponses) (call as unknown as NodeJS.EventEmitter).emit('error', status);
        else callback?.(status, null);
        return;
      }
      bound(call, callback);
    };
    guarded[name] = wrapped as grpc.UntypedHandleCall;
  }
  return guarded;
}
