// The authorization table and function (src/transport/authorization.ts): every RPC the proto files
// define has an entry, and the whole matrix of RPCs against caller roles, revocation by serial
// number and by fingerprint, and the guard that puts the check in front of every handler.
// test/node/rpc_authorization.test.ts runs the same matrix against a running node.

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createHash, X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createClusterCa, issueClientCertificate, issueNodeCertificate } from '../../src/certs/cluster_certs';
import { readCertificateIdentity } from '../../src/certs/certificate_identity';
import { silentLogger } from '../../src/log/logger';
import {
  authorize,
  CallAuthorizer,
  guardService,
  Membership,
  NO_REVOCATIONS,
  normalizeSerial,
  revocationList,
  RPC,
  RPC_ROLES,
  RpcPath,
  UnknownRpcError,
} from '../../src/transport/authorization';
import { PeerCertificate } from '../../src/transport/peer_identity';
import { PROTO_DIR, PROTO_LOADER_OPTIONS } from '../../src/transport/proto_loader';

/** Every method of every service in proto/*.proto, as its gRPC path. */
function protoRpcPaths(): string[] {
  const paths: string[] = [];
  for (const file of fs.readdirSync(PROTO_DIR).filter((f) => f.endsWith('.proto')).sort()) {
    const definition = protoLoader.loadSync(path.join(PROTO_DIR, file), PROTO_LOADER_OPTIONS);
    for (const value of Object.values(definition)) {
      if ('format' in value) continue; // a message or enum type
      for (const method of Object.values(value as protoLoader.ServiceDefinition)) paths.push(method.path);
    }
  }
  return paths.sort();
}

function peerCert(pem: string): PeerCertificate {
  const raw = new X509Certificate(pem).raw;
  return { identity: readCertificateIdentity(raw), sha256: createHash('sha256').update(raw).digest('hex') };
}

type Caller = 'admin' | 'voter' | 'learner' | 'removed' | 'never added' | 'revoked voter' | 'unknown role' | 'none';
const CALLERS: Caller[] = ['admin', 'voter', 'learner', 'removed', 'never added', 'revoked voter', 'unknown role', 'none'];

/** The expected table, written out independently of RPC_ROLES: x = allowed. */
const EXPECTED: Record<RpcPath, Partial<Record<Caller, true>>> = {
  [RPC.RaftStream]: { voter: true, learner: true },
  [RPC.RaftFounding]: { voter: true, learner: true },
  [RPC.SignerSign]: { voter: true },
  [RPC.SignerDecide]: { voter: true },
  [RPC.SignerForward]: { voter: true },
  [RPC.AdminStatus]: { admin: true, voter: true, learner: true },
  [RPC.AdminChainState]: { admin: true, voter: true, learner: true },
  [RPC.AdminImportState]: { admin: true, voter: true },
  [RPC.AdminTransferLeader]: { admin: true, voter: true },
  [RPC.AdminAddLearner]: { admin: true, voter: true },
  [RPC.AdminPromote]: { admin: true, voter: true },
  [RPC.AdminRemove]: { admin: true, voter: true },
  [RPC.HealthCheck]: { admin: true, voter: true, learner: true },
  [RPC.HealthWatch]: { admin: true, voter: true, learner: true },
};

describe('the authorization table', () => {
  test('has exactly one entry for every RPC of every service in proto/', () => {
    expect(Object.keys(RPC_ROLES).sort()).toEqual(protoRpcPaths());
    expect(Object.keys(EXPECTED).sort()).toEqual(protoRpcPaths());
  });
});

