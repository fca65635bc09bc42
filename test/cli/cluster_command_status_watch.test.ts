// `raft-signer status --watch`: frames redrawn in place on a terminal, successive tables in a pipe,
// a failed round shown and the watch going on, and the built CLI stopping cleanly on Ctrl-C.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestnet } from '../../src/testnet/testnet';
import { CLEAR_SCREEN, formatWatchFrame, watchClusterStatus } from '../../src/cli/status_command';
import { ClusterStatus } from '../../src/node/cluster_status_query';
import { CLI_ENTRY } from '../../src/harness/process_cluster';

const STATUS: ClusterStatus = {
  leader: 'node1',
  chains: [{ chainId: 'c1', pubKey: 'ab'.repeat(32), height: '42', round: 0, step: 3 }],
  nodes: [
    { id: 'node0', role: 'follower', term: 3, commitIndex: 10, appliedIndex: 10 },
    { id: 'node1', role: 'leader', term: 3, commitIndex: 10, appliedIndex: 10 },
    { id: 'node2', role: 'unreachable', term: null, commitIndex: null, appliedIndex: null, error: 'No connection established' },
  ],
  reachable: 2,
  voters: 3,
  majority: 2,
  learners: [],
};

describe('watchClusterStatus', () => {
  test('on a terminal each frame clears the screen and shows the leader, the nodes and the chains', async () => {
    const stop = new AbortController();
    const frames: string[] = [];
    await watchClusterStatus({
      query: async () => STATUS,
      write: (t) => {
        frames.push(t);
        if (frames.length === 2) stop.abort();
      },
      intervalMs: 10,
      tty: true,
      signal: stop.signal,
      now: () => new Date('2024-05-01T12:00:00.123Z'),
    });
    expect(frames).toHaveLength(2);
    expect(frames[0].startsWith(CLEAR_SCREEN)).toBe(true);
    expect(frames[0]).toMatch(/^.*raft-signer status at 2024-05-01 12:00:00Z \(every 10 ms; Ctrl-C to stop\)/);
    expect(frames[0]).toMatch(/node1 +leader +3 +10 +10/);
    expect(frames[0]).toMatch(/leader: node1; 2 of 3 nodes answered \(a majority is 2\)/);
    expect(frames[0]).toMatch(/chain c1 key abababababababab…: last signed height 42 round 0 step 3/);
    expect(frames[0]).toMatch(/node2: No connection established/);
  });

  test('in a pipe frames follow each other without escape codes; a failed round is shown and the watch goes on', async () => {
    const stop = new AbortController();
    const frames: string[] = [];
    let round = 0;
    await watchClusterStatus({
      query: async () => {
        round += 1;
        if (round === 1) throw new Error('cannot read /x/config.yaml');
        return STATUS;
      },
      write: (t) => {
        frames.push(t);
        if (frames.length === 2) stop.abort();
      },
      intervalMs: 10,
      tty: false,
      signal: stop.signal,
    });
    expect(frames.join('')).not.toContain('\x1b');
    expect(frames[0]).toMatch(/^--- \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\ncannot ask the cluster: cannot read \/x\/config.yaml\n/);
    expect(frames[1]).toMatch(/leader: node1/);
  });

  test('an abort during the wait ends the watch at once', async () => {
    const stop = new AbortController();
    const started = Date.now();
    setTimeout(() => stop.abort(), 50);
    await watchClusterStatus({ query: async () => STATUS, write: () => undefined, intervalMs: 60_000, tty: false, signal: stop.signal });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test('formatWatchFrame', () => {
    expect(formatWatchFrame('body\n', new Date('2024-01-02T03:04:05Z'), 500, false)).toBe('--- 2024-01-02 03:04:05Z\nbody\n\n');
  });
});

describe('raft-signer status --watch (built CLI)', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-signer-watch-'));
  });
  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('prints successive tables when stdout is not a terminal and exits 0 on SIGINT', async () => {
    // No node runs: every row is "unreachable", which is still a table to watch.
    const net = await createTestnet({ nodes: 3, outDir: path.join(tmp, 'net'), chainId: 'c', validatorAddrTemplate: `unix://${tmp}/v{i}.sock`, warn: () => undefined });
    const child = spawn(process.execPath, [CLI_ENTRY, 'status', '--watch', '--interval', '200', '--home', net.nodes[0].home], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (c: string) => {
      out += c;
      if ((out.match(/^--- /gm) ?? []).length >= 2) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
    expect((out.match(/^--- /gm) ?? []).length).toBeGreaterThanOrEqual(2);
    expect(out).toMatch(/node0 +unreachable/);
    expect(out).toMatch(/leader: none; 0 of 3 nodes answered \(a majority is 2\)/);
    expect(out).not.toContain('\x1b');
  });

  test('--interval below the minimum and --watch with --json are refused', async () => {
    const net = path.join(tmp, 'net', 'node0');
    const run = (args: string[]): Promise<{ code: number | null; stderr: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [CLI_ENTRY, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.setEncoding('utf8');
        child.stderr.on('data', (c: string) => (stderr += c));
        child.once('exit', (code) => resolve({ code, stderr }));
      });
    const fast = await run(['status', '--watch', '--interval', '5', '--home', net]);
    expect(fast.code).toBe(2);
    expect(fast.stderr).toMatch(/at least 100/);
    const json = await run(['status', '--watch', '--json', '--home', net]);
    expect(json.code).toBe(1);
    expect(json.stderr).toMatch(/--watch draws a table/);
  });
});
