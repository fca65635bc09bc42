// How an Admin refusal travels: an AdminError on the node becomes a gRPC status with metadata, and
// the client gets the same AdminError back. (Who may call what: test/transport/authorization.test.ts.)

import * as grpc from '@grpc/grpc-js';
import { AdminError, adminErrorOf, decorateAdminRefusal, NotLeaderAdminError, RETRYABLE_ADMIN_ERRORS } from '../../src/transport/admin_errors';
import { callBudgetMs } from '../../src/transport/admin_server';
import { RPC } from '../../src/transport/authorization';

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

  test('an authorization refusal of an Admin call reaches the CLI as not-authorized, with what to use instead', () => {
    const decorate = decorateAdminRefusal('node0');
    const refused = { code: grpc.status.PERMISSION_DENIED, details: 'node node0 refuses Admin.Promote: it accepts only ...', metadata: new grpc.Metadata() };
    const status = decorate(RPC.AdminPromote, refused);
    const received = adminErrorOf({ ...status, message: 'x' });
    expect(received).toMatchObject({ code: 'not-authorized', nodeId: 'node0', retryable: false });
    expect(received?.message).toBe(`${refused.details}; use the admin client certificate (--admin DIR) or the home of a voter (--home)`);
    expect(decorate(RPC.AdminStatus, refused).details).toMatch(/or the home of a member \(--home\)$/);
    // Other services' refusals are left as they are.
    expect(decorate(RPC.SignerSign, refused)).toBe(refused);
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
