// What a Raft stream's opener says about itself before any message flows: the founding digest
// (stores founded in different ceremonies never talk) and its durable term and vote (a peer behind
// what it said before is refused as behind its own past, and told so).

import { FoundingSource } from '../../src/transport/founding_rpc';
import { ClusterFixture, heartbeat, waitUntil } from './cluster_fixture';

let fixture: ClusterFixture;
beforeEach(async () => {
  fixture = await ClusterFixture.create();
});
afterEach(async () => {
  await fixture.closeAll();
});

function founding(digest: string | null): FoundingSource {
  return { info: () => ({ nodeId: 'x', storeId: '', founders: [], founded: null, storeSeen: false }), digest: () => digest };
}

describe('the Raft stream handshake', () => {
  test('a stream from a store founded with another first membership is refused; the same founding talks', async () => {
    const a = await fixture.startNode('node0');
    const b = await fixture.startNode('node1');
    const c = await fixture.startNode('node2');
    fixture.attachTransport(a, [{ id: 'node1', address: b.address }, { id: 'node2', address: c.address }], { founding: founding('a'.repeat(32)) });
    const fromB = fixture.attachTransport(b, [{ id: 'node0', address: a.address }], { founding: founding('b'.repeat(32)) });
    const fromC = fixture.attachTransport(c, [{ id: 'node0', address: a.address }], { founding: founding('a'.repeat(32)) });
    await waitUntil(() => {
      fromB.send([heartbeat('node1', 'node0', 1)]);
      fromC.send([heartbeat('node2', 'node0', 1)]);
      return a.received.some((m) => m.from === 'node2');
    }, 'node2 reaches node0');
    await waitUntil(() => fromB.peerStatus()[0].lastError !== null, "node1's stream is refused");
    expect(fromB.peerStatus()[0].lastError).toMatch(/founded with another first membership/);
    expect(a.received.some((m) => m.from === 'node1')).toBe(false);
    expect(a.log.lines.some((l) => l.message === 'refused a Raft stream: founding membership differs')).toBe(true);
  });

  test('a peer reporting less than it said before is refused, and the refused side is told it is behind its own past', async () => {
    const a = await fixture.startNode('node0');
    const b = await fixture.startNode('node1');
    const seen: { peer: string; mark: string | null }[] = [];
    fixture.attachTransport(a, [{ id: 'node1', address: b.address }], {
      checkPeerMark: (peer, mark) => {
        seen.push({ peer, mark });
        return mark === 'old' ? 'it reports term 3, but it spoke in term 9 before' : null;
      },
    });
    const told: string[] = [];
    const fromB = fixture.attachTransport(b, [{ id: 'node0', address: a.address }], {
      localMark: () => 'old',
      onBehindOwnPast: (_peer, details) => told.push(details),
    });
    fromB.send([heartbeat('node1', 'node0', 1)]);
    await waitUntil(() => told.length > 0, 'node1 is told');
    expect(told[0]).toMatch(/behind|spoke in term 9 before/);
    expect(told[0]).toMatch(/rejoin it as a learner/);
    expect(seen[0]).toEqual({ peer: 'node1', mark: 'old' });
    expect(a.received).toEqual([]);
  });
});
