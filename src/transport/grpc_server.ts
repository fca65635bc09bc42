// The one gRPC server of a node and the TLS credentials of its connections. The server is shared:
// the Raft transport registers its service here, and so do the Signer, Admin and health services,
// so this module only creates, binds and stops it. Every connection is mutual TLS against the
// cluster CA, with a client certificate required: nothing reaches a handler unauthenticated. With
// an authorizer, every handler of every service added is preceded by its RPC's authorization check
// (authorization.ts), so no handler can forget it.

import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { nodeIdOf, readCertificateIdentity } from '../certs/certificate_identity';
import { CallAuthorizer, guardService, isRevoked, RevocationList } from './authorization';
import { RaftSignerError } from '../util/errors';

/** PEM strings. `key` is secret: it is never logged or put in an error message. */
export interface TlsPem {
  /** The cluster CA certificate. */
  ca: string;
  /** This node's (or client's) certificate. */
  cert: string;
  key: string;
}

export class TransportConfigError extends RaftSignerError<{ code: 'TRANSPORT_CONFIG' }> {
  constructor(message: string, options?: { cause?: unknown }) {
    super({ code: 'TRANSPORT_CONFIG' }, message, options);
    this.name = 'TransportConfigError';
  }
}

/** Default largest message in either direction; Raft snapshots are the big ones. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export interface SharedServerOptions {
  /** Largest message any service on this server accepts (default DEFAULT_MAX_MESSAGE_BYTES). */
  maxReceiveMessageBytes?: number;
  /** Largest message any service on this server sends (default DEFAULT_MAX_MESSAGE_BYTES). */
  maxSendMessageBytes?: number;
  /** Ping idle clients this often to notice ones that vanished without closing (default 20 s). */
  keepaliveTimeMs?: number;
  /** Drop a connection whose ping is not answered within this time (default 10 s). */
  keepaliveTimeoutMs?: number;
  /**
   * Checks every call before its handler (a node always sets it). Adding a service with a method
   * the authorization table does not know then throws.
   */
  authorizer?: CallAuthorizer;
}

/** A server whose every handler is guarded by the authorizer (see guardService). */
class AuthorizedServer extends grpc.Server {
  constructor(
    options: grpc.ServerOptions,
    private readonly authorizer: CallAuthorizer,
  ) {
    super(options);
  }

  override addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void {
    super.addService(service, guardService(service, implementation, this.authorizer));
  }
}

/**
 * Throws unless `server` checks every call's authorization (createSharedServer with an
 * authorizer): the Signer, Admin and health services refuse to be served without it.
 */
export function assertAuthorizedServer(server: grpc.Server, service: string): void {
  if (!(server instanceof AuthorizedServer)) {
    throw new TransportConfigError(`the ${service} service needs a server that authorizes every call: create it with createSharedServer({ authorizer })`);
  }
}

export function createSharedServer(options: SharedServerOptions = {}): grpc.Server {
  const serverOptions: grpc.ServerOptions = {
    'grpc.max_receive_message_length': positive(options.maxReceiveMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, 'maxReceiveMessageBytes'),
    'grpc.max_send_message_length': positive(options.maxSendMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, 'maxSendMessageBytes'),
    'grpc.keepalive_time_ms': positive(options.keepaliveTimeMs ?? 20_000, 'keepaliveTimeMs'),
    'grpc.keepalive_timeout_ms': positive(options.keepaliveTimeoutMs ?? 10_000, 'keepaliveTimeoutMs'),
  };
  return options.authorizer ? new AuthorizedServer(serverOptions, options.authorizer) : new grpc.Server(serverOptions);
}

/**
 * Server credentials: our node certificate, and a client certificate signed by the cluster CA
 * required on every connection (TLS refuses the handshake otherwise).
 */
export function serverCredentials(tls: TlsPem): grpc.ServerCredentials {
  checkTlsMaterial(tls, 'node');
  return grpc.ServerCredentials.createSsl(
    Buffer.from(tls.ca),
    [{ cert_chain: Buffer.from(tls.cert), private_key: Buffer.from(tls.key) }],
    true,
  );
}

/**
 * Binds `server` to `address` ("host:port"; port 0 picks a free one) and starts serving. Services
 * may be added before or after. Returns the bound port.
 */
export async function bindSharedServer(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.bindAsync(address, credentials, (err, port) => {
      if (err) {
        reject(new TransportConfigError(`cannot listen on ${address}: ${err.message}`, { cause: err }));
      } else {
        resolve(port);
      }
    });
  });
}

