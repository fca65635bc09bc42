// The driver with everything real except processes: LevelDB stores in temp dirs, gRPC with
// mutual TLS on localhost, real timers. A crash is modelled by stopping a node's driver, transport
// and server without any goodbye, then reopening its store.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RaftNode } from '../../src/node/raft_node';
import type { StateMachine } from '../../src/raft/state_machine';
import { Entry, EntryType, Role } from '../../src/raft/types';
import { RaftStorage, StateMachineOp } from '../../src/storage/raft_storage';
import { ClusterFixture, TestNode, peersOf, waitUntil } from '../transport/cluster_fixture';
import { InMemoryFounding } from '../support/in_memory_founding';

/** Records applied entries under one key, so the state survives restarts through the store. */
class ListMachine implements StateMachine {
  items: string[] = [];
  apply(entries: Entry[]): StateMachineOp[] {
    for (const e of entries) if (e.type === EntryType.Normal && e.data.length > 0) this.items.push(Buffer.from(e.data).toString());
    return [{ type: 'put', key: Buffer.from('items'), value: Buffer.from(JSON.stringify(this.items)) }];
  }
  restore(data: Uint8Array): StateMachineOp[] {
    this.items = JSON.parse(Buffer.from(data).toString()) as string[];
    return [{ type: 'put', key: Buffer.from('items'), value: Buffer.from(data) }];
  }
  snapshot(): Uint8Array {
    return Buffer.from(JSON.stringify(this.items));
  }
}

interface Member {
  net: TestNode;
  node: RaftNode;
  storage: RaftStorage;
  machine: ListMachine;
  dir: string;
}

const timing = { heartbeatMs: 20, electionTimeoutMs: 200, snapshotEntries: 20, maxAppendEntries: 64, maxInflightAppends: 16 };
const ids = ['node0', 'node1', 'node2'];
const founding = new InMemoryFounding(ids);

describe('RaftNode over real storage and transport', () => {
  let fx: ClusterFixture;
  let root: string;
  const members = new Map<string, Member>();

  async function startMember(id: string, port = 0): Promise<Member> {
    const dir = path.join(root, id);
    const net = await fx.startNode(id, { port, tls: members.get(id)?.net.tls });
    const storage = await RaftStorage.open(dir, { nodeId: id, clusterId: 'test-cluster' });
    const machine = new ListMachine();
    const stored = await storage.getStateMachine(Buffer.from('items'));
    if (stored) machine.items = JSON.parse(Buffer.from(stored).toString()) as string[];
    let node: RaftNode | undefined;
    const others = ids.filter((o) => o !== id).map((o) => ({ id: o, address: members.get(o)?.net.address ?? '' }));
    const transport = fx.attachTransport(net, others, { onMessage: (m) => node?.receive(m), onPeerUnreachable: (p) => node?.reportUnreachable(p) });
    node = await RaftNode.create({
      id,
      found: () => founding.found(id, storage.storeId),
      join: false,
      storage,
      sender: transport,
      machine,
      // The machine's record is written in the same batch as each commit index, so it reflects
      // exactly the durable commit index.
      machineApplied: storage.load().hardState.commit,
      timing,
      logger: net.log.logger,
    });
    const m = { net, node, storage, machine, dir };
    members.set(id, m);
    return m;
  }

  async function crash(id: string): Promise<void> {
    const m = members.get(id)!;
    await m.node.stop();
    await fx.stopNode(m.net);
    await m.storage.close();
  }

  function leader(): Member | undefined {
    return [...members.values()].find((m) => !m.node.failure() && m.node.raft.role === Role.Leader && !stoppedIds.has(m.node.id));
  }
  const stoppedIds = new Set<string>();

  beforeAll(async () => {
    fx = await ClusterFixture.create();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-node-'));
  });

  afterAll(async () => {
    for (const m of members.values()) await m.node.stop();
    await fx.closeAll();
    for (const m of members.values()) await m.storage.close().catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  });

  test('three nodes elect a leader, commit proposals everywhere, survive a leader crash and catch the crashed node up', async () => {
    // Bind every server first so each transport knows the others' addresses.
    const nets = await Promise.all(ids.map((id) => fx.startNode(id)));
    for (const n of nets) members.set(n.id, { net: n } as Member);
    for (const n of nets) await fx.stopNode(n);
    // Founders start together: each one's first entry names every founder's store.
    await Promise.all(nets.map((n) => startMember(n.id, n.port)));
    for (const m of members.values()) m.node.start();

    await waitUntil(() => leader() !== undefined, 'a leader is elected');
    const first = leader()!;
    for (let i = 0; i < 30; i++) {
      const { index } = await first.node.propose(Buffer.from(`x${i}`));
      if (i === 29) await first.node.waitApplied(index);
    }
    await waitUntil(() => [...members.values()].every((m) => m.machine.items.length === 30), 'every node applied 30 entries');
    // Compaction happened (snapshotEntries = 20) and the store kept the snapshot.
    expect(first.node.status().snapshotIndex).toBeGreaterThan(0);

    // Crash the leader: the other two elect a new one and keep committing.
    const oldId = first.node.id;
    stoppedIds.add(oldId);
    await crash(oldId);
    await waitUntil(() => leader() !== undefined && leader()!.node.id !== oldId, 'a new leader is elected', 10_000);
    const second = leader()!;
    expect(second.node.status().term).toBeGreaterThan(first.node.status().term);
    for (let i = 30; i < 60; i++) await second.node.propose(Buffer.from(`x${i}`));
    await waitUntil(() => second.machine.items.length === 60, 'the new leader applied 60 entries');

    // Restart the crashed node from its disk: it resumes where the disk says and catches up
    // (by snapshot, since the leader compacted past it).
    stoppedIds.delete(oldId);
    const restarted = await startMember(oldId, first.net.port);
    expect(restarted.machine.items.length).toBe(30);
    restarted.node.start();
    await waitUntil(() => restarted.machine.items.length === 60, 'the restarted node caught up', 10_000);
    expect(restarted.machine.items).toEqual(second.machine.items);
  }, 60_000);
});
