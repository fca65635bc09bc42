// Who is calling: the identity in the client certificate that TLS verified against the cluster CA.
// grpc-js exposes it as call.getAuthContext().sslPeerCertificate, and only when the TLS socket is
// `authorized` (the chain checked out); the server is created with client certificates required,
// so a call without one never reaches a handler, but the check here does not rely on that.

import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import {
  nodeIdOf,
  readCertificateIdentity,
  type CertificateIdentity,
} from '../certs/certificate_identity';

/** The part of a grpc-js server call this module needs (any unary or streaming call has it). */
export interface CallWithAuthContext {
  getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } };
  getPeer(): string;
}

export type ClusterMemberRefusalReason = 'no-certificate' | 'not-a-node-certificate' | 'not-a-member';

export type ClusterMemberCheck =
  | { ok: true; nodeId: string; identity: CertificateIdentity }
  | {
      ok: false;
      reason: ClusterMemberRefusalReason;
      /** For the log line and the gRPC status details; names the certificate, never key material. */
      message: string;
      /** The gRPC status to refuse the call with. */
      code: grpc.status;
      identity: CertificateIdentity | null;
    };

/** A verified client certificate: what it says, and the SHA-256 of its DER bytes (lower-case hex). */
export interface PeerCertificate {
  identity: CertificateIdentity;
  sha256: string;
}

// Parsing a certificate costs far more than hashing its bytes; peers present the same few
// certificates on every call, so remember the last ones.
const IDENTITY_CACHE_LIMIT = 64;
const identityCache = new Map<string, PeerCertificate>();

/** The verified client certificate and its fingerprint, or null when the call carries none. */
export function peerCertificate(call: CallWithAuthContext): PeerCertificate | null {
  const raw = call.getAuthContext().sslPeerCertificate?.raw;
  if (!raw || raw.length === 0) return null;
  const key = raw.toString('base64');
  let cert = identityCache.get(key);
  if (!cert) {
    let identity: CertificateIdentity;
    try {
      identity = readCertificateIdentity(raw);
    } catch {
      return null;
    }
    cert = { identity, sha256: createHash('sha256').update(raw).digest('hex') };
    if (identityCache.size >= IDENTITY_CACHE_LIMIT) {
      const oldest = identityCache.keys().next().value;
      if (oldest !== undefined) identityCache.delete(oldest);
    }
    identityCache.set(key, cert);
  }
  return cert;
}

/** The verified client certificate's identity, or null when the call carries none. */
export function peerCertificateIdentity(call: CallWithAuthContext): CertificateIdentity | null {
  return peerCertificate(call)?.identity ?? null;
}

/**
 * Accepts the call only if its certificate is a node certificate (role node, CN in the SAN)
 * naming one of `members`. An admin client certificate is refused whatever its CN.
 */
export function requireClusterMember(
  call: CallWithAuthContext,
  members: ReadonlySet<string> | readonly string[],
): ClusterMemberCheck {
  const identity = peerCertificateIdentity(call);
  const peer = call.getPeer();
  if (!identity) {
    return {
      ok: false,
      reason: 'no-certificate',
      message: `caller ${peer} presented no verified client certificate`,
      code: grpc.status.UNAUTHENTICATED,
      identity: null,
    };
  }
  const nodeId = nodeIdOf(identity);
  if (nodeId === null) {
    return {
      ok: false,
      reason: 'not-a-node-certificate',
      message:
        `caller ${peer} presented a ${identity.role} certificate (CN=${identity.commonName}, serial ` +
        `${identity.serialNumber}), not a cluster node certificate`,
      code: grpc.status.PERMISSION_DENIED,
      identity,
    };
  }
  const isMember = Array.isArray(members)
    ? (members as readonly string[]).includes(nodeId)
    : (members as ReadonlySet<string>).has(nodeId);
  if (!isMember) {
    return {
      ok: false,
      reason: 'not-a-member',
      message: `caller ${peer} is node ${nodeId}, which is not a cluster member`,
      code: grpc.status.PERMISSION_DENIED,
      identity,
    };
  }
  return { ok: true, nodeId, identity };
}