/**
 * Stops `server`: lets calls in flight finish for up to `graceMs`, then cuts whatever is left
 * (long-lived Raft streams never finish by themselves).
 */
export async function stopSharedServer(server: grpc.Server, graceMs = 1000): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Client credentials for calling a cluster node. The server's certificate must chain to the
 * cluster CA and be a node certificate; with `expectedNodeId` it must name exactly that node
 * (so a connection to a mistyped or re-assigned address never reaches the wrong peer). Host names
 * and IPs in the certificate are not checked: the node id is the identity, addresses may change.
 * A server certificate on `revoked` is refused too.
 */
export function clusterChannelCredentials(
  tls: TlsPem,
  expectedNodeId?: string,
  ownRole: 'node' | 'client' = 'node',
  revoked?: RevocationList,
): grpc.ChannelCredentials {
  checkTlsMaterial(tls, ownRole);
  const checkServerIdentity = (_hostname: string, cert: { raw?: Buffer }): Error | undefined => {
    // Called by Node's TLS only after the chain verified against `ca`.
    if (!cert.raw) return new Error('the server presented no certificate');
    let serverNodeId: string | null;
    try {
      serverNodeId = nodeIdOf(readCertificateIdentity(cert.raw));
    } catch (err) {
      return new Error(`the server certificate is unreadable: ${(err as Error).message}`);
    }
    if (serverNodeId === null) return new Error('the server certificate is not a cluster node certificate');
    if (revoked !== undefined) {
      const identity = readCertificateIdentity(cert.raw);
      if (isRevoked(revoked, { identity, sha256: createHash('sha256').update(cert.raw).digest('hex') })) {
        return new Error(`the server certificate of node ${serverNodeId} (serial ${identity.serialNumber}) is revoked (revokedCertificates in config.yaml)`);
      }
    }
    if (expectedNodeId !== undefined && serverNodeId !== expectedNodeId) {
      return new Error(`the server is node ${serverNodeId}, expected node ${expectedNodeId}`);
    }
    return undefined;
  };
  try {
    return grpc.credentials.createSsl(Buffer.from(tls.ca), Buffer.from(tls.key), Buffer.from(tls.cert), {
      checkServerIdentity: checkServerIdentity as grpc.VerifyOptions['checkServerIdentity'],
    });
  } catch (err) {
    // OpenSSL's message names the failing structure, never the key bytes.
    throw new TransportConfigError(`cannot use the TLS certificate/key: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Checks, before any connection, that `tls.cert` is issued by `tls.ca`, matches `tls.key` and has
 * the expected role. Returns the certificate's name (node id or client name).
 */
export function checkTlsMaterial(tls: TlsPem, role: 'node' | 'client'): string {
  let ca: X509Certificate;
  let cert: X509Certificate;
  try {
    ca = new X509Certificate(tls.ca);
  } catch (err) {
    throw new TransportConfigError(`the cluster CA is not a PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  try {
    cert = new X509Certificate(tls.cert);
  } catch (err) {
    throw new TransportConfigError(`the TLS certificate is not a PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    throw new TransportConfigError(
      `the TLS certificate (${cert.subject.replace(/\n/g, ', ')}) was not issued by the cluster CA ` +
        `(${ca.subject.replace(/\n/g, ', ')}): issue it with this cluster's CA`,
    );
  }
  let keyMatches: boolean;
  try {
    keyMatches = cert.checkPrivateKey(createPrivateKey(tls.key));
  } catch (err) {
    throw new TransportConfigError(`the TLS private key is not a readable PEM key: ${(err as Error).message}`, { cause: err });
  }
  if (!keyMatches) throw new TransportConfigError('the TLS private key does not belong to the TLS certificate');
  const identity = readCertificateIdentity(cert.raw);
  if (role === 'node') {
    const nodeId = nodeIdOf(identity);
    if (nodeId === null) {
      throw new TransportConfigError(
        `the TLS certificate (CN=${identity.commonName}) is not a node certificate: issue one with issueNodeCertificate`,
      );
    }
    return nodeId;
  }
  if (identity.role !== 'client') {
    throw new TransportConfigError(`the TLS certificate (CN=${identity.commonName}) is not a client certificate`);
  }
  return identity.commonName;
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new TransportConfigError(`${name} must be a positive whole number, got ${value}`);
  }
  return value;
}
