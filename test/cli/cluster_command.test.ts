// `raft-signer cluster ...` against real `raft-signer start` processes, as an operator runs them:
// leadership transfer to a chosen node (asking a follower, which points at the leader), an
// active-passive standby's whole life (add it as a learner, watch it catch up while it refuses to
// sign, promote it, let it lead, remove it), and the refusals an operator meets: not a member, not
// authorized, no quorum. Runs the built CLI (npm test builds first).

import * as grpc from '@grpc/grpc-js';
import fs from 'node:fs';
import { NodeStatusView } from '../../src/transport/admin_views';
import { fetchNodeStatus } from '../../src/transport/admin_client';
import { ProcessCluster, waitFor } from '../../src/harness/process_cluster';
import { signThroughNode } from '../../src/transport/signer_client';
import { SignOutcome } from '../../src/cometbft/sign_types';
import { clusterChannelCredentials, TlsPem } from '../../src/transport/grpc_server';
import { voteRequest } from '../support/sign_requests';
import { ExtraNode, makeJoiningNode } from './cluster_command_support';

const CHAIN = 'admin-chain';

interface StatusJson {
  leader: string | null;
  nodes: { id: string; role: string; commitIndex: number | null; appliedIndex: number | null }[];
  reachable: number;
  majority: number;
  learners: string[];
}