describe('authorize', () => {
  const certs = {} as Record<Exclude<Caller, 'none'>, PeerCertificate>;
  let revokedSerial: string;
  // node3 was a member and was removed: the committed membership no longer names it.
  const membership: Membership = { voters: ['node0', 'node1'], learners: ['node2'], joiningPeers: ['node1', 'node9'] };

  beforeAll(async () => {
    const ca = await createClusterCa();
    certs.admin = peerCert((await issueClientCertificate(ca, 'admin')).certPem);
    certs.voter = peerCert((await issueNodeCertificate(ca, 'node1', [])).certPem);
    certs.learner = peerCert((await issueNodeCertificate(ca, 'node2', [])).certPem);
    certs.removed = peerCert((await issueNodeCertificate(ca, 'node3', [])).certPem);
    certs['never added'] = peerCert((await issueNodeCertificate(ca, 'node7', [])).certPem);
    // A second certificate of voter node1 (a stolen key, say), revoked by serial number.
    certs['revoked voter'] = peerCert((await issueNodeCertificate(ca, 'node1', [])).certPem);
    revokedSerial = certs['revoked voter'].identity.serialNumber;
    // A node certificate whose CN is not among its SANs is not a well-formed node certificate.
    const odd = peerCert((await issueNodeCertificate(ca, 'node1', [])).certPem);
    certs['unknown role'] = { ...odd, identity: { ...odd.identity, role: 'unknown' } };
  });

  test('the full matrix: every RPC against every kind of caller', () => {
    const revoked = revocationList({ serials: [revokedSerial] });
    const got: Record<string, Record<string, string>> = {};
    const want: Record<string, Record<string, string>> = {};
    for (const rpc of Object.keys(EXPECTED) as RpcPath[]) {
      got[rpc] = {};
      want[rpc] = {};
      for (const caller of CALLERS) {
        const result = authorize(rpc, caller === 'none' ? null : certs[caller], membership, revoked);
        got[rpc][caller] = result.ok ? `ok as ${result.role}` : `${grpc.status[result.code]} ${result.reason}`;
        const expected = EXPECTED[rpc][caller] === true;
        want[rpc][caller] = expected
          ? `ok as ${caller}`
          : caller === 'none'
            ? 'UNAUTHENTICATED no-certificate'
            : `PERMISSION_DENIED ${
                {
                  admin: 'role-not-allowed',
                  voter: 'role-not-allowed',
                  learner: 'role-not-allowed',
                  removed: 'not-a-member',
                  'never added': 'not-a-member',
                  'revoked voter': 'revoked',
                  'unknown role': 'not-a-cluster-certificate',
                }[caller]
              }`;
      }
    }
    expect(got).toEqual(want);
  });

  test('refusals say what the RPC accepts and what the caller presented', () => {
    const admin = authorize(RPC.SignerSign, certs.admin, membership, NO_REVOCATIONS);
    expect(admin).toMatchObject({
      ok: false,
      message: "it accepts only a voter's node certificate; the caller presented the admin client certificate (CN=admin)",
    });
    const learner = authorize(RPC.AdminPromote, certs.learner, membership, NO_REVOCATIONS);
    expect(learner).toMatchObject({
      ok: false,
      message: "it accepts only the admin client certificate or a voter's node certificate; the caller presented the node certificate of node2, a learner",
    });
    const removed = authorize(RPC.RaftStream, certs.removed, membership, NO_REVOCATIONS);
    expect(removed).toMatchObject({ ok: false, message: 'the caller is node node3, which is not a cluster member (voters: node0, node1; learners: node2)' });
  });

  test('a certificate is revoked by serial number or SHA-256 fingerprint, however it is written', () => {
    const voter = certs.voter;
    const withColons = (hex: string): string => hex.toUpperCase().match(/../g)?.join(':') ?? hex;
    for (const list of [
      revocationList({ serials: [voter.identity.serialNumber.toUpperCase()] }),
      revocationList({ serials: [withColons(voter.identity.serialNumber)] }),
      revocationList({ serials: [`00${voter.identity.serialNumber}`] }),
      revocationList({ sha256: [withColons(voter.sha256)] }),
      revocationList({ sha256: [voter.sha256] }),
    ]) {
      expect(authorize(RPC.SignerSign, voter, membership, list)).toMatchObject({ ok: false, reason: 'revoked' });
      expect(authorize(RPC.SignerSign, certs.learner, membership, list)).toMatchObject({ ok: false, reason: 'role-not-allowed' });
    }
    // Revoking one certificate of a node leaves its other certificates alone.
    expect(authorize(RPC.SignerSign, voter, membership, revocationList({ serials: [revokedSerial] }))).toMatchObject({ ok: true, role: 'voter' });
    expect(normalizeSerial('00:0A:bc')).toBe('abc');
  });

  test('config.yaml peers may speak Raft and read only while this node knows no membership', () => {
    const joining: Membership = { voters: [], learners: [], joiningPeers: ['node1'] };
    expect(authorize(RPC.RaftStream, certs.voter, joining, NO_REVOCATIONS)).toMatchObject({ ok: true, role: 'joining-peer' });
    expect(authorize(RPC.AdminStatus, certs.voter, joining, NO_REVOCATIONS)).toMatchObject({ ok: true, role: 'joining-peer' });
    for (const rpc of [RPC.SignerSign, RPC.SignerForward, RPC.SignerDecide, RPC.AdminAddLearner]) {
      expect(authorize(rpc, certs.voter, joining, NO_REVOCATIONS)).toMatchObject({ ok: false, reason: 'role-not-allowed' });
    }
    expect(authorize(RPC.RaftStream, certs.learner, joining, NO_REVOCATIONS)).toMatchObject({ ok: false, reason: 'not-a-member' });
    // Once there is a membership, config.yaml's peers count for nothing: node9 is no member.
    const ninth = { ...certs['never added'], identity: { ...certs['never added'].identity, commonName: 'node9', dnsNames: ['node9'] } };
    expect(authorize(RPC.RaftStream, ninth, membership, NO_REVOCATIONS)).toMatchObject({ ok: false, reason: 'not-a-member' });
  });
});

describe('guardService', () => {
  const authorizer = new CallAuthorizer({ nodeId: 'node0', membership: () => ({ voters: ['node0'], learners: [] }), revoked: NO_REVOCATIONS, logger: silentLogger() });

  test('refuses to guard a service with a method the table does not know', () => {
    const definition = {
      Sign: { path: RPC.SignerSign, requestStream: false, responseStream: false },
      Sneak: { path: '/raftsigner.signer.v1.Signer/Sneak', requestStream: false, responseStream: false },
    } as unknown as grpc.ServiceDefinition;
    expect(() => guardService(definition, { Sign: () => undefined }, authorizer)).toThrow(UnknownRpcError);
    // Even when the unknown method is not implemented: a later implementation would be unguarded.
    expect(() => guardService(definition, {}, authorizer)).toThrow(/no authorization rule for \/raftsigner\.signer\.v1\.Signer\/Sneak/);
  });

  test('a refused call never reaches its handler', () => {
    const definition = { Sign: { path: RPC.SignerSign, requestStream: false, responseStream: false } } as unknown as grpc.ServiceDefinition;
    let reached = 0;
    const guarded = guardService(definition, { Sign: () => reached++ }, authorizer);
    const statuses: Array<Partial<grpc.StatusObject> | null> = [];
    const call = { getAuthContext: () => ({}), getPeer: () => '127.0.0.1:1' };
    (guarded.Sign as (c: unknown, cb: (e: Partial<grpc.StatusObject> | null) => void) => void)(call, (e) => statuses.push(e));
    expect(reached).toBe(0);
    expect(statuses).toEqual([expect.objectContaining({ code: grpc.status.UNAUTHENTICATED, details: expect.stringMatching(/^node node0 refuses Signer\.Sign: /) })]);
  });
});
