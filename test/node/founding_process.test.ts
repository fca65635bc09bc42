// Founders with different `peers` lists (the safety issue's item 7): before, each bootstrapped its
// own first entry and the nodes formed a cluster whose members disagreed on who votes (under a
// partition, two leaders could commit in one term). Now the founders compare their founders
// before writing anything, and refuse with a message naming the difference.

import { ProcessCluster, waitFor } from '../../src/harness/process_cluster';

describe('founders that disagree on the founding membership', () => {
  let cluster: ProcessCluster | undefined;
  afterEach(async () => {
    await cluster?.destroy();
    cluster = undefined;
  });

  test('refuse to found, naming the difference, and write no first entry', async () => {
    cluster = await ProcessCluster.create({
      nodes: 3,
      configure: (cfg, id) => {
        if (id !== 'node2') return;
        // node2 believes in a fourth founder.
        const peers = cfg.peers as { id: string; address: string }[];
        cfg.peers = [...peers, { id: 'node3', address: '127.0.0.1:1' }];
      },
    });
    const c = cluster;
    c.startAll();
    // Whichever founder hears the other list first refuses (the others may then wait for it).
    await waitFor('a founder to refuse', 20_000, async () => (c.ids.some((id) => !c.isRunning(id)) ? true : undefined));
    await new Promise((r) => setTimeout(r, 2000));
    const refused = c.ids.filter((id) => !c.isRunning(id));
    for (const id of refused) {
      expect(c.log(id)).toMatch(
        /node\d would found another cluster: its config.yaml lists the founders node0, node1, node2(, node3)?, this node's lists node0, node1, node2(, node3)? \((it does not list node3|it lists node3, which this node does not)\)/,
      );
    }
    // Nobody wrote a first entry.
    for (const id of c.ids) {
      expect(c.log(id)).not.toMatch(/bootstrapped a new cluster/);
      if (c.isRunning(id)) expect(c.log(id)).toMatch(/waiting for founder/);
    }
  }, 60_000);
});
