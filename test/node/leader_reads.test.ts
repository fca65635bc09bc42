// Reads that feed an export or a migration (leader_reads.ts, SignCoordinator.readBarrier) over three
// RaftNode drivers in this process, with LevelDB stores and an in-memory network that can drop
// messages, so that the case a read barrier exists for is made exactly: a leader commits and
// releases a signature, then crashes before any follower has heard that the entry committed. A
// follower's applied record (what `state export` used to read, from the member that had applied
// the most) lacks that signature; the new leader's record after a read barrier has it.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../src/log/logger';
import { AdminError } from '../../src/transport/admin_errors';
import { chainStateAtLeader, LeaderReadContext } from '../../src/node/leader_reads';
import { RaftNode } from '../../src/node/raft_node';
import { Message, NodeId, Role } from '../../src/raft/types';
import { RaftStorage } from '../../src/storage/raft_storage';
import { KeyRing } from '../../src/signer/key_ring';
import { LeaderForwarder, SignCoordinator } from '../../src/node/sign_coordinator';
import type { LeaderAnswer } from '../../src/replica/leader_answer';
import { SignerStateMachine } from '../../src/signer/signer_state_machine';
import { waitUntil } from '../transport/cluster_fixture';
import { voteRequest } from '../support/sign_requests';
import { CHAIN_A, KEY_A, expectSignedAndValid, signatureOf } from '../signer/signer_test_support';
import { InMemoryFounding } from '../support/in_memory_founding';

const timing = { heartbeatMs: 20, electionTimeoutMs: 200, snapshotEntries: 100_000, maxAppendEntries: 64, maxInflightAppends: 16 };
const ids: NodeId[] = ['n1', 'n2', 'n3'];
const pkA = KEY_A.publicKey;

const noForwarding: LeaderForwarder = {
  forward: (): Promise<LeaderAnswer> => Promise.reject(new Error('these tests sign on the leader only')),
};

interface Member {
  id: NodeId;
  node: RaftNode;
  storage: RaftStorage;
  machine: SignerStateMachine;
  coordinator: SignCoordinator;
}

