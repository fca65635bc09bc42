// The founding ceremony (src/node/founding.ts) as a pure function over fake peers.

import { encodeFounding, foundingDigest, FoundingInfo, FoundingRefusedError, gatherFounding } from '../../src/node/founding';
import { foundingMismatch } from '../../src/transport/founding_rpc';

const REJOIN = { nodeId: 'n0', home: '/h/n0', address: 'h0:1', endpoints: ['h1:1', 'h2:1'] };
const PEERS = [
  { id: 'n1', address: 'h1:1' },
  { id: 'n2', address: 'h2:1' },
];
const S0 = '0'.repeat(32);
const S1 = '1'.repeat(32);
const S2 = '2'.repeat(32);

function gather(answers: Record<string, () => FoundingInfo>, rounds = 10) {
  let round = 0;
  const waited: string[] = [];
  return {
    waited,
    result: gatherFounding({
      selfId: 'n0',
      storeId: S0,
      peers: PEERS,
      ask: async (peer) => answers[peer.id](),
      waiting: (peer) => waited.push(peer.id),
      sleep: async () => {
        round++;
      },
      stopped: () => round >= rounds,
      rejoin: REJOIN,
    }),
  };
}

const info = (nodeId: string, storeId: string, founders = ['n0', 'n1', 'n2'], founded: string | null = null, storeSeen = false): FoundingInfo => ({
  nodeId,
  storeId,
  founders,
  founded,
  storeSeen,
});

describe('gatherFounding', () => {
  test('names every founder with its store once all have answered, waiting for the late one', async () => {
    let n2Up = false;
    const g = gather({
      n1: () => info('n1', S1),
      n2: () => {
        if (!n2Up) {
          n2Up = true;
          throw new Error('connection refused');
        }
        return info('n2', S2);
      },
    });
    await expect(g.result).resolves.toEqual({ voters: ['n0', 'n1', 'n2'], incarnations: { n0: S0, n1: S1, n2: S2 } });
    expect(g.waited).toEqual(['n2']);
  });

  test('refuses a founder whose peers list differs, naming the difference', async () => {
    const g = gather({ n1: () => info('n1', S1, ['n0', 'n1', 'n3']), n2: () => info('n2', S2) });
    await expect(g.result).rejects.toThrow(FoundingRefusedError);
    await expect(gather({ n1: () => info('n1', S1, ['n0', 'n1', 'n3']), n2: () => info('n2', S2) }).result).rejects.toThrow(
      /n1 would found another cluster: .*it does not list n2; it lists n3, which this node does not/,
    );
  });

  test('adopts a founding already written by another founder when it names this very store', async () => {
    const founded = encodeFounding({ voters: ['n0', 'n1', 'n2'], incarnations: { n0: S0, n1: S1, n2: S2 } });
    const g = gather({ n1: () => info('n1', S1, undefined, founded), n2: () => info('n2', S2) });
    await expect(g.result).resolves.toEqual({ voters: ['n0', 'n1', 'n2'], incarnations: { n0: S0, n1: S1, n2: S2 } });
  });

  test('refuses, with the rejoin commands, when the cluster was founded with another store of this node', async () => {
    const founded = encodeFounding({ voters: ['n0', 'n1', 'n2'], incarnations: { n0: 'f'.repeat(32), n1: S1, n2: S2 } });
    const g = gather({ n1: () => info('n1', S1, undefined, founded), n2: () => info('n2', S2) });
    await expect(g.result).rejects.toThrow(/already founded .* with another store of n0 .*cluster remove --id n0 --home \/h\/n0/);
  });

  test('refuses to adopt a founding that names this store when a founder has heard from this store before (a home put back from before its first entry)', async () => {
    const founded = encodeFounding({ voters: ['n0', 'n1', 'n2'], incarnations: { n0: S0, n1: S1, n2: S2 } });
    const g = gather({ n1: () => info('n1', S1, undefined, founded, true), n2: () => info('n2', S2) });
    await expect(g.result).rejects.toThrow(/has heard from this very store .* before, yet it holds nothing.*cluster remove --id n0/);
  });

  test('gives up when stopped before everyone answered, founding nothing', async () => {
    const g = gather({ n1: () => info('n1', S1), n2: () => { throw new Error('unreachable'); } }, 3);
    await expect(g.result).rejects.toThrow(/nothing was founded/);
  });

  test('refuses an answer from a node that is not the one asked', async () => {
    await expect(gather({ n1: () => info('n2', S2), n2: () => info('n2', S2) }).result).rejects.toThrow(/says it is n2, not n1/);
  });
});

describe('the founding digest on Raft streams', () => {
  const a = foundingDigest({ voters: ['n0', 'n1', 'n2'], incarnations: { n0: S0, n1: S1, n2: S2 } });
  const b = foundingDigest({ voters: ['n0', 'n1', 'n3'], incarnations: { n0: S0, n1: S1, n3: S2 } });
  test('differs for different founders or stores and is refused then', () => {
    expect(a).not.toBe(b);
    expect(foundingDigest({ voters: ['n2', 'n1', 'n0'], incarnations: { n0: S0, n1: S1, n2: S2 } })).toBe(a);
    expect(foundingMismatch(a, b)).toMatch(/founded with another first membership/);
    expect(foundingMismatch(a, a)).toBeNull();
    // A learner's store never founded: it is named by add-learner instead.
    expect(foundingMismatch(a, null)).toBeNull();
    expect(foundingMismatch(null, b)).toBeNull();
  });
});
