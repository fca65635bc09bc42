// Who may change the cluster through the Admin service, and how a refusal travels: an AdminError
// on the node becomes a gRPC status with metadata, and the client gets the same AdminError back.

import * as grpc from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { createClusterCa, issueClientCertificate, issueNodeCertificate } from '../../src/certs/cluster_certs';
import {
  AdminError,
  adminErrorOf,
  authorizeAdminChange,
  callBudgetMs,
  NotLeaderAdminError,
  RETRYABLE_ADMIN_ERRORS,
} from '../../src/node/admin_service';
import { CallWithAuthContext } from '../../src/transport/peer_identity';

function callWith(pem: string | null): CallWithAuthContext {
  const raw = pem === null ? undefined : new X509Certificate(pem).raw;
  return { getAuthContext: () => ({ sslPeerCertificate: raw ? { raw } : undefined }), getPeer: () => '127.0.0.1:5555' };
}

describe('authorizeAdminChange', () => {
  let adminPem: string;
  let voterPem: string;
  let learnerPem: string;
  const voters = ['node0', 'node1', 'node2'];

  beforeAll(async () => {
    const ca = await createClusterCa();
    adminPem = (await issueClientCertificate(ca, 'admin')).certPem;
    voterPem = (await issueNodeCertificate(ca, 'node1', ['127.0.0.1'])).certPem;
    learnerPem = (await issueNodeCertificate(ca, 'node3', ['127.0.0.1'])).certPem;
  });

  test('an admin client certificate and a voter node certificate may make changes', () => {
    expect(authorizeAdminChange(callWith(adminPem), 'node0', voters)).toEqual({ ok: true, caller: 'admin client admin' });
    expect(authorizeAdminChange(callWith(voterPem), 'node0', voters)).toEqual({ ok: true, caller: 'node node1' });
  });

  test('a learner or removed node certificate, or none, may not; the refusal says what to use instead', () => {
    const learner = authorizeAdminChange(callWith(learnerPem), 'node0', voters);
    expect(learner.ok).toBe(false);
    if (learner.ok) return;
    expect(learner.error.code).toBe('not-authorized');
    expect(learner.error.message).toBe(
      'node node0 refuses the change: the caller presented the node certificate of node3, which is not a voter (voters: node0, node1, node2); ' +
        'use the admin client certificate (--admin DIR) or the home of a voter (--home)',
    );
    expect(learner.error.toServiceError().code).toBe(grpc.status.PERMISSION_DENIED);
    const none = authorizeAdminChange(callWith(null), 'node0', voters);
    expect(none.ok || none.error.message).toMatch(/no verified client certificate/);
  });
});

describe('AdminError on the wire', () => {
  test('a not-leader refusal carries the leader and its address to the client', () => {
    const sent = new NotLeaderAdminError('node2', 'node0', '10.0.0.1:26700');
    expect(sent.message).toBe('node node2 is not the leader; send this to the leader, node0 (10.0.0.1:26700)');
    const status = sent.toServiceError();
    expect(status.code).toBe(grpc.status.FAILED_PRECONDITION);
    // What a grpc-js client sees: a ServiceError with the trailing metadata.
    const received = adminErrorOf({ code: status.code, details: status.details, metadata: status.metadata, message: 'x' });
    expect(received).toBeInstanceOf(AdminError);
    expect(received).toMatchObject({ code: 'not-leader', nodeId: 'node2', leader: { id: 'node0', address: '10.0.0.1:26700' }, message: sent.message });
    expect(received?.retryable).toBe(true);
  });

  test('no leader known is its own code, and says what to do', () => {
    const e = new NotLeaderAdminError('node2', null);
    expect(e.code).toBe('no-leader');
    expect(e.message).toMatch(/knows no leader: an election is running or the cluster has no quorum right now; check `raft-signer status`/);
    expect(e.toServiceError().code).toBe(grpc.status.UNAVAILABLE);
  });

  test('errors that are not admin refusals are not taken for one', () => {
    expect(adminErrorOf(new Error('boom'))).toBeNull();
    expect(adminErrorOf({ code: grpc.status.UNAVAILABLE, details: 'No connection established', metadata: new grpc.Metadata() })).toBeNull();
  });

  test('only transient refusals are retried', () => {
    expect([...RETRYABLE_ADMIN_ERRORS].sort()).toEqual(
      ['change-pending', 'learner-not-caught-up', 'lost', 'no-leader', 'not-leader', 'term-not-committed', 'transfer-in-progress', 'unreachable'].sort(),
    );
  });

  test('a call budget follows the caller deadline, within bounds', () => {
    expect(callBudgetMs({ getDeadline: () => Infinity }, 1234)).toBe(1234);
    const soon = callBudgetMs({ getDeadline: () => Date.now() + 5000 }, 1234);
    expect(soon).toBeGreaterThan(4800);
    expect(soon).toBeLessThanOrEqual(4900);
    expect(callBudgetMs({ getDeadline: () => new Date(Date.now() - 10) }, 1234)).toBe(200);
  });
});
