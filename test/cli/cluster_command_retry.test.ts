// How the cluster commands find the leader and when they give up, with a scripted cluster: a
// follower's redirect is followed, transient refusals are retried, permanent ones reported at
// once, and a timeout names the last answer and the members that did not answer.

import * as grpc from '@grpc/grpc-js';
import { AdminConnection, withLeader } from '../../src/cli/cluster_command';
import { CliError } from '../../src/cli/cli_errors';
import { AdminTarget } from '../../src/transport/admin_client';
import { AdminError, NotLeaderAdminError } from '../../src/transport/admin_errors';

const connection: AdminConnection = {
  endpoints: [
    { id: 'node0', address: '10.0.0.0:7000' },
    { id: 'node1', address: '10.0.0.1:7000' },
  ],
  credentialsFor: () => grpc.credentials.createInsecure(),
};

/** What a grpc-js client rejects with when the node answered with `e`. */
function wire(e: AdminError): grpc.ServiceError {
  const s = e.toServiceError();
  return Object.assign(new Error(s.details), { code: s.code as grpc.status, details: s.details as string, metadata: s.metadata as grpc.Metadata });
}

function unreachable(): grpc.ServiceError {
  return Object.assign(new Error('14 UNAVAILABLE: No connection established'), {
    code: grpc.status.UNAVAILABLE,
    details: 'No connection established',
    metadata: new grpc.Metadata(),
  });
}

describe('withLeader', () => {
  test('follows a follower to the leader it names, checking that the leader is that node', async () => {
    const asked: string[] = [];
    const { result, answeredBy } = await withLeader(connection, 5000, async (t: AdminTarget) => {
      asked.push(`${t.serverName}@${t.address}`);
      if (t.address === '10.0.0.0:7000') throw wire(new NotLeaderAdminError('node0', 'node2', '10.0.0.2:7000'));
      return 'done';
    });
    expect(result).toBe('done');
    expect(answeredBy).toEqual({ id: 'node2', address: '10.0.0.2:7000' });
    expect(asked).toEqual(['node0@10.0.0.0:7000', 'node2@10.0.0.2:7000']);
  });

  test('skips members that do not answer, and retries the leader while it says "not now"', async () => {
    let tries = 0;
    const { result } = await withLeader(connection, 5000, async (t) => {
      if (t.address === '10.0.0.0:7000') throw unreachable();
      tries += 1;
      if (tries < 3) throw wire(new AdminError('learner-not-caught-up', 'node node1 (leader): learner node3 is not replicating yet', 'node1'));
      return tries;
    });
    expect(result).toBe(3);
  });

  test('a permanent refusal is reported at once with the message of the node that answered', async () => {
    let calls = 0;
    const run = withLeader(connection, 5000, async () => {
      calls += 1;
      throw wire(new AdminError('not-a-member', 'node node0 (leader): node9 is not a member (voters: node0, node1; learners: none)', 'node0'));
    });
    await expect(run).rejects.toThrow(new CliError('node node0 (leader): node9 is not a member (voters: node0, node1; learners: none)'));
    expect(calls).toBe(1);
  });

  test('no leader anywhere: gives up at the timeout with the last answer and who did not answer', async () => {
    const started = Date.now();
    const run = withLeader(connection, 800, async (t) => {
      if (t.address === '10.0.0.1:7000') throw unreachable();
      throw wire(new NotLeaderAdminError('node0', null));
    });
    await expect(run).rejects.toThrow(
      /^gave up after 800 ms; the last answer: node node0 is not the leader and knows no leader: .*\(no answer from node1 \(10\.0\.0\.1:7000\): No connection established\)$/,
    );
    expect(Date.now() - started).toBeLessThan(3000);
  });

  test('nobody answers: says so and what to check', async () => {
    await expect(withLeader(connection, 300, async () => Promise.reject(unreachable()))).rejects.toThrow(
      /^no member answered within 300 ms \(node0 \(10\.0\.0\.0:7000\): No connection established; node1 .*\); check that the nodes run/,
    );
  });
});
