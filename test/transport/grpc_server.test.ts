import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { createClusterCa, issueClientCertificate, issueNodeCertificate } from '../../src/certs/cluster_certs';
import { silentLogger } from '../../src/log/logger';
import { checkTlsMaterial, createSharedServer, TransportConfigError } from '../../src/transport/grpc_server';
import { requireClusterMember, type CallWithAuthContext } from '../../src/transport/peer_identity';
import { RaftTransport } from '../../src/transport/raft_transport';

function callWith(certPem: string | null): CallWithAuthContext {
  return {
    getAuthContext: () => (certPem ? { sslPeerCertificate: { raw: new X509Certificate(certPem).raw } } : {}),
    getPeer: () => '127.0.0.1:5555',
  };
}

describe('TLS material and peer identity', () => {
  test('checkTlsMaterial accepts a matching node certificate and names what is wrong otherwise', async () => {
    const ca = await createClusterCa();
    const otherCa = await createClusterCa();
    const node = await issueNodeCertificate(ca, 'node3', ['127.0.0.1']);
    const other = await issueNodeCertificate(ca, 'node4', []);
    const foreign = await issueNodeCertificate(otherCa, 'node3', []);
    const admin = await issueClientCertificate(ca, 'admin');

    expect(checkTlsMaterial({ ca: ca.certPem, cert: node.certPem, key: node.keyPem }, 'node')).toBe('node3');
    expect(checkTlsMaterial({ ca: ca.certPem, cert: admin.certPem, key: admin.keyPem }, 'client')).toBe('admin');
    expect(() => checkTlsMaterial({ ca: ca.certPem, cert: foreign.certPem, key: foreign.keyPem }, 'node')).toThrow(
      /not issued by the cluster CA/,
    );
    expect(() => checkTlsMaterial({ ca: ca.certPem, cert: node.certPem, key: other.keyPem }, 'node')).toThrow(
      /does not belong to the TLS certificate/,
    );
    expect(() => checkTlsMaterial({ ca: ca.certPem, cert: admin.certPem, key: admin.keyPem }, 'node')).toThrow(
      /not a node certificate/,
    );
    expect(() => checkTlsMaterial({ ca: ca.certPem, cert: node.certPem, key: node.keyPem }, 'client')).toThrow(
      /not a client certificate/,
    );
    const brokenKey = node.keyPem.replace(/[A-Za-z0-9]{20}/, 'x');
    let message = '';
    try {
      checkTlsMaterial({ ca: ca.certPem, cert: node.certPem, key: brokenKey }, 'node');
    } catch (err) {
      expect(err).toBeInstanceOf(TransportConfigError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/private key/);
    expect(message).not.toContain(brokenKey.split('\n')[1]);
  });

  test('a RaftTransport refuses certificates from another CA before connecting anywhere', async () => {
    const ca = await createClusterCa();
    const foreign = await issueNodeCertificate(await createClusterCa(), 'node0', []);
    const server = createSharedServer();
    try {
      expect(
        () =>
          new RaftTransport({
            selfId: 'node0',
            peers: [{ id: 'node1', address: '127.0.0.1:1' }],
            tls: { ca: ca.certPem, cert: foreign.certPem, key: foreign.keyPem },
            server,
            logger: silentLogger(),
            onMessage: () => undefined,
          }),
      ).toThrow(/not issued by the cluster CA/);
    } finally {
      server.forceShutdown();
    }
  });

  test('requireClusterMember: members pass; no certificate, client certificates and non-members are refused', async () => {
    const ca = await createClusterCa();
    const node1 = await issueNodeCertificate(ca, 'node1', ['127.0.0.1']);
    const node9 = await issueNodeCertificate(ca, 'node9', []);
    const adminNamedNode1 = await issueClientCertificate(ca, 'node1');
    const members = new Set(['node1', 'node2']);

    const ok = requireClusterMember(callWith(node1.certPem), members);
    expect(ok).toMatchObject({ ok: true, nodeId: 'node1' });
    expect(requireClusterMember(callWith(node1.certPem), ['node1'])).toMatchObject({ ok: true, nodeId: 'node1' });

    expect(requireClusterMember(callWith(null), members)).toMatchObject({
      ok: false,
      reason: 'no-certificate',
      code: grpc.status.UNAUTHENTICATED,
    });
    expect(requireClusterMember(callWith(adminNamedNode1.certPem), members)).toMatchObject({
      ok: false,
      reason: 'not-a-node-certificate',
      code: grpc.status.PERMISSION_DENIED,
    });
    const outsider = requireClusterMember(callWith(node9.certPem), members);
    expect(outsider).toMatchObject({ ok: false, reason: 'not-a-member', code: grpc.status.PERMISSION_DENIED });
    expect(!outsider.ok && outsider.message).toMatch(/node9/);
  });
});
