// A voter whose whole home is rolled back to an older image (config, data and its own high-water
// record from the same moment: a VM snapshot) cannot tell by itself, but a peer that saw its later
// terms can: the peer refuses its Raft stream and the rolled-back node stops and says to rejoin
// as a learner (the safety issue's item 2). Before, it started and voted as if nothing happened.

import fs from 'node:fs';
import path from 'node:path';
import { ProcessCluster, waitFor } from '../../src/harness/process_cluster';

async function leaderOf(c: ProcessCluster, among: string[]): Promise<string> {
  return waitFor(`a leader among ${among.join(', ')}`, 20_000, async () => {
    for (const id of among) {
      const s = await c.nodeStatus(id, 500).catch(() => null);
      if (s?.role === 'leader') return id;
    }
    return undefined;
  });
}

describe('a whole home rolled back', () => {
  let cluster: ProcessCluster | undefined;
  afterEach(async () => {
    await cluster?.destroy();
    cluster = undefined;
  });

  test('is refused by a peer that saw its later terms, and the node stops with the rejoin procedure', async () => {
    cluster = await ProcessCluster.create({ nodes: 3 });
    const c = cluster;
    c.startAll();
    const first = await leaderOf(c, c.ids);
    const b = c.ids.find((id) => id !== first) as string;
    // The image: b's whole home, taken with b stopped.
    expect(await c.stop(b)).toBe(0);
    const image = path.join(c.root, `image-${b}`);
    fs.cpSync(c.home(b), image, { recursive: true });
    const imageTerm = (await c.nodeStatus(first, 1000)).term;
    c.start(b);
    // Terms move on while b takes part: two leader failovers.
    for (let i = 0; i < 2; i++) {
      const leader = await leaderOf(c, c.ids);
      const others = c.ids.filter((id) => id !== leader);
      await c.kill(leader);
      await leaderOf(c, others);
      c.start(leader);
    }
    const later = await waitFor(`${b} to reach a later term`, 20_000, async () => {
      const s = await c.nodeStatus(b, 500).catch(() => null);
      return s && s.term > imageTerm + 1 && s.leader ? s.term : undefined;
    });
    expect(later).toBeGreaterThan(imageTerm);
    await new Promise((r) => setTimeout(r, 1200)); // the peers' marks are flushed every 0.5 s
    // The host is restored from the image: the whole home goes back.
    await c.kill(b);
    fs.rmSync(c.home(b), { recursive: true, force: true });
    fs.cpSync(image, c.home(b), { recursive: true });
    c.start(b);
    await waitFor(`${b} to stop`, 20_000, async () => (c.isRunning(b) ? undefined : true));
    expect(c.log(b)).toMatch(/behind its own past/);
    // A refusal, in one line: not a bug report.
    expect(c.log(b)).toMatch(/^error: the node stopped: node\d refused this node: /m);
    expect(c.log(b)).not.toMatch(/unexpected, please report/);
    expect(c.log(b)).toContain(`cluster remove --id ${b} --home ${c.home(b)}`);
    // The others go on.
    await leaderOf(c, c.ids.filter((id) => id !== b));
  }, 90_000);
});