describe('cluster commands against a real cluster', () => {
  let cluster: ProcessCluster;
  let standby: ExtraNode;
  let adminTls: TlsPem;
  let pubKey: Uint8Array;
  let height = 10;

  const admin = (): string[] => ['--admin', cluster.testnet.adminDir];
  const addressOf = (id: string): string => cluster.testnet.nodes.find((n) => n.id === id)?.address as string;
  const adminCredentials = (id: string): grpc.ChannelCredentials => clusterChannelCredentials(adminTls, id, 'client');

  async function status(via = 'node0'): Promise<StatusJson> {
    const r = await cluster.cli(['status', '--home', cluster.home(via), '--json']);
    return JSON.parse(r.stdout) as StatusJson;
  }

  function standbyStatus(): Promise<NodeStatusView> {
    return fetchNodeStatus(standby.address, adminCredentials(standby.id), standby.id, 1000);
  }

  /** A Sign call to node `id`, made with voter node0's certificate (Sign accepts only a voter's). */
  function signVia(address: string, id: string): Promise<SignOutcome> {
    height += 1;
    const credentials = clusterChannelCredentials(cluster.nodeTls('node0'), id, 'node');
    return signThroughNode(address, credentials, id, voteRequest(CHAIN, pubKey, { height, type: 'prevote', block: 'A' }), 4000);
  }

  beforeAll(async () => {
    cluster = await ProcessCluster.create({ nodes: 3, chainId: CHAIN });
    adminTls = {
      ca: fs.readFileSync(cluster.testnet.adminCaFile, 'utf8'),
      cert: fs.readFileSync(cluster.testnet.adminCertFile, 'utf8'),
      key: fs.readFileSync(cluster.testnet.adminKeyFile, 'utf8'),
    };
    pubKey = cluster.validatorKey().publicKey;
    cluster.startAll();
    await cluster.waitForLeader();
    standby = await makeJoiningNode(cluster, 'node3', CHAIN);
  });

  afterAll(async () => {
    await standby?.kill();
    await cluster?.destroy();
  });

  test('transfer-leader --to hands leadership to the chosen node, whichever member is asked', async () => {
    const leader = await cluster.waitForLeader();
    const [target, other] = cluster.ids.filter((id) => id !== leader);
    // Asked through a follower that is not the target: it names the leader, and the CLI goes there.
    const r = await cluster.cli(['cluster', 'transfer-leader', '--to', target, ...admin(), '--endpoints', addressOf(other)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`leadership moved from ${leader} to ${target} \\(term \\d+\\)`));
    expect(await cluster.waitForLeader()).toBe(target);

    // Without --to, from a voter's home: the most up-to-date other voter takes over.
    const again = await cluster.cli(['cluster', 'transfer-leader', '--home', cluster.home(other), '--json']);
    expect(again.code).toBe(0);
    const moved = JSON.parse(again.stdout) as { from: string; leader: string };
    expect(moved.from).toBe(target);
    expect(moved.leader).not.toBe(target);

    // To the leader itself: nothing to do.
    const same = await cluster.cli(['cluster', 'transfer-leader', '--to', moved.leader, '--home', cluster.home('node0')]);
    expect(same.code).toBe(0);
    expect(same.stdout).toMatch(/already leads/);
  });

  test('refusals say which node answered and what to do', async () => {
    const notVoter = await cluster.cli(['cluster', 'transfer-leader', '--to', 'node9', '--home', cluster.home('node1')]);
    expect(notVoter.code).toBe(1);
    expect(notVoter.stderr).toMatch(/^error: node node\d \(leader\): node9 is not a voter \(voters: node0, node1, node2\)/);

    const notLearner = await cluster.cli(['cluster', 'promote', '--id', 'node9', '--home', cluster.home('node2')]);
    expect(notLearner.code).toBe(1);
    expect(notLearner.stderr).toMatch(/node9 is not a learner .*add it first \(raft-signer cluster add-learner --id node9/);

    const notMember = await cluster.cli(['cluster', 'remove', '--id', 'node9', ...admin(), '--endpoints', addressOf('node0')]);
    expect(notMember.code).toBe(1);
    expect(notMember.stderr).toMatch(/node9 is not a member \(voters: node0, node1, node2; learners: none\)/);

    const both = await cluster.cli(['cluster', 'transfer-leader', '--home', cluster.home('node0'), ...admin()]);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/either --home DIR .* or --admin DIR/);

    const noEndpoint = await cluster.cli(['cluster', 'transfer-leader', ...admin()]);
    expect(noEndpoint.code).toBe(1);
    expect(noEndpoint.stderr).toMatch(/--admin needs --endpoints/);

    const badAddress = await cluster.cli(['cluster', 'add-learner', '--id', 'node7', '--address', 'nowhere', '--home', cluster.home('node0')]);
    expect(badAddress.code).toBe(2);
  });

  test('a learner replicates everything and signs nothing until promoted; promoted, it signs and can lead; removed, it stops signing', async () => {
    standby.start();
    // Before it is added, it knows no membership and refuses to sign.
    const before = await waitFor('the new node to answer', 20_000, () => standbyStatus());
    expect(before.voters).toEqual([]);

    // Something in the log for it to catch up on.
    expect((await signVia(addressOf('node0'), 'node0')).kind).toBe('signed');

    const add = await cluster.cli(['cluster', 'add-learner', '--id', 'node3', '--address', standby.address, '--home', cluster.home('node1')]);
    expect(add.stderr).toBe('');
    expect(add.code).toBe(0);
    expect(add.stdout).toMatch(/done \(entry \d+, committed\): node3 is a learner at 127\.0\.0\.1:\d+/);
    expect(add.stdout).toMatch(/voters: node0, node1, node2; learners: node3/);

    // It catches up with the log (the record of the signature above included).
    const caughtUp = await waitFor('the learner to catch up', 20_000, async () => {
      const [mine, s] = await Promise.all([standbyStatus(), status()]);
      const leaderRow = s.nodes.find((n) => n.id === s.leader);
      return mine.role === 'learner' && leaderRow && mine.appliedIndex >= (leaderRow.commitIndex ?? Infinity) ? mine : undefined;
    });
    expect(caughtUp.chains.map((c) => c.height)).toEqual([String(height)]);
    // status lists it (it is not in config.yaml) without counting it towards the majority.
    const s = await status();
    expect(s.nodes.find((n) => n.id === 'node3')?.role).toBe('learner');
    expect(s.learners).toEqual(['node3']);
    expect(s.majority).toBe(2);
    const table = await cluster.cli(['status', '--home', cluster.home('node0')]);
    expect(table.stdout).toMatch(/leader: node\d; 3 of 3 nodes answered/);
    expect(table.stdout).toMatch(/learners \(replicate, do not vote or sign\): node3/);

    // A learner refuses at once: it neither forwards to the leader nor releases.
    const refused = await signVia(standby.address, 'node3');
    expect(refused).toMatchObject({ kind: 'refused' });
    expect(refused.kind === 'refused' && refused.message).toMatch(/node3 is a learner \(passive standby\): it signs nothing until promoted/);
    // Re-adding it is not an error (a retried command), at another address it is.
    const twice = await cluster.cli(['cluster', 'add-learner', '--id', 'node3', '--address', standby.address, ...admin(), '--endpoints', addressOf('node2')]);
    expect(twice.code).toBe(0);
    expect(twice.stdout).toMatch(/nothing to do: node3 is already a learner/);
    const moved = await cluster.cli(['cluster', 'add-learner', '--id', 'node3', '--address', '127.0.0.1:1', '--home', cluster.home('node0')]);
    expect(moved.code).toBe(1);
    expect(moved.stderr).toMatch(/node3 is already a learner at 127\.0\.0\.1:\d+; to move it, remove it and add it again/);

    // A learner's own certificate may not change the cluster.
    const self = await cluster.cli(['cluster', 'promote', '--id', 'node3', '--home', standby.home, '--endpoints', addressOf('node0')]);
    expect(self.code).toBe(1);
    expect(self.stderr).toMatch(
      /refuses Admin\.Promote: it accepts only the admin client certificate or a voter's node certificate; the caller presented the node certificate of node3, a learner; use the admin client certificate \(--admin DIR\) or the home of a voter \(--home\)/,
    );

    const promote = await cluster.cli(['cluster', 'promote', '--id', 'node3', ...admin(), '--endpoints', addressOf('node1')]);
    expect(promote.stderr).toBe('');
    expect(promote.code).toBe(0);
    expect(promote.stdout).toMatch(/node3 is a voter/);
    expect(promote.stdout).toMatch(/voters: node0, node1, node2, node3; learners: none/);
    await waitFor('node3 to know it votes', 10_000, async () => ((await standbyStatus()).role === 'follower' ? true : undefined));
    expect((await status()).majority).toBe(3);
    expect((await signVia(standby.address, 'node3')).kind).toBe('signed');

    // A full voter: it can lead.
    const lead = await cluster.cli(['cluster', 'transfer-leader', '--to', 'node3', '--home', cluster.home('node0')]);
    expect(lead.stderr).toBe('');
    expect(lead.code).toBe(0);
    await waitFor('node3 to lead', 10_000, async () => ((await standbyStatus()).role === 'leader' ? true : undefined));
    expect((await signVia(addressOf('node2'), 'node2')).kind).toBe('signed');

    // Removed while it leads: it steps down, the others elect a leader among themselves.
    const remove = await cluster.cli(['cluster', 'remove', '--id', 'node3', '--home', cluster.home('node2')]);
    expect(remove.stderr).toBe('');
    expect(remove.code).toBe(0);
    expect(remove.stdout).toMatch(/node3 is no longer a member/);
    expect(remove.stdout).toMatch(/voters: node0, node1, node2; learners: none/);
    const leader = await cluster.waitForLeader(['node0', 'node1', 'node2']);
    expect(leader).not.toBe('node3');
    expect((await status()).nodes.map((n) => n.id)).toEqual(['node0', 'node1', 'node2']);
    const after = await signVia(standby.address, 'node3');
    expect(after.kind === 'refused' && after.message).toMatch(/node3 is not a voting member/);
    expect((await signVia(addressOf('node1'), 'node1')).kind).toBe('signed');
    await standby.kill();
  });

  test('without a quorum a change is refused with what to do, after retrying until the timeout', async () => {
    const leader = await cluster.waitForLeader(['node0', 'node1', 'node2']);
    const [a, b] = cluster.ids.filter((id) => id !== leader);
    await Promise.all([cluster.kill(a), cluster.kill(b)]);
    const r = await cluster.cli(['cluster', 'add-learner', '--id', 'node5', '--address', '127.0.0.1:9', '--home', cluster.home(leader), '--timeout', '3000']);
    expect(r.code).toBe(1);
    // Either the change was appended and never committed, or the leader stepped down (check-quorum).
    expect(r.stderr).toMatch(
      /a majority of the voters did not acknowledge it within \d+ ms; it commits when they answer again|knows no leader: an election is running or the cluster has no quorum right now/,
    );
    expect(r.stderr).toMatch(new RegExp(`node ${leader}`));
  });
});
