import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { createClusterCa, issueClientCertificate, issueNodeCertificate } from '../../src/certs/cluster_certs';
import { readCertificateIdentity } from '../../src/certs/certificate_identity';
import { MessageType, type Message } from '../../src/raft/types';
import { revocationList } from '../../src/transport/authorization';
import { clusterChannelCredentials, type TlsPem } from '../../src/transport/grpc_server';
import { RAFT_STREAM_PATH } from '../../src/transport/proto_loader';
import { encodeRaftMessage } from '../../src/transport/raft_message_codec';
import {
  appendMessage,
  ClusterFixture,
  heartbeat,
  peersOf,
  sleep,
  snapshotMessage,
  waitUntil,
  type TestNode,
} from './cluster_fixture';

let fixture: ClusterFixture;

beforeEach(async () => {
  fixture = await ClusterFixture.create();
});

afterEach(async () => {
  await fixture.closeAll();
});
/** Opens a Raft stream by hand with any credentials, as a misbehaving client would. */
function rawStream(
  address: string,
  credentials: grpc.ChannelCredentials,
): { write: (message: Message) => void; result: Promise<grpc.ServiceError | null>; accepted: Promise<void>; close: () => void } {
  const client = new grpc.Client(address, credentials, {
    'grpc.use_local_subchannel_pool': 1,
    'grpc.ssl_target_name_override': 'node0',
  });
  let settle: (err: grpc.ServiceError | null) => void = () => undefined;
  let timer: NodeJS.Timeout | undefined;
  const result = new Promise<grpc.ServiceError | null>((resolve, reject) => {
    settle = (err) => {
      clearTimeout(timer);
      resolve(err);
    };
    // A refusal that never comes must fail the test quickly, not at jest's timeout.
    timer = setTimeout(() => reject(new Error('the server neither refused nor ended the stream within 10 s')), 10_000);
  });
  fixture.cleanups.push(() => clearTimeout(timer));
  const call = client.makeClientStreamRequest<Buffer, Buffer>(
    RAFT_STREAM_PATH,
    (b) => b,
    (b) => b,
    (err) => settle(err),
  );
  call.on('error', () => undefined);
  // The server sends response headers once it has accepted the stream.
  const accepted = new Promise<void>((resolve) => call.on('metadata', () => resolve()));
  fixture.cleanups.push(() => client.close());
  return {
    write: (message) => call.write(encodeRaftMessage(message)),
    result,
    accepted,
    close: () => {
      call.cancel();
      client.close();
    },
  };
}

/** A black hole on localhost: accepts TCP connections and never answers the TLS handshake. Returns its port. */
async function blackHole(fixture: ClusterFixture): Promise<number> {
  const hanging = net.createServer(() => undefined);
  const sockets = new Set<net.Socket>();
  hanging.on('connection', (socket) => sockets.add(socket));
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  fixture.cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        hanging.close(() => resolve());
      }),
  );
  return (hanging.address() as net.AddressInfo).port;
}

function refusals(node: TestNode): Array<Record<string, unknown>> {
  return node.log.lines.filter((line) => line.message === 'refused a Raft stream');
}

