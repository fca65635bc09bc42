// Real `raft-signer start` processes from a `testnet` directory, driven through the CLI the way
// an operator would: elections, SIGKILL and restart, SIGTERM hand-over, a wiped data directory,
// a corrupt store and a node certified by another CA. Runs the built CLI (npm test builds first).

import { ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { createTestnet } from '../../src/testnet/testnet';

const CLI = path.join(__dirname, '../../dist/cli/main.js');

interface StatusJson {
  leader: string | null;
  nodes: { id: string; role: string; term: number | null; commitIndex: number | null; appliedIndex: number | null }[];
}

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a 3-node cluster of real processes', () => {
  let root: string;
  let out: string;
  const procs = new Map<string, ChildProcess>();
  const logs = new Map<string, string>();

  const home = (id: string): string => path.join(out, id);

  function start(id: string, dir = home(id)): ChildProcess {
    const logFile = path.join(root, `${id}-${Date.now()}.log`);
    logs.set(id, logFile);
    const fd = fs.openSync(logFile, 'a');
    const child = spawn(process.execPath, [CLI, 'start', '--home', dir], { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    procs.set(id, child);
    return child;
  }

  function exited(child: ChildProcess): Promise<number | null> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
    return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  async function status(via: string): Promise<StatusJson> {
    const r = await runCli(['status', '--home', home(via), '--json']);
    return JSON.parse(r.stdout) as StatusJson;
  }

  /** The leader as a live node reports it, once every node in `expect` answers with that leader's term. */
  async function stableLeader(via: string, live: string[]): Promise<StatusJson> {
    return waitFor(`a leader seen by ${live.join(', ')}`, async () => {
      const s = await status(via);
      if (!s.leader) return undefined;
      const leaderTerm = s.nodes.find((n) => n.id === s.leader)?.term;
      const ok = live.every((id) => {
        const n = s.nodes.find((x) => x.id === id);
        return n && n.role !== 'unreachable' && n.term === leaderTerm;
      });
      return ok ? s : undefined;
    });
  }

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'raft-cluster-'));
    out = path.join(root, 'net');
    await createTestnet({ nodes: 3, outDir: out, chainId: 'test-chain', validatorAddrTemplate: `unix://${root}/val{i}.sock`, warn: () => undefined });
    // Compact after every few entries so that a wiped node has to rejoin by snapshot.
    for (const id of ['node0', 'node1', 'node2']) {
      const file = path.join(home(id), 'config.yaml');
      const cfg = YAML.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
      cfg.raft = { ...((cfg.raft as object) ?? {}), snapshotEntries: 2 };
      fs.writeFileSync(file, YAML.stringify(cfg));
    }
    for (const id of ['node0', 'node1', 'node2']) start(id);
  });

  afterAll(async () => {
    for (const child of procs.values()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all([...procs.values()].map(exited));
    fs.rmSync(root, { recursive: true, force: true });
  });

  test('elects one leader that every node follows', async () => {
    const s = await stableLeader('node0', ['node0', 'node1', 'node2']);
    expect(s.nodes.filter((n) => n.role === 'leader')).toHaveLength(1);
    expect(s.nodes.map((n) => n.role).sort()).toEqual(['follower', 'follower', 'leader']);
    const table = await runCli(['status', '--home', home('node1')]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`leader: ${s.leader}; 3 of 3 nodes answered`));
  });

  test('SIGKILL of the leader gives a new leader in a higher term; the killed node restarts and catches up', async () => {
    const before = await stableLeader('node0', ['node0', 'node1', 'node2']);
    const victim = before.leader as string;
    const oldTerm = before.nodes.find((n) => n.id === victim)?.term as number;
    procs.get(victim)?.kill('SIGKILL');
    await exited(procs.get(victim) as ChildProcess);
    const live = ['node0', 'node1', 'node2'].filter((id) => id !== victim);
    const after = await stableLeader(live[0], live);
    expect(after.leader).not.toBe(victim);
    expect(after.nodes.find((n) => n.id === after.leader)?.term).toBeGreaterThan(oldTerm);
    expect(after.nodes.find((n) => n.id === victim)?.role).toBe('unreachable');

    start(victim);
    const caughtUp = await waitFor('the restarted node to catch up', async () => {
      const s = await status(victim);
      const leader = s.nodes.find((n) => n.id === s.leader);
      const me = s.nodes.find((n) => n.id === victim);
      return leader && me && me.role === 'follower' && me.commitIndex === leader.commitIndex ? s : undefined;
    });
    expect(caughtUp.leader).toBe(after.leader);
  });

  test('SIGTERM of the leader hands leadership over before the process exits cleanly', async () => {
    const before = await stableLeader('node0', ['node0', 'node1', 'node2']);
    const victim = before.leader as string;
    const child = procs.get(victim) as ChildProcess;
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
    const log = fs.readFileSync(logs.get(victim) as string, 'utf8');
    expect(log).toMatch(/handing leadership over to node\d/);
    expect(log).toMatch(/leadership handed over/);
    const live = ['node0', 'node1', 'node2'].filter((id) => id !== victim);
    const after = await stableLeader(live[0], live);
    expect(after.leader).not.toBe(victim);
    start(victim);
    await stableLeader('node0', ['node0', 'node1', 'node2']);
  });

  test('a node whose data directory was wiped refuses to vote again, and rejoins as a learner by snapshot', async () => {
    const s = await stableLeader('node0', ['node0', 'node1', 'node2']);
    const victim = ['node0', 'node1', 'node2'].find((id) => id !== s.leader) as string;
    const voter = ['node0', 'node1', 'node2'].find((id) => id !== victim) as string;
    const child = procs.get(victim) as ChildProcess;
    child.kill('SIGKILL');
    await exited(child);
    fs.rmSync(path.join(home(victim), 'data'), { recursive: true, force: true });

    // Its votes and acknowledgements are gone: it must not take part as a founding voter again.
    const refused = await runCli(['start', '--home', home(victim)]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: the data directory .* is empty, but node\d is a founding member/);
    expect(refused.stderr).toMatch(/cluster remove --id/);

    // The procedure the message gives: remove, join as a learner, catch up by snapshot, promote.
    const file = path.join(home(victim), 'config.yaml');
    const cfg = YAML.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    const address = (cfg.peers as { id: string; address: string }[]).find((p) => p.id === victim)?.address as string;
    expect((await runCli(['cluster', 'remove', '--home', home(voter), '--id', victim])).code).toBe(0);
    cfg.join = true;
    fs.writeFileSync(file, YAML.stringify(cfg));
    start(victim);
    expect((await runCli(['cluster', 'add-learner', '--home', home(voter), '--id', victim, '--address', address])).code).toBe(0);
    await waitFor('the learner to catch up', async () => {
      const st = await status(voter);
      const leader = st.nodes.find((n) => n.id === st.leader);
      const me = st.nodes.find((n) => n.id === victim);
      return leader && me && me.appliedIndex === leader.commitIndex && me.role === 'learner' ? st : undefined;
    });
    expect(fs.readFileSync(logs.get(victim) as string, 'utf8')).toMatch(/restored a snapshot from the leader/);
    expect((await runCli(['cluster', 'promote', '--home', home(voter), '--id', victim])).code).toBe(0);
    await stableLeader('node0', ['node0', 'node1', 'node2']);
  });

  test('a corrupt store refuses to start with a message that says what to do, and is left as it was', async () => {
    const s = await stableLeader('node0', ['node0', 'node1', 'node2']);
    const victim = ['node0', 'node1', 'node2'].find((id) => id !== s.leader) as string;
    const child = procs.get(victim) as ChildProcess;
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
    const current = path.join(home(victim), 'data', 'CURRENT');
    const good = fs.readFileSync(current);
    fs.writeFileSync(current, 'this is not a manifest name\n');
    const r = await runCli(['start', '--home', home(victim)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: /);
    expect(r.stderr).toMatch(/restore the data directory from a backup, or delete it/);
    expect(fs.readFileSync(current, 'utf8')).toBe('this is not a manifest name\n');
    fs.writeFileSync(current, good);
    start(victim);
    await stableLeader('node0', ['node0', 'node1', 'node2']);
  });

  test('a node certified by another CA cannot join', async () => {
    const s = await stableLeader('node0', ['node0', 'node1', 'node2']);
    const victim = ['node0', 'node1', 'node2'].find((id) => id !== s.leader) as string;
    const child = procs.get(victim) as ChildProcess;
    child.kill('SIGKILL');
    await exited(child);
    // An impostor with the same id and addresses, but certificates of another cluster's CA.
    const other = path.join(root, 'other');
    await createTestnet({ nodes: 3, outDir: other, chainId: 'test-chain', validatorAddrTemplate: `unix://${root}/o{i}.sock`, warn: () => undefined });
    const impostor = path.join(root, 'impostor');
    fs.mkdirSync(impostor);
    fs.cpSync(path.join(home(victim), 'config.yaml'), path.join(impostor, 'config.yaml'));
    fs.cpSync(path.join(other, victim, 'tls'), path.join(impostor, 'tls'), { recursive: true });
    fs.cpSync(path.join(home(victim), 'priv_validator_key.json'), path.join(impostor, 'priv_validator_key.json'));
    fs.chmodSync(path.join(impostor, 'priv_validator_key.json'), 0o600);
    start('impostor', impostor);
    await new Promise((r) => setTimeout(r, 3000));
    const seen = await stableLeader(s.leader as string, ['node0', 'node1', 'node2'].filter((id) => id !== victim));
    expect(seen.nodes.find((n) => n.id === victim)?.role).toBe('unreachable');
    const own = await runCli(['status', '--home', impostor, '--json']);
    expect(own.code).toBe(1);
    const ownStatus = JSON.parse(own.stdout) as StatusJson;
    expect(ownStatus.nodes.filter((n) => n.role !== 'unreachable').map((n) => n.id)).toEqual([victim]);
    expect(ownStatus.nodes.find((n) => n.id === victim)?.role).not.toBe('leader');
    expect(fs.readFileSync(logs.get('impostor') as string, 'utf8')).toMatch(/certificate|self.signed|unable to verify|handshake/i);
  });
});