describe('reads for export and migration: the leader, after a read barrier', () => {
  let root: string;
  const members = new Map<NodeId, Member>();
  /** Messages for which this returns true are lost. */
  let drop: (m: Message) => boolean = () => false;
  const crashed = new Set<NodeId>();

  const context = (m: Member): LeaderReadContext => ({ node: m.node, machine: m.machine, coordinator: m.coordinator, addressOf: (id) => `${id}.test:1` });
  const leader = (): Member | undefined => [...members.values()].find((m) => !crashed.has(m.id) && m.node.status().role === Role.Leader);

  beforeEach(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'leader-reads-'));
    drop = () => false;
    crashed.clear();
    members.clear();
    const founding = new InMemoryFounding(ids);
    // Founders start together: each one's first entry names every founder's store.
    await Promise.all(ids.map(async (id) => {
      const storage = await RaftStorage.open(path.join(root, id), { nodeId: id, clusterId: 'leader-reads' });
      const keys = new KeyRing([[CHAIN_A, KEY_A]]);
      const machine = await SignerStateMachine.load(storage.load().stateMachine, keys, silentLogger());
      const node = await RaftNode.create({
        id,
        found: () => founding.found(id, storage.storeId),
        join: false,
        storage,
        sender: {
          send: (messages: Message[]) => {
            for (const m of messages) {
              if (crashed.has(m.from) || crashed.has(m.to) || drop(m)) continue;
              setImmediate(() => {
                if (!crashed.has(m.to)) members.get(m.to)?.node.receive(m);
              });
            }
          },
        },
        machine,
        machineApplied: machine.applied,
        timing,
        logger: silentLogger(),
      });
      const coordinator = new SignCoordinator({ node, machine, keys, forwarder: noForwarding, deadlineMs: 2000, logger: silentLogger() });
      members.set(id, { id, node, storage, machine, coordinator });
    }));
    for (const m of members.values()) m.node.start();
    await waitUntil(() => leader() !== undefined, 'a leader is elected');
  });

  afterEach(async () => {
    for (const m of members.values()) await m.node.stop();
    for (const m of members.values()) await m.storage.close().catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  });

  test('right after a leader crash, a follower lacks the last released signature; the new leader after a read barrier has it', async () => {
    const first = leader()!;
    const base = voteRequest(CHAIN_A, pkA, { height: 10, type: 'precommit', block: 'A' });
    expectSignedAndValid(await first.coordinator.sign(base), base);
    await waitUntil(() => [...members.values()].every((m) => m.machine.recordOf(CHAIN_A, pkA)?.record.height === 10n), 'every node applied height 10');

    // From now on no follower hears from the leader that anything at or past the next entry committed.
    const next = first.node.raft.log.lastIndex() + 1;
    drop = (m) => m.from === first.id && m.commit >= next;
    const last = voteRequest(CHAIN_A, pkA, { height: 11, type: 'precommit', block: 'Z' });
    const released = signatureOf(await first.coordinator.sign(last));
    crashed.add(first.id);
    await first.node.stop();

    const followers = [...members.values()].filter((m) => m !== first);
    // What a read of the freshest follower returns: the signature released for height 11 is missing.
    for (const f of followers) {
      expect(f.machine.recordOf(CHAIN_A, pkA)?.record.height).toBe(10n);
      expect(f.node.raft.log.lastIndex()).toBeGreaterThanOrEqual(next);
    }
    // A follower does not answer a barrier read: it names the leader (none yet).
    await expect(chainStateAtLeader(context(followers[0]), CHAIN_A, 1000)).rejects.toMatchObject({ code: expect.stringMatching(/^(no-leader|not-leader)$/) as unknown as string });

    await waitUntil(() => leader() !== undefined, 'a new leader is elected');
    const now = leader()!;
    const state = await chainStateAtLeader(context(now), CHAIN_A, 2000);
    expect(state?.height).toBe(11n);
    expect(state?.step).toBe(3);
    expect(Buffer.from(state?.signature ?? [])).toEqual(Buffer.from(released));
    expect(Buffer.from(state?.signBytes ?? [])).toEqual(Buffer.from(last.signBytes));
    expect(state?.readIndex).toBeGreaterThan(next);
    expect(state?.appliedIndex).toBeGreaterThanOrEqual(state?.readIndex ?? Infinity);

    // The other follower names the new leader and its address.
    const other = followers.find((f) => f !== now)!;
    await waitUntil(() => other.node.status().leader === now.id, 'the other follower follows the new leader');
    const refusal = await chainStateAtLeader(context(other), CHAIN_A, 1000).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(AdminError);
    expect(refusal).toMatchObject({ code: 'not-leader', leader: { id: now.id, address: `${now.id}.test:1` } });
  });

  test('the read waits for the barrier to commit: a leader cut off from the others answers nothing from its own record', async () => {
    const l = leader()!;
    const base = voteRequest(CHAIN_A, pkA, { height: 20, type: 'prevote', block: 'A' });
    expectSignedAndValid(await l.coordinator.sign(base), base);
    drop = (m) => m.from === l.id || m.to === l.id;
    const started = Date.now();
    const refusal = await chainStateAtLeader(context(l), CHAIN_A, 120).catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(refusal).toBeInstanceOf(AdminError);
    expect((refusal as AdminError).code).toMatch(/^(no-quorum|lost)$/);
    expect((refusal as AdminError).message).toMatch(/read barrier/);
  });

  test('with a quorum, the read answers the record with its stored signature and the barrier index', async () => {
    const l = leader()!;
    const req = voteRequest(CHAIN_A, pkA, { height: 30, type: 'prevote', block: 'B' });
    const sig = signatureOf(await l.coordinator.sign(req));
    const state = await chainStateAtLeader(context(l), CHAIN_A, 2000);
    expect(state).toMatchObject({ height: 30n, round: 0, step: 2 });
    expect(Buffer.from(state!.signature)).toEqual(Buffer.from(sig));
    expect(state!.readIndex).toBe(l.node.raft.log.lastIndex());
    expect(await chainStateAtLeader(context(l), 'unknown-chain', 2000)).toBeNull();
  });
});