describe('RaftTransport', () => {
  test('three nodes exchange messages in every direction, with entries and a snapshot', async () => {
    const nodes = await Promise.all(['node0', 'node1', 'node2'].map((id) => fixture.startNode(id)));
    for (const node of nodes) fixture.attachTransport(node, peersOf(nodes, node));

    const sent: Message[] = [];
    for (const from of nodes) {
      for (const to of nodes) {
        if (from === to) continue;
        const batch = [appendMessage(from.id, to.id, 10), appendMessage(from.id, to.id, 11), heartbeat(from.id, to.id, 11)];
        from.transport?.send(batch);
        sent.push(...batch);
      }
    }
    const snapshot = snapshotMessage('node0', 'node1', 200_000);
    nodes[0].transport?.send([snapshot]);
    sent.push(snapshot);

    await waitUntil(() => nodes.every((n) => n.received.length === sent.filter((m) => m.to === n.id).length), 'all messages arrived');
    for (const node of nodes) {
      for (const from of nodes) {
        // Per sender, messages arrive in the order they were sent, and intact.
        expect(node.received.filter((m) => m.from === from.id)).toEqual(sent.filter((m) => m.to === node.id && m.from === from.id));
      }
    }
    expect(nodes[1].received.find((m) => m.type === MessageType.InstallSnapshot)).toEqual(snapshot);
    await waitUntil(() => nodes[0].snapshotReports.length === 1, 'the snapshot was reported');
    expect(nodes[0].snapshotReports).toEqual([{ peer: 'node1', delivered: true }]);
    for (const node of nodes) {
      const status = node.transport?.peerStatus() ?? [];
      expect(status.map((s) => s.id)).toEqual(nodes.filter((n) => n !== node).map((n) => n.id));
      expect(status.every((s) => s.connected && s.droppedMessages === 0)).toBe(true);
    }
    expect(nodes.every((n) => refusals(n).length === 0)).toBe(true);
  });

  test('a node whose certificate comes from another CA cannot deliver anything', async () => {
    const node0 = await fixture.startNode('node0');
    const node1 = await fixture.startNode('node1');
    fixture.attachTransport(node0, [{ id: 'node1', address: node1.address }, { id: 'node2', address: '127.0.0.1:1' }]);
    fixture.attachTransport(node1, [{ id: 'node0', address: node0.address }]);

    // The impostor trusts the real CA (so it would accept node0's server) but holds a "node2"
    // certificate from its own CA: node0's TLS must refuse the handshake.
    const otherCa = await createClusterCa();
    const forged = await issueNodeCertificate(otherCa, 'node2', ['127.0.0.1']);
    const impostorTls: TlsPem = { ca: fixture.ca.certPem, cert: forged.certPem, key: forged.keyPem };
    // (RaftTransport refuses such material up front, see grpc_server.test.ts; a raw client is used.)
    const stream = rawStream(
      node0.address,
      grpc.credentials.createSsl(Buffer.from(impostorTls.ca), Buffer.from(impostorTls.key), Buffer.from(impostorTls.cert)),
    );
    stream.write(appendMessage('node2', 'node0', 1));
    const err = await stream.result;
    expect(err?.code).toBe(grpc.status.UNAVAILABLE);

    // A legitimate message sent afterwards arrives: node0 was listening all along.
    node1.transport?.send([heartbeat('node1', 'node0', 1)]);
    await waitUntil(() => node0.received.length === 1, 'node1 reached node0');
    expect(node0.received.map((m) => m.from)).toEqual(['node1']);
  });

  test('a peer using a certificate from another CA fails to connect and reports why', async () => {
    const node0 = await fixture.startNode('node0');
    fixture.attachTransport(node0, [{ id: 'node2', address: '127.0.0.1:1' }]);
    // A whole foreign cluster: its node2 trusts its own CA only.
    const otherCa = await createClusterCa();
    const foreign = await fixture.startNode('node2', { tls: await fixture.nodeTls('node2', otherCa) });
    const foreignTransport = fixture.attachTransport(foreign, [{ id: 'node0', address: node0.address }]);
    foreignTransport.send([appendMessage('node2', 'node0', 1)]);
    await waitUntil(() => (foreignTransport.peerStatus()[0].lastError ?? '') !== '', 'the foreign node saw its stream fail');
    await sleep(200);
    foreignTransport.send([appendMessage('node2', 'node0', 2)]);
    await sleep(200);
    expect(foreignTransport.peerStatus()[0].connected).toBe(false);
    expect(foreign.unreachable).toContain('node0');
    expect(node0.received).toEqual([]);
  });

  test('an admin client certificate cannot use the Raft stream, even one named like a member', async () => {
    const node0 = await fixture.startNode('node0');
    fixture.attachTransport(node0, [{ id: 'node1', address: '127.0.0.1:1' }]);
    for (const name of ['admin', 'node1']) {
      const admin = await issueClientCertificate(fixture.ca, name);
      const credentials = clusterChannelCredentials({ ca: fixture.ca.certPem, cert: admin.certPem, key: admin.keyPem }, 'node0', 'client');
      const stream = rawStream(node0.address, credentials);
      stream.write(appendMessage('node1', 'node0', 1));
      const err = await stream.result;
      expect(err?.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(err?.details).toMatch(/client certificate .*not a cluster node certificate/);
    }
    expect(node0.received).toEqual([]);
    expect(refusals(node0).map((line) => line.reason)).toEqual(['not-a-node-certificate', 'not-a-node-certificate']);
  });

  test('a node that is not a member is refused, and a member cannot speak for another', async () => {
    const node0 = await fixture.startNode('node0');
    fixture.attachTransport(node0, [
      { id: 'node1', address: '127.0.0.1:1' },
      { id: 'node2', address: '127.0.0.1:1' },
    ]);

    const outsider = await fixture.nodeTls('node7');
    const outsiderStream = rawStream(node0.address, clusterChannelCredentials(outsider, 'node0'));
    outsiderStream.write(appendMessage('node7', 'node0', 1));
    const outsiderErr = await outsiderStream.result;
    expect(outsiderErr?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(outsiderErr?.details).toMatch(/node7, which is not a cluster member/);

    const node1Tls = await fixture.nodeTls('node1');
    const stream = rawStream(node0.address, clusterChannelCredentials(node1Tls, 'node0'));
    stream.write(appendMessage('node1', 'node0', 1));
    stream.write(appendMessage('node2', 'node0', 2)); // node1 pretending to be node2
    stream.write(appendMessage('node1', 'node0', 3)); // after the refusal: never delivered
    const err = await stream.result;
    expect(err?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err?.details).toMatch(/node1 sent a message claiming to come from node2/);
    expect(node0.received.map((m) => [m.from, m.entries[0].index])).toEqual([['node1', 1]]);
    expect(refusals(node0).map((line) => line.reason)).toEqual(['not-a-member', 'impersonation']);
  });

  test('a second stream with the identity of a connected node does not supersede the live one', async () => {
    const node0 = await fixture.startNode('node0');
    const node1 = await fixture.startNode('node1');
    fixture.attachTransport(node0, [{ id: 'node1', address: node1.address }], { liveStreamWindowMs: 300 });
    fixture.attachTransport(node1, [{ id: 'node0', address: node0.address }]);
    // node1 talks to node0 all the time, as a leader does to its followers.
    let commit = 1;
    const beat = setInterval(() => node1.transport?.send([heartbeat('node1', 'node0', commit++)]), 20);
    fixture.cleanups.push(() => clearInterval(beat));
    await waitUntil(() => node0.received.length > 3, "node1's stream is open and carries messages");

    // Another process with node1's certificate and key.
    const impostor = rawStream(node0.address, clusterChannelCredentials(node1.tls, 'node0'));
    impostor.write(heartbeat('node1', 'node0', 999));
    const err = await impostor.result;
    expect(err?.code).toBe(grpc.status.ALREADY_EXISTS);
    expect(err?.details).toMatch(/^duplicate identity node1 from \S+:\d+; already connected from \S+:\d+: only one process may run with node node1's certificate$/);
    const logged = node0.log.lines.filter((l) => /duplicate identity/.test(String(l.message)));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 'warn', reason: 'duplicate-identity', peer: 'node1' });
    expect(String(logged[0].message)).toMatch(/^duplicate identity node1 from 127\.0\.0\.1:\d+; already connected from 127\.0\.0\.1:\d+$/);
    expect(node0.log.lines.some((l) => /not a cluster member/.test(JSON.stringify(l)))).toBe(false);

    // The real stream was never cut: its messages keep arriving, and only its own.
    const before = node0.received.length;
    await waitUntil(() => node0.received.length > before + 5, 'node1 still reaches node0');
    expect(node0.received.some((m) => m.commit === 999)).toBe(false);
    expect(node1.transport?.peerStatus()[0]).toMatchObject({ connected: true, lastError: null });

    // Once the real node goes silent for longer than the window, it counts as gone: the new
    // stream takes over (a restarted node whose old connection is half-open gets back in).
    clearInterval(beat);
    await sleep(400);
    const successor = rawStream(node0.address, clusterChannelCredentials(node1.tls, 'node0'));
    await successor.accepted;
    successor.write(heartbeat('node1', 'node0', 1000));
    await waitUntil(() => node0.received.some((m) => m.commit === 1000), "the successor's message arrived");
    successor.close();
  });

  test('a stream of a node whose previous stream ended is accepted at once', async () => {
    const node0 = await fixture.startNode('node0');
    const node1 = await fixture.startNode('node1');
    fixture.attachTransport(node0, [{ id: 'node1', address: node1.address }], { liveStreamWindowMs: 60_000 });
    const transport1 = fixture.attachTransport(node1, [{ id: 'node0', address: node0.address }]);
    transport1.send([heartbeat('node1', 'node0', 1)]);
    await waitUntil(() => node0.received.length === 1, "node1's first stream delivered");
    // node1 stops (its process ends): its stream ends with it.
    await fixture.stopNode(node1);
    await sleep(100);
    const restarted = rawStream(node0.address, clusterChannelCredentials(node1.tls, 'node0'));
    await restarted.accepted;
    restarted.write(heartbeat('node1', 'node0', 2));
    await waitUntil(() => node0.received.length === 2, "the restarted node's message arrived");
    restarted.close();
  });

  test('the client refuses a server whose certificate names a different node', async () => {
    const node0 = await fixture.startNode('node0');
    const node1 = await fixture.startNode('node1');
    fixture.attachTransport(node0, [{ id: 'node1', address: node1.address }]);
    // node1 believes node0 lives at node0's address under the name node2.
    fixture.attachTransport(node1, [{ id: 'node2', address: node0.address }]);
    node1.transport?.send([heartbeat('node1', 'node2', 1)]);
    await waitUntil(() => /expected node node2/.test(node1.transport?.peerStatus()[0].lastError ?? ''), 'the mismatch was reported');
    expect(node0.received).toEqual([]);
  });

  test('an outgoing stream refuses a server whose certificate is revoked', async () => {
    const node0 = await fixture.startNode('node0');
    const node1 = await fixture.startNode('node1');
    fixture.attachTransport(node0, [{ id: 'node1', address: node1.address }]);
    const serial = readCertificateIdentity(node0.tls.cert).serialNumber;
    fixture.attachTransport(node1, [{ id: 'node0', address: node0.address }], { revoked: revocationList({ serials: [serial] }) });
    node1.transport?.send([heartbeat('node1', 'node0', 1)]);
    await waitUntil(
      () => /the server certificate of node node0 \(serial [0-9a-f]+\) is revoked/.test(node1.transport?.peerStatus()[0].lastError ?? ''),
      'the revocation was reported',
    );
    expect(node0.received).toEqual([]);
  });

  test('a peer restarted on the same port is reconnected and messages flow again', async () => {
    const node0 = await fixture.startNode('node0');
    let node1 = await fixture.startNode('node1');
    const node1Tls = node1.tls;
    fixture.attachTransport(node0, [{ id: 'node1', address: node1.address }]);
    fixture.attachTransport(node1, [{ id: 'node0', address: node0.address }]);
    node0.transport?.send([appendMessage('node0', 'node1', 1)]);
    await waitUntil(() => node1.received.length === 1, 'the first message arrived');

    const port = node1.port;
    await fixture.stopNode(node1);
    await waitUntil(() => node0.transport?.peerStatus()[0].connected === false, 'node0 noticed node1 is gone');
    await waitUntil(() => node0.unreachable.includes('node1'), 'node1 was reported unreachable');

    node1 = await fixture.startNode('node1', { tls: node1Tls, port });
    fixture.attachTransport(node1, [{ id: 'node0', address: node0.address }]);
    await waitUntil(() => node0.transport?.peerStatus()[0].connected === true, 'node0 reconnected to node1');
    node0.transport?.send([appendMessage('node0', 'node1', 2)]);
    node1.transport?.send([appendMessage('node1', 'node0', 7)]);
    await waitUntil(() => node1.received.some((m) => m.entries[0]?.index === 2), 'a message reached the restarted node');
    await waitUntil(() => node0.received.some((m) => m.entries[0]?.index === 7), 'the restarted node reached node0');
  });

  test('a peer whose port refuses connections is reported down; one that only hangs is just unreachable', async () => {
    const node0 = await fixture.startNode('node0');
    const node1 = await fixture.startNode('node1');
    const hangingPort = await blackHole(fixture);
    fixture.attachTransport(
      node0,
      [
        { id: 'node1', address: node1.address },
        { id: 'node2', address: `127.0.0.1:${hangingPort}` },
      ],
      { connectTimeoutMs: 200 },
    );
    fixture.attachTransport(node1, [{ id: 'node0', address: node0.address }]);
    node0.transport?.send([appendMessage('node0', 'node1', 1)]);
    await waitUntil(() => node1.received.length === 1, 'the first message arrived');
    expect(node0.down).toEqual([]);
    // node1's process is gone: nothing listens on its port any more.
    await fixture.stopNode(node1);
    await waitUntil(() => node0.down.includes('node1'), 'node1 was reported down');
    await waitUntil(() => node0.unreachable.filter((p) => p === 'node2').length >= 2, 'the hanging peer failed twice');
    expect(node0.down).not.toContain('node2');
  });

  test('a dead or hanging peer does not delay messages to a live one', async () => {
    const hangingAddress = `127.0.0.1:${await blackHole(fixture)}`;
    // And a port nobody listens on.
    const closedPort = await new Promise<number>((resolve) => {
      const probe = net.createServer();
      probe.listen(0, '127.0.0.1', () => {
        const port = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(port));
      });
    });

    const node0 = await fixture.startNode('node0');
    const live = await fixture.startNode('node1');
    fixture.attachTransport(
      node0,
      [
        { id: 'node1', address: live.address },
        { id: 'node2', address: hangingAddress },
        { id: 'node3', address: `127.0.0.1:${closedPort}` },
      ],
      { queueLimit: 64, connectTimeoutMs: 300 },
    );
    fixture.attachTransport(live, [{ id: 'node0', address: node0.address }]);

    await waitUntil(() => node0.transport?.peerStatus()[0].connected === true, 'the live peer is connected');
    const rounds = 200;
    for (let i = 1; i <= rounds; i++) {
      node0.transport?.send(['node1', 'node2', 'node3'].map((to) => appendMessage('node0', to, i)));
      // Let the live stream drain now and then; the dead peers' queues only ever grow.
      if (i % 20 === 0) await waitUntil(() => node0.transport?.peerStatus()[0].queuedMessages === 0, 'the live queue drained');
    }
    await waitUntil(() => live.received.length === rounds, 'the live peer got every message');
    expect(live.received.map((m) => m.entries[0].index)).toEqual(Array.from({ length: rounds }, (_, i) => i + 1));

    await waitUntil(() => node0.unreachable.includes('node2') && node0.unreachable.includes('node3'), 'both dead peers were reported');
    await waitUntil(
      () => (node0.transport?.peerStatus() ?? []).filter((s) => s.lastError !== null).length === 2,
      'both dead peers have a recorded failure',
    );
    const status = new Map(node0.transport?.peerStatus().map((s) => [s.id, s]));
    expect(status.get('node1')).toMatchObject({ connected: true, droppedMessages: 0 });
    for (const dead of ['node2', 'node3']) {
      expect(status.get(dead)?.connected).toBe(false);
      expect(status.get(dead)?.lastError).toBeTruthy();
      // The queue stayed bounded: the oldest messages were dropped and counted.
      expect(status.get(dead)?.queuedMessages).toBeLessThanOrEqual(64);
      expect(status.get(dead)?.droppedMessages).toBeGreaterThanOrEqual(rounds - 64);
    }
  });

  test('an oversized message is refused cleanly on either side and later messages still flow', async () => {
    const node0 = await fixture.startNode('node0');
    // node1's server accepts at most 64 KiB per message.
    const node1 = await fixture.startNode('node1', { server: { maxReceiveMessageBytes: 64 * 1024 } });
    fixture.attachTransport(node0, [{ id: 'node1', address: node1.address }], { maxMessageBytes: 256 * 1024 });
    fixture.attachTransport(node1, [{ id: 'node0', address: node0.address }]);

    // Larger than node0's own limit: dropped before it reaches the wire, reported as not sent.
    node0.transport?.send([snapshotMessage('node0', 'node1', 300 * 1024), heartbeat('node0', 'node1', 1)]);
    await waitUntil(() => node1.received.length === 1, 'the heartbeat after the big snapshot arrived');
    expect(node1.received[0].type).toBe(MessageType.Heartbeat);
    expect(node0.snapshotReports).toEqual([{ peer: 'node1', delivered: false }]);
    expect(node0.log.lines.some((l) => l.message === 'dropped a Raft message larger than maxMessageBytes')).toBe(true);

    // Within node0's limit but over node1's: node1's server refuses it and the stream fails;
    // node0 reconnects and later messages arrive.
    node0.transport?.send([snapshotMessage('node0', 'node1', 128 * 1024)]);
    await waitUntil(() => node0.log.lines.some((l) => l.message === 'Raft stream to peer failed' && /RESOURCE_EXHAUSTED/.test(String(l.reason))), 'node0 saw the refusal');
    let commit = 2;
    await waitUntil(() => {
      node0.transport?.send([heartbeat('node0', 'node1', commit++)]);
      return node1.received.length > 1;
    }, 'messages flow again after the refusal');
    expect(node1.received.every((m) => m.type === MessageType.Heartbeat)).toBe(true);
  });

  test('updatePeers adds a peer and cuts the stream of a removed one', async () => {
    const node0 = await fixture.startNode('node0');
    const node1 = await fixture.startNode('node1');
    const node2 = await fixture.startNode('node2');
    fixture.attachTransport(node0, [{ id: 'node1', address: node1.address }]);
    fixture.attachTransport(node1, [{ id: 'node0', address: node0.address }]);
    fixture.attachTransport(node2, [{ id: 'node0', address: node0.address }]);

    node2.transport?.send([heartbeat('node2', 'node0', 1)]);
    await waitUntil(() => refusals(node0).some((l) => l.reason === 'not-a-member'), 'node2 was refused while not a member');

    node0.transport?.updatePeers([
      { id: 'node1', address: node1.address },
      { id: 'node2', address: node2.address },
    ]);
    await waitUntil(() => {
      node2.transport?.send([heartbeat('node2', 'node0', 2)]);
      return node0.received.some((m) => m.from === 'node2');
    }, 'node2 reached node0 once a member');
    node0.transport?.send([heartbeat('node0', 'node2', 5)]);
    await waitUntil(() => node2.received.length === 1, 'node0 reached the new peer');

    node0.transport?.updatePeers([{ id: 'node2', address: node2.address }]);
    expect(node0.transport?.peerStatus().map((s) => s.id)).toEqual(['node2']);
    const before = node0.received.length;
    await waitUntil(() => node1.transport?.peerStatus()[0].connected === false, "node1's stream was cut");
    node1.transport?.send([heartbeat('node1', 'node0', 9)]);
    await sleep(300);
    expect(node0.received.slice(before).some((m) => m.from === 'node1')).toBe(false);
  });

  test('send never throws, whatever it is given', async () => {
    const node0 = await fixture.startNode('node0');
    const transport = fixture.attachTransport(node0, [{ id: 'node1', address: '127.0.0.1:1' }]);
    expect(() =>
      transport.send([
        heartbeat('node1', 'node0', 1), // not from this node
        heartbeat('node0', 'node9', 1), // unknown peer
        { ...heartbeat('node0', 'node1', 1), term: -5 }, // invalid
        snapshotMessage('node0', 'node9', 10),
      ]),
    ).not.toThrow();
    expect(node0.snapshotReports).toEqual([{ peer: 'node9', delivered: false }]);
    transport.close();
    expect(() => transport.send([heartbeat('node0', 'node1', 1)])).not.toThrow();
  });
});
