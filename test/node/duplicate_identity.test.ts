// A second process holding the leader's certificate and key (a copied home, a reused tls/) keeps
// opening Raft streams to the followers as the leader. Three real drivers over real storage and
// mutual-TLS transports on localhost: the followers refuse the impostor's streams ("duplicate
// identity") while the real leader's are live, so the healthy cluster keeps its leader and term
// and goes on committing. (Before, each new stream superseded the real one and the followers,
// cut off from their leader, elected another.)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { RaftNode } from '../../src/node/raft_node';
import type { StateMachine } from '../../src/raft/state_machine';
import { Entry, MessageType, Role } from '../../src/raft/types';
import { RaftStorage, StateMachineOp } from '../../src/storage/raft_storage';
import { clusterChannelCredentials, type TlsPem } from '../../src/transport/grpc_server';
import { RAFT_STREAM_PATH } from '../../src/transport/proto_loader';
import { encodeRaftMessage } from '../../src/transport/raft_message_codec';
import { ClusterFixture, TestNode, sleep, waitUntil } from '../transport/cluster_fixture';
import { InMemoryFounding } from '../support/in_memory_founding';

class NullMachine implements StateMachine {
  apply(_entries: Entry[]): StateMachineOp[] {
    return [];
  }
  restore(): StateMachineOp[] {
    return [];
  }
  snapshot(): Uint8Array {
    return new Uint8Array(0);
  }
}

const timing = { heartbeatMs: 20, electionTimeoutMs: 200, snapshotEntries: 1000, maxAppendEntries: 64, maxInflightAppends: 16 };
const ids = ['node0', 'node1', 'node2'];

/**
 * Keeps a Raft stream open from `tls`'s holder to `address`, as the node `as`, reopening it at
 * once whenever it ends, and writing a message on it every few milliseconds. Returns a stop
 * function and what happened to the attempts.
 */
function impostor(address: string, target: string, tls: TlsPem, as: string): { stop: () => void; outcomes: string[] } {
  const outcomes: string[] = [];
  let stopped = false;
  let current: { client: grpc.Client; call: grpc.ClientWritableStream<Buffer>; timer: NodeJS.Timeout } | null = null;
  const open = (): void => {
    if (stopped) return;
    const client = new grpc.Client(address, clusterChannelCredentials(tls, target), {
      'grpc.use_local_subchannel_pool': 1,
      'grpc.ssl_target_name_override': target,
    });
    const call = client.makeClientStreamRequest<Buffer, Buffer>(RAFT_STREAM_PATH, (b) => b, (b) => b, (err) => {
      outcomes.push(err ? `${grpc.status[err.code]}: ${err.details}` : 'ended');
      clearInterval(timer);
      client.close();
      setTimeout(open, 5);
    });
    call.on('error', () => undefined);
    call.on('metadata', () => outcomes.push('accepted'));
    const message = { type: MessageType.HeartbeatResponse, from: as, to: target, term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0 };
    const timer = setInterval(() => call.write(encodeRaftMessage(message)), 5);
    current = { client, call, timer };
  };
  open();
  return {
    stop: () => {
      stopped = true;
      if (current) {
        clearInterval(current.timer);
        current.call.cancel();
        current.client.close();
      }
    },
    outcomes,
  };
}

describe('a second process with the leader identity', () => {
  let fx: ClusterFixture;
  let root: string;
  const nodes = new Map<string, { net: TestNode; node: RaftNode; storage: RaftStorage }>();

  beforeAll(async () => {
    fx = await ClusterFixture.create();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-dup-'));
  });

  afterAll(async () => {
    for (const m of nodes.values()) await m.node.stop();
    await fx.closeAll();
    for (const m of nodes.values()) await m.storage.close().catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  });

  test('does not cost the healthy cluster its leader', async () => {
    const nets = await Promise.all(ids.map((id) => fx.startNode(id)));
    const founding = new InMemoryFounding(ids);
    // Founders start together: each one's first entry names every founder's store.
    await Promise.all(nets.map(async (net) => {
      const storage = await RaftStorage.open(path.join(root, net.id), { nodeId: net.id, clusterId: 'dup-cluster' });
      let node: RaftNode | undefined;
      const transport = fx.attachTransport(
        net,
        nets.filter((o) => o !== net).map((o) => ({ id: o.id, address: o.address })),
        {
          onMessage: (m) => node?.receive(m),
          onPeerUnreachable: (p) => node?.reportUnreachable(p),
          liveStreamWindowMs: timing.electionTimeoutMs,
          // The transport's own reconnect backoff, as a node runs it.
          reconnectBackoff: { initialMs: 100, maxMs: 5000 },
        },
      );
      node = await RaftNode.create({ id: net.id, found: () => founding.found(net.id, storage.storeId), join: false, storage, sender: transport, machine: new NullMachine(), machineApplied: 0, timing, logger: net.log.logger });
      nodes.set(net.id, { net, node, storage });
    }));
    for (const m of nodes.values()) m.node.start();
    const leaderOf = (): string | undefined => [...nodes.values()].find((m) => m.node.raft.role === Role.Leader)?.node.id;
    await waitUntil(() => leaderOf() !== undefined, 'a leader is elected');
    await sleep(300); // settled: both followers hear it
    const leaderId = leaderOf() as string;
    const term = nodes.get(leaderId)!.node.status().term;
    const followers = ids.filter((id) => id !== leaderId);

    const leaderTls = nodes.get(leaderId)!.net.tls;
    const impostors = followers.map((f) => impostor(nodes.get(f)!.net.address, f, leaderTls, leaderId));
    try {
      // Ten election timeouts of it, while the leader keeps committing; every node's view of the
      // leader and term is sampled all along.
      const until = Date.now() + 10 * timing.electionTimeoutMs;
      const views = new Set<string>();
      let committed = 0;
      while (Date.now() < until) {
        for (const m of nodes.values()) views.add(`${m.node.status().leader}@${m.node.status().term}`);
        try {
          const { index } = await nodes.get(leaderId)!.node.propose(Buffer.from(`x${committed}`));
          const applied = await Promise.race([nodes.get(leaderId)!.node.waitApplied(index).then(() => true), sleep(500).then(() => false)]);
          if (applied) committed++;
        } catch {
          // not the leader any more: the views say so
        }
        await sleep(20);
      }
      expect([...views]).toEqual([`${leaderId}@${term}`]);
      expect(committed).toBeGreaterThan(10);
    } finally {
      for (const i of impostors) i.stop();
    }
    for (const m of nodes.values()) {
      expect({ node: m.node.id, leader: m.node.status().leader, term: m.node.status().term }).toEqual({ node: m.node.id, leader: leaderId, term });
    }
    for (const [i, f] of followers.entries()) {
      expect(impostors[i].outcomes.length).toBeGreaterThan(0);
      expect(impostors[i].outcomes.every((o) => /^ALREADY_EXISTS: duplicate identity /.test(o))).toBe(true);
      const lines = nodes.get(f)!.net.log.lines;
      expect(lines.some((l) => new RegExp(`^duplicate identity ${leaderId} from \\S+; already connected from \\S+$`).test(String(l.message)))).toBe(true);
      expect(lines.some((l) => /not a cluster member/.test(JSON.stringify(l)))).toBe(false);
    }
  }, 60_000);
});
